// Command bench runs shadowreg and the reference registry (distribution v3) side
// by side on this machine and prints throughput next to the machine's own limits.
// It is not a test: it prints numbers. See bench.sh for the usual entry point.
//
//	go run ./tools/bench [flags]
//	go run ./tools/bench --ours reference   # two reference registries, no shadowreg needed
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"
)

type options struct {
	dir, jsonPath, profileDir                   string
	keep, chunked, verify, sync, s3Redirect     bool
	blobMiB, imageMiB, clientImageMiB           int64
	reps, conc, profileSeconds                  int
	layers, pullParallel                        int
	cases, ours                                 string
	shadowregBin, shadowregArgs, shadowregPprof string
	registryBin                                 string
	duration, readyTimeout, opTimeout, pause    time.Duration
	tagTTL                                      time.Duration
	upstreamMBps                                float64
	maxRequests                                 int64
}

func parseFlags(args []string) (*options, error) {
	root := repoRoot()
	o := &options{}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.StringVar(&o.dir, "dir", os.TempDir(), "parent directory for the run (blob, registry data); keep it on the disk you want measured")
	fs.BoolVar(&o.keep, "keep", false, "keep the run directory (data and server logs) at the end")
	fs.Int64Var(&o.blobMiB, "blob-mib", 512, "size of the blob for push and pull (filesystem and S3), MiB")
	fs.IntVar(&o.reps, "reps", 3, "repetitions per case and target, interleaved")
	fs.StringVar(&o.cases, "cases", "all", "comma-separated cases to run: push, pull, manifest, pt-cold, pt-warm, s3-push, s3-pull, or the groups fs (the first three), pt (pull-through), s3, all; or client alone (shadowreg's client vs oras and crane)")
	fs.StringVar(&o.ours, "ours", "shadowreg", `the registry in the "ours" column: shadowreg, or reference (a second reference registry, to develop the bench without shadowreg)`)
	fs.StringVar(&o.shadowregBin, "shadowreg", envOr("SHADOWREG_BIN", filepath.Join(root, ".cache/shadowreg")), "shadowreg binary ($SHADOWREG_BIN)")
	fs.StringVar(&o.shadowregArgs, "shadowreg-args", "", "extra arguments for `shadowreg serve`, space-separated")
	fs.StringVar(&o.shadowregPprof, "shadowreg-pprof", "", "shadowreg's net/http/pprof base URL; default under --profile: a debug-listen address the bench sets in shadowreg's config")
	fs.StringVar(&o.registryBin, "registry", envOr("REGISTRY_BIN", filepath.Join(root, ".cache/bin/registry")), "reference registry binary ($REGISTRY_BIN)")
	fs.BoolVar(&o.chunked, "chunked", true, "push PATCH without Content-Length (chunked, as docker does); false sends Content-Length")
	fs.BoolVar(&o.verify, "verify-digest", false, "hash every pulled blob and compare the digest (costs client CPU)")
	fs.BoolVar(&o.sync, "sync", true, "sync(2) before every timed operation so one target's writeback does not land on the next")
	fs.DurationVar(&o.pause, "pause", 0, "idle time before every timed operation (after the sync), to let the disk settle")
	fs.IntVar(&o.conc, "concurrency", 64, "concurrent clients for the manifest case")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "length of one manifest-case repetition")
	fs.Int64Var(&o.maxRequests, "max-requests", 2_000_000, "cap on requests in one manifest-case repetition")
	fs.Int64Var(&o.imageMiB, "image-mib", 500, "pull-through: size of the image's layers together, MiB")
	fs.Int64Var(&o.clientImageMiB, "client-image-mib", 100, "client case: size of the image tarball's layers together, MiB (the file is --blob-mib)")
	fs.IntVar(&o.layers, "layers", 5, "pull-through: number of layers in the image")
	fs.IntVar(&o.pullParallel, "pull-parallel", 3, "pull-through: blobs pulled at a time (docker's max-concurrent-downloads is 3)")
	fs.DurationVar(&o.tagTTL, "tag-ttl", time.Hour, "pull-through: shadowreg's tag-ttl for the upstream (long: no revalidation during the warm pulls)")
	fs.Float64Var(&o.upstreamMBps, "upstream-mbps", 0, "pull-through: limit the upstream's link to this many MB/s (10^6 bytes), shared by every connection, as a network link would; 0: loopback speed")
	fs.BoolVar(&o.s3Redirect, "s3-redirect", false, "S3: both registries answer blob GETs with a redirect to MinIO (shadowreg redirect: true; reference's default) instead of streaming them")
	fs.StringVar(&o.jsonPath, "json", "", "also write results as JSON to this file")
	fs.StringVar(&o.profileDir, "profile", "", "after each case, record a CPU profile of both registries into this directory (shadowreg through a debug-listen address the bench sets, the reference through http.debug)")
	fs.IntVar(&o.profileSeconds, "profile-seconds", 8, "length of each CPU profile")
	fs.DurationVar(&o.readyTimeout, "ready-timeout", 60*time.Second, "how long a server may take to answer GET /v2/")
	fs.DurationVar(&o.opTimeout, "op-timeout", 5*time.Minute, "upper bound for one timed operation")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	switch {
	case fs.NArg() > 0:
		return nil, fmt.Errorf("unexpected arguments: %v", fs.Args())
	case o.ours != "shadowreg" && o.ours != "reference":
		return nil, fmt.Errorf("--ours must be shadowreg or reference")
	case o.blobMiB < 1 || o.blobMiB > 64<<10:
		return nil, fmt.Errorf("--blob-mib must be 1..65536")
	case o.reps < 1 || o.reps > 100:
		return nil, fmt.Errorf("--reps must be 1..100")
	case o.conc < 1 || o.conc > 4096:
		return nil, fmt.Errorf("--concurrency must be 1..4096")
	case o.duration <= 0 || o.duration > 10*time.Minute:
		return nil, fmt.Errorf("--duration must be in (0, 10m]")
	case o.maxRequests < 1:
		return nil, fmt.Errorf("--max-requests must be >= 1")
	case o.profileSeconds < 1 || o.profileSeconds > 120:
		return nil, fmt.Errorf("--profile-seconds must be 1..120")
	case o.imageMiB < 1 || o.imageMiB > 64<<10:
		return nil, fmt.Errorf("--image-mib must be 1..65536")
	case o.layers < 1 || o.layers > 100 || o.imageMiB<<20/int64(max(o.layers, 1)) < 1:
		return nil, fmt.Errorf("--layers must be 1..100 and at most --image-mib × 2^20")
	case o.pullParallel < 1 || o.pullParallel > 64:
		return nil, fmt.Errorf("--pull-parallel must be 1..64")
	case o.tagTTL <= 0:
		return nil, fmt.Errorf("--tag-ttl must be positive")
	case o.upstreamMBps < 0:
		return nil, fmt.Errorf("--upstream-mbps must not be negative")
	}
	return o, nil
}

func selectCases(o *options) ([]*Case, error) {
	all := allCases(o)
	var keys []string
	for _, c := range all {
		keys = append(keys, c.Key)
	}
	var want []string
	for _, k := range strings.Split(o.cases, ",") {
		k = strings.TrimSpace(k)
		if g, ok := caseGroups[k]; ok {
			want = append(want, g...)
		} else {
			want = append(want, k)
		}
	}
	var out []*Case
	for _, k := range want {
		i := slices.Index(keys, k)
		if i < 0 {
			return nil, fmt.Errorf("unknown case %q (have %s; groups fs, pt, s3, all)", k, strings.Join(keys, ", "))
		}
		if !slices.Contains(out, all[i]) {
			out = append(out, all[i])
		}
	}
	return out, nil
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "limit-server" {
		limitServerMain(os.Args[2:])
		return
	}
	if len(os.Args) > 1 && os.Args[1] == "scale" {
		if err := scaleMain(os.Args[2:]); err != nil && !errors.Is(err, flag.ErrHelp) {
			logf("error: %v", err)
			os.Exit(1)
		}
		return
	}
	o, err := parseFlags(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err == nil {
		err = run(o)
	}
	if err != nil {
		logf("error: %v", err)
		os.Exit(1)
	}
}

func run(o *options) error {
	// ctrl-C or SIGTERM cancels ctx: in-flight requests abort and the deferred
	// stopAll and RemoveAll still run.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if o.cases == "client" {
		return runClientBench(ctx, o)
	}
	started, load := time.Now(), loadAvg()
	cases, err := selectCases(o)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp(o.dir, "shadowreg-bench-")
	if err != nil {
		return err
	}
	if o.keep {
		defer logf("kept %s", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	size := o.blobMiB << 20
	var needBlob, pt, s3 bool
	for _, c := range cases {
		needBlob = needBlob || c.Blob
		pt = pt || c.Base != ""
		s3 = s3 || strings.HasPrefix(c.Key, "s3-") || strings.HasPrefix(c.Key, "swift-")
	}
	var need int64 = 1 << 30
	if needBlob {
		// Source blob, one copy per registry (plus its upload while it is written), and
		// one per rep kept by the limit server; profiles may add a few more.
		need += size * int64(o.reps+8)
	}
	if s3 { // MinIO: both registries' copies and uploads
		need += 4 * size
	}
	if pt { // the upstream's copy and two caches (with --keep, every rep's caches)
		n := int64(3)
		if o.keep {
			n += 2 * int64(o.reps)
		}
		need += n * o.imageMiB << 20
	}
	if free, err := freeBytes(dir); err == nil && free < need {
		return fmt.Errorf("%s has %d MiB free, the run needs about %d MiB: use --dir or a smaller --blob-mib", dir, free>>20, need>>20)
	}
	fst := fsType(dir)
	if fst == "tmpfs" {
		logf("warning: %s is tmpfs: fsync is free there, push numbers will not reflect a disk", dir)
	}

	var blob *blobFile
	if needBlob {
		logf("writing %s random blob in %s", mib(size), dir)
		t0 := time.Now()
		if blob, err = makeBlob(filepath.Join(dir, "blob.bin"), size); err != nil {
			return err
		}
		logf("blob %s ready in %s", blob.Digest, time.Since(t0).Round(time.Millisecond))
	} else {
		size = 0
	}

	limSize := size
	if limSize == 0 {
		limSize = 512 << 20
	}
	logf("measuring the machine's limits: durable write of %s, SHA-256 on one core, loopback sendfile", mib(limSize))
	limits, err := measureLimits(ctx, dir, blob, limSize, 3)
	if err != nil {
		return err
	}
	logf("limits: durable write %.0f MB/s, SHA-256 %.0f MB/s per core, loopback sendfile %.0f MB/s", limits.DurableWrite, limits.SHA256, limits.Sendfile)

	l := newLab(o, dir, blob)
	defer l.stopAll()
	var crs []*caseResult
	failed := false
	for _, c := range cases {
		cr, err := runCase(ctx, l, c)
		if ctx.Err() != nil {
			return errors.New("interrupted")
		}
		if err != nil {
			return err
		}
		crs = append(crs, cr)
		for _, r := range []*result{cr.Ours, cr.Ref, cr.Limit} {
			failed = failed || (r != nil && r.Err != nil)
		}
	}
	h := header{
		Date: started.UTC().Format("2006-01-02 15:04 UTC"), CPU: cpuModel(), Cores: runtime.NumCPU(),
		Go: runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH, BlobBytes: size, Reps: o.reps,
		Dir: dir, FS: fst, Load: [2]string{load, loadAvg()}, Targets: l.running(),
	}
	h.Limits = limits
	if l.image != nil {
		h.Image = fmt.Sprintf("%s; pulled %d blobs at a time", l.image, o.pullParallel)
		h.ImageBytes = l.image.Bytes
	}
	h.Elapsed = time.Since(started).Round(time.Second).String()
	fmt.Println()
	printTable(os.Stdout, h, crs)
	if o.jsonPath != "" {
		if err := writeJSON(o.jsonPath, h, crs); err != nil {
			return err
		}
		logf("wrote %s", o.jsonPath)
	}
	if failed {
		return errors.New("some cases failed on some targets (see above)")
	}
	return nil
}

// repoRoot finds the module root from the working directory, so defaults work
// from anywhere inside the repo.
func repoRoot() string {
	wd, err := os.Getwd()
	if err != nil {
		return "."
	}
	for d := wd; ; d = filepath.Dir(d) {
		if b, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil && strings.Contains(string(b), "module github.com/shadowreg/shadowreg") {
			return d
		}
		if filepath.Dir(d) == d {
			return wd
		}
	}
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func logf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "%s %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, a...))
}
