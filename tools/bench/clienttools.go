package main

import (
	"archive/tar"
	"context"
	"encoding/json"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// The client case (--cases client): shadowreg's own client against oras and
// crane, each run as a process against the same shadowreg, interleaved rep by
// rep. A 1 GiB file (--blob-mib) pushed and pulled (shadowreg vs oras; crane
// moves images only) and a 5-layer image tarball (--layers, --client-image-mib;
// shadowreg vs crane; oras reads no docker-archive). Times are seconds; the
// ratios are shadowreg's time over the other's (below 1: shadowreg is faster).

// Every push goes to a new repository: a registry answers a blob the
// repository already has without an upload, which would time nothing.
type clientOp struct {
	name  string              // row
	bytes int64               // moved per run, for MB/s
	tools map[string][]string // tool → argv; "%N" becomes the rep's number
}

var clientTools = []string{"shadowreg", "oras", "crane"}

func runClientBench(ctx context.Context, o *options) error {
	dir, err := os.MkdirTemp(o.dir, "shadowreg-client-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	l := newLab(o, dir, nil)
	defer l.stopAll()
	t, err := l.get(ctx, "shadowreg")
	if err != nil {
		return err
	}
	host := strings.TrimPrefix(t.URL, "http://")
	bin := filepath.Join(repoRoot(), ".cache", "bin")
	if d := os.Getenv("SHADOWREG_TOOLS"); d != "" {
		bin = d
	}
	tool := map[string]string{"shadowreg": o.shadowregBin, "oras": filepath.Join(bin, "oras"), "crane": filepath.Join(bin, "crane")}
	for k, p := range tool {
		if err := needBinary(p, "tools/install.sh "+k); err != nil {
			return err
		}
	}
	logf("writing the %s file and the image tarball", mib(o.blobMiB<<20))
	file, err := makeBlob(filepath.Join(dir, "big.bin"), o.blobMiB<<20)
	if err != nil {
		return err
	}
	imgTar := filepath.Join(dir, "image.tar")
	imgBytes, err := writeImageTarball(imgTar, o.layers, o.clientImageMiB<<20)
	if err != nil {
		return err
	}
	sr := []string{"--server", t.URL, "-q"}
	ops := []clientOp{
		{"file push", file.Size, map[string][]string{
			"shadowreg": append([]string{"push", file.Path, "bench/file-sr-%N:1"}, sr...),
			"oras":      {"push", "--plain-http", host + "/bench/file-oras-%N:1", "big.bin"},
		}},
		{"file pull", file.Size, map[string][]string{
			"shadowreg": append([]string{"pull", "bench/file-sr-1:1", "--unpack", "out-sr-%N"}, sr...),
			"oras":      {"pull", "--plain-http", "-o", "out-oras-%N", host + "/bench/file-oras-1:1"},
		}},
		{"image push", imgBytes, map[string][]string{
			"shadowreg": append([]string{"push", imgTar, "bench/img-sr-%N:1"}, sr...),
			"crane":     {"push", "--insecure", imgTar, host + "/bench/img-crane-%N:1"},
		}},
		{"image pull", imgBytes, map[string][]string{
			"shadowreg": append([]string{"pull", "bench/img-sr-1:1", "img-sr-%N.tar"}, sr...),
			"crane":     {"pull", "--insecure", host + "/bench/img-crane-1:1", "img-crane-%N.tar"},
		}},
	}
	times := map[string]map[string][]float64{}
	for _, op := range ops {
		times[op.name] = map[string][]float64{}
		for rep := 1; rep <= o.reps; rep++ {
			for _, k := range clientTools {
				argv, ok := op.tools[k]
				if !ok {
					continue
				}
				d, err := timeTool(ctx, dir, tool[k], argv, rep, o.opTimeout)
				if err != nil {
					return fmt.Errorf("%s with %s: %w", op.name, k, err)
				}
				times[op.name][k] = append(times[op.name][k], d.Seconds())
				logf("%-10s %-9s rep %d: %.2fs (%.0f MB/s)", op.name, k, rep, d.Seconds(), mbps(op.bytes, d))
			}
			cleanOutputs(dir)
		}
	}
	printClientTable(os.Stdout, o, ops, times, imgBytes)
	if o.jsonPath != "" {
		b, _ := json.MarshalIndent(times, "", "  ")
		return os.WriteFile(o.jsonPath, b, 0o644)
	}
	return nil
}

// timeTool runs one client process in dir and times it; pulls write their
// output in dir, removed after every rep so the disk does not fill.
func timeTool(ctx context.Context, dir, bin string, argv []string, rep int, limit time.Duration) (time.Duration, error) {
	args := make([]string, len(argv))
	for i, a := range argv {
		args[i] = strings.ReplaceAll(a, "%N", fmt.Sprint(rep))
	}
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HOME="+dir, "DOCKER_CONFIG="+filepath.Join(dir, ".docker"))
	syncDisks()
	start := time.Now()
	out, err := cmd.CombinedOutput()
	d := time.Since(start)
	if err != nil {
		return 0, fmt.Errorf("%s %s: %v\n%s", filepath.Base(bin), strings.Join(args, " "), err, out)
	}
	return d, nil
}

func cleanOutputs(dir string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		n := e.Name()
		if strings.HasPrefix(n, "out-") || strings.HasPrefix(n, "img-") {
			os.RemoveAll(filepath.Join(dir, n))
		}
	}
}

// writeImageTarball writes a docker-archive of an image with n random
// layers of size/n bytes each (gzipped in the archive, as tarball.Write
// stores layers) and returns the archive's size.
func writeImageTarball(path string, n int, size int64) (int64, error) {
	img := empty.Image
	for i := range n {
		var seed [32]byte
		seed[0] = byte(i)
		seed[1] = byte(time.Now().UnixNano())
		l, err := randomLayer(mrand.NewChaCha8(seed), size/int64(n))
		if err != nil {
			return 0, err
		}
		if img, err = mutate.AppendLayers(img, l); err != nil {
			return 0, err
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return 0, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return 0, err
	}
	tag, err := name.NewTag("bench/image:1")
	if err != nil {
		return 0, err
	}
	if err := tarball.WriteToFile(path, tag, img); err != nil {
		return 0, err
	}
	st, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

// randomLayer is one file of random bytes in a tar, held in memory (at
// most --client-image-mib / --layers).
func randomLayer(r io.Reader, size int64) (v1.Layer, error) {
	var buf strings.Builder
	if err := writeTar(&buf, io.LimitReader(r, size), size); err != nil {
		return nil, err
	}
	b := buf.String()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(b)), nil })
}

func printClientTable(w io.Writer, o *options, ops []clientOp, times map[string]map[string][]float64, imgBytes int64) {
	fmt.Fprintf(w, "client case: %s file, %d-layer image tarball of %s; %d reps, median [min–max] seconds\n",
		mib(o.blobMiB<<20), o.layers, mib(imgBytes), o.reps)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "op\tshadowreg\toras\tcrane\tshadowreg/oras\tshadowreg/crane\t")
	for _, op := range ops {
		row := []string{op.name}
		med := map[string]float64{}
		for _, k := range clientTools {
			vs := times[op.name][k]
			if len(vs) == 0 {
				row = append(row, "n/a")
				continue
			}
			s := summarize(vs)
			med[k] = s.Median
			row = append(row, fmt.Sprintf("%.2f [%.2f–%.2f] %.0f MB/s", s.Median, s.Min, s.Max, float64(op.bytes)/1e6/s.Median))
		}
		for _, k := range []string{"oras", "crane"} {
			if m, ok := med[k]; ok {
				row = append(row, fmt.Sprintf("%.2fx", med["shadowreg"]/m))
			} else {
				row = append(row, "—")
			}
		}
		fmt.Fprintln(tw, strings.Join(row, "\t")+"\t")
	}
	tw.Flush()
}

// writeTar writes one regular file of size bytes from r as a tar.
func writeTar(w io.Writer, r io.Reader, size int64) error {
	tw := tar.NewWriter(w)
	if err := tw.WriteHeader(&tar.Header{Name: "data.bin", Mode: 0o644, Size: size, Typeflag: tar.TypeReg}); err != nil {
		return err
	}
	if _, err := io.Copy(tw, r); err != nil {
		return err
	}
	return tw.Close()
}

// syncDisks flushes writeback before a timed run, as runner.go does.
func syncDisks() { syscall.Sync() }
