package main

// The scale case: how each cost grows with the registry. `bench scale` grows
// a shadowreg (filesystem storage, a fresh process per size) to N manifests
// spread over B buildsets, then measures what a CI fleet feels: manifest GET
// latency against overlay depth, _catalog and tags/list against their size,
// a garbage collection (after a tenth of the buildsets was deleted) with its
// duration, and pushes made while it runs, and the server's RSS. It prints
// one row per size, so that a cost that grows with N shows as it grows.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"
)

type scaleOptions struct {
	sizes     []int
	storages  []string // "fs", "s3" (one MinIO per size)
	buildsets int
	workers   int
	bin, dir  string
	refBin    string // the reference registry; "" skips its garbage-collect
}

type scaleRow struct {
	Storage              string
	Manifests, Buildsets int
	Populate             time.Duration
	CatalogRepos         int
	Catalog, TagsList    time.Duration // median of 5
	TagsInList           int
	Depth                map[int][2]float64 // parents -> p50, p99 ms of manifest GET by tag
	GCTook               time.Duration
	GCBlobs              int
	PushesDuringGC       int
	PushP99DuringGC      float64 // ms
	PushP99Idle          float64
	RSSMiB               float64
	// S3 requests MinIO counted (s3 only): while growing, per manifest
	// pushed, and over the collection (with the pushes made meanwhile).
	S3PerPush  float64
	S3DuringGC int64
	Ref        *refGC // the reference registry on the same content (fs only)
}

func scaleMain(args []string) error {
	fs := flag.NewFlagSet("scale", flag.ContinueOnError)
	sizes := fs.String("sizes", "1000,10000", "registry sizes, in manifests, comma-separated (100000 takes a long while)")
	o := scaleOptions{}
	fs.IntVar(&o.buildsets, "buildsets", 100, "buildsets the manifests are spread over")
	fs.IntVar(&o.workers, "workers", 16, "concurrent pushers while growing the registry")
	fs.StringVar(&o.bin, "shadowreg", envOr("SHADOWREG_BIN", filepath.Join(repoRoot(), ".cache/shadowreg")), "shadowreg binary")
	fs.StringVar(&o.dir, "dir", os.TempDir(), "parent directory for the run")
	fs.StringVar(&o.refBin, "registry", envOr("REGISTRY_BIN", filepath.Join(repoRoot(), ".cache/bin/registry")),
		"reference registry binary, whose garbage-collect runs on the same content (fs rows); empty: skip")
	keep := fs.Bool("keep", false, "keep the run directory (data and server logs) at the end")
	storages := fs.String("storage", "fs", "storage backends, comma-separated: fs (filesystem), s3 (a MinIO per size, tools/minio.sh)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	for _, st := range strings.Split(*storages, ",") {
		if st != "fs" && st != "s3" {
			return fmt.Errorf("--storage: %q is neither fs nor s3", st)
		}
		o.storages = append(o.storages, st)
	}
	for _, s := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < o.buildsets {
			return fmt.Errorf("--sizes: %q is not a number of manifests of at least --buildsets", s)
		}
		o.sizes = append(o.sizes, n)
	}
	dir, err := os.MkdirTemp(o.dir, "shadowreg-scale-")
	if err != nil {
		return err
	}
	if *keep {
		logf("scale: keeping %s", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	ctx := context.Background()
	var rows []scaleRow
	for _, st := range o.storages {
		for _, n := range o.sizes {
			row, err := scaleRun(ctx, o, st, filepath.Join(dir, st+strconv.Itoa(n)), n)
			if err != nil {
				return fmt.Errorf("%s, %d manifests: %w", st, n, err)
			}
			rows = append(rows, row)
		}
	}
	printScale(os.Stdout, rows)
	return nil
}

// scaleServer is one shadowreg for one size.
type scaleServer struct {
	base  string
	c     *http.Client
	p     *proc
	minio *Target // s3 only
}

func (s *scaleServer) stop() {
	s.p.stop()
	if s.minio != nil {
		s.minio.stop()
		s.minio = nil // stop may be called again (deferred)
	}
}

// startScaleServer starts shadowreg on storage st in dir: the filesystem,
// or S3 on a MinIO of its own whose request counters it can read.
func startScaleServer(ctx context.Context, o scaleOptions, st, dir string) (*scaleServer, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	cfg := fmt.Sprintf("listen: 127.0.0.1:%d\ndata-dir: %s\nbuildsets:\n  implicit: true\ngc:\n  interval: 0s\n  grace: 1s\n",
		port, filepath.Join(dir, "data"))
	var m *Target
	if st == "s3" {
		// The request counters without a token: MinIO on 127.0.0.1, for
		// this run only.
		os.Setenv("MINIO_PROMETHEUS_AUTH_TYPE", "public")
		if m, err = startMinio(ctx, nil, "minio", filepath.Join(dir, "minio")); err != nil {
			return nil, err
		}
		cfg += fmt.Sprintf("spool-dir: %s\nstorage:\n  driver: s3\n  s3:\n    endpoint: %s\n    bucket: %s\n    prefix: shadowreg\n"+
			"    access-key: %s\n    secret-key: %s\n    insecure: true\n",
			filepath.Join(dir, "spool"), m.Info["endpoint"], m.Info["bucket"], m.Info["access-key"], m.Info["secret-key"])
		if err := os.MkdirAll(filepath.Join(dir, "spool"), 0o755); err != nil {
			m.stop()
			return nil, err
		}
	}
	fail := func(err error) (*scaleServer, error) {
		if m != nil {
			m.stop()
		}
		return nil, err
	}
	cfgPath := filepath.Join(dir, "shadowreg.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return fail(err)
	}
	p, err := startProc("shadowreg", []string{o.bin, "serve", "--config", cfgPath}, filepath.Join(dir, "shadowreg.log"))
	if err != nil {
		return fail(err)
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	if err := p.waitReady(ctx, base, time.Minute); err != nil {
		p.stop()
		return fail(err)
	}
	return &scaleServer{base: base, c: newClient(o.workers * 2), p: p, minio: m}, nil
}

// s3Requests is the number of S3 requests MinIO has answered (the sum of
// minio_api_requests_total{type="s3"} over its APIs, from the v3 metrics,
// which count live; v2's are cached for 10 s); 0 without MinIO.
func (s *scaleServer) s3Requests(ctx context.Context) (int64, error) {
	if s.minio == nil {
		return 0, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.minio.URL+"/minio/metrics/v3/api/requests", nil)
	if err != nil {
		return 0, err
	}
	resp, err := s.minio.Client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("MinIO metrics: %s", resp.Status)
	}
	var total int64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "minio_api_requests_total{") || !strings.Contains(line, `type="s3"`) {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			return 0, fmt.Errorf("MinIO metrics: %q: %w", line, err)
		}
		total += int64(v)
	}
	return total, sc.Err()
}

// image pushes a manifest with its own config and a shared layer into repo
// as tag, and returns the manifest's length.
func (s *scaleServer) image(ctx context.Context, repo, tag string, seed int) error {
	layer, config := scaleBlobs(seed)
	m, err := scaleManifest(seed)
	if err != nil {
		return err
	}
	for _, b := range []smallBlob{layer, config} {
		if err := pushSmall(ctx, s.c, s.base, repo, b); err != nil {
			return err
		}
	}
	return putManifest(ctx, s.c, s.base, repo, tag, ociManifest, m)
}

// scaleBlobs are the layer (the same for every seed) and the config of
// the image of seed.
func scaleBlobs(seed int) (layer, config smallBlob) {
	layer = newSmallBlob(bytes.Repeat([]byte("shared layer;"), 300))
	config = newSmallBlob(fmt.Appendf(nil, `{"architecture":"amd64","os":"linux","seed":%d}`, seed))
	return layer, config
}

// scaleManifest is the manifest of the image of seed.
func scaleManifest(seed int) ([]byte, error) {
	layer, config := scaleBlobs(seed)
	return json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": ociManifest,
		"config": map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config.Digest, "size": len(config.Data)},
		"layers": []map[string]any{{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer.Digest, "size": len(layer.Data)}}})
}

// grow pushes the images 0..n-1 (scaleRepo, tag t<i>) with o.workers
// pushers.
func (s *scaleServer) grow(ctx context.Context, n int, o scaleOptions) error {
	var next atomic.Int64
	var firstErr error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range o.workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := s.image(ctx, scaleRepo(i, o.buildsets), fmt.Sprintf("t%d", i), i); err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	return firstErr
}

// scaleDeleted says whether image i lies in one of the buildsets a row
// deletes before collecting (bs1, bs11, ...: a tenth).
func scaleDeleted(i, buildsets int) bool {
	return i%20 != 0 && i%20 != 10 && (i%buildsets)%10 == 1
}

func (s *scaleServer) do(ctx context.Context, method, path string, body []byte) ([]byte, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, method, s.base+path, bytes.NewReader(body))
	if err != nil {
		return nil, 0, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", manifestAccept)
	t0 := time.Now()
	resp, err := s.c.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	d := time.Since(t0)
	if err == nil && resp.StatusCode/100 != 2 {
		err = fmt.Errorf("%s %s: %s %s", method, path, resp.Status, b)
	}
	return b, d, err
}

// timed runs fn n times and returns the durations sorted.
func timed(n int, fn func() (time.Duration, error)) ([]time.Duration, error) {
	var ds []time.Duration
	for range n {
		d, err := fn()
		if err != nil {
			return nil, err
		}
		ds = append(ds, d)
	}
	slices.Sort(ds)
	return ds, nil
}

const scaleReposPerBuildset = 10

// scaleRepo is where manifest i goes: a twentieth into one shared repository
// (its tags list grows with the registry), a twentieth each into a shared
// repository of its own (the catalog grows), the rest into the buildsets'
// repositories.
func scaleRepo(i, buildsets int) string {
	switch i % 20 {
	case 0:
		return "scale/tags"
	case 10:
		return fmt.Sprintf("scale/c%d", i)
	}
	return fmt.Sprintf("buildsets/bs%d/scale/r%d", i%buildsets, (i/buildsets)%scaleReposPerBuildset)
}

func scaleRun(ctx context.Context, o scaleOptions, st, dir string, n int) (scaleRow, error) {
	row := scaleRow{Storage: st, Manifests: n, Buildsets: o.buildsets, Depth: map[int][2]float64{}}
	s, err := startScaleServer(ctx, o, st, dir)
	if err != nil {
		return row, err
	}
	defer s.stop()
	req0, err := s.s3Requests(ctx)
	if err != nil {
		return row, err
	}

	logf("scale %d: pushing %d manifests into %d buildsets, %d pushers", n, n, o.buildsets, o.workers)
	t0 := time.Now()
	if err := s.grow(ctx, n, o); err != nil {
		return row, err
	}
	row.Populate = time.Since(t0)
	var next atomic.Int64 // the seeds of the pushes below, after the n grown
	next.Store(int64(n))
	req1, err := s.s3Requests(ctx)
	if err != nil {
		return row, err
	}
	row.S3PerPush = float64(req1-req0) / float64(n)

	// _catalog (n/20 repositories) and the largest tags list (n/20 tags).
	cat, err := timed(5, func() (time.Duration, error) {
		b, d, err := s.do(ctx, http.MethodGet, "/v2/_catalog?n=1000000", nil)
		var c struct{ Repositories []string }
		if err == nil {
			err = json.Unmarshal(b, &c)
			row.CatalogRepos = len(c.Repositories)
		}
		return d, err
	})
	if err != nil {
		return row, err
	}
	tl, err := timed(5, func() (time.Duration, error) {
		b, d, err := s.do(ctx, http.MethodGet, "/v2/scale/tags/tags/list", nil)
		var t struct{ Tags []string }
		if err == nil {
			err = json.Unmarshal(b, &t)
			row.TagsInList = len(t.Tags)
		}
		return d, err
	})
	if err != nil {
		return row, err
	}
	row.Catalog, row.TagsList = cat[len(cat)/2], tl[len(tl)/2]

	// Manifest GET by tag through 1, 4 and 16 parents, the tag in the shared
	// area beneath them all: every area is probed.
	if err := s.image(ctx, "scale/base", "latest", -1); err != nil {
		return row, err
	}
	for _, k := range []int{1, 4, 16} {
		var parents []string // buildsets that hold manifests: not every tenth (scaleRepo)
		for i := 1; len(parents) < k; i++ {
			if i%10 != 0 {
				parents = append(parents, fmt.Sprintf("bs%d", i%o.buildsets))
			}
		}
		body, _ := json.Marshal(map[string]any{"id": fmt.Sprintf("depth%d", k), "parents": parents})
		if _, _, err := s.do(ctx, http.MethodPost, "/shadowreg/v1/buildsets", body); err != nil {
			return row, err
		}
		ds, err := timed(300, func() (time.Duration, error) {
			_, d, err := s.do(ctx, http.MethodGet, fmt.Sprintf("/v2/buildsets/depth%d/scale/base/manifests/latest", k), nil)
			return d, err
		})
		if err != nil {
			return row, err
		}
		row.Depth[k] = [2]float64{ms(percentile(ds, 0.5)), ms(percentile(ds, 0.99))}
	}

	// Pushes with nothing else running, then during a collection that has a
	// tenth of the buildsets to free.
	push := func(i int) (time.Duration, error) {
		t := time.Now()
		err := s.image(ctx, "buildsets/live/scale/app", fmt.Sprintf("p%d", i), 1_000_000+i)
		return time.Since(t), err
	}
	idle, err := timed(50, func() (time.Duration, error) { return push(int(next.Add(1))) })
	if err != nil {
		return row, err
	}
	row.PushP99Idle = ms(percentile(idle, 0.99))
	for i := 1; i < o.buildsets; i += 10 {
		if _, _, err := s.do(ctx, http.MethodDelete, fmt.Sprintf("/shadowreg/v1/buildsets/bs%d", i), nil); err != nil {
			return row, err
		}
	}
	time.Sleep(1100 * time.Millisecond) // the grace period
	logf("scale %d: collecting", n)
	gc0, err := s.s3Requests(ctx)
	if err != nil {
		return row, err
	}
	gcDone := make(chan error, 1)
	go func() {
		b, _, err := s.do(ctx, http.MethodPost, "/shadowreg/v1/gc", nil)
		var rep struct {
			Blobs int
			Took  time.Duration
		}
		if err == nil {
			err = json.Unmarshal(b, &rep)
		}
		row.GCTook, row.GCBlobs = rep.Took, rep.Blobs
		gcDone <- err
	}()
	var during []time.Duration
	for running := true; running; {
		select {
		case err := <-gcDone:
			if err != nil {
				return row, err
			}
			running = false
		default:
			d, err := push(int(next.Add(1)))
			if err != nil {
				return row, err
			}
			during = append(during, d)
		}
	}
	gc1, err := s.s3Requests(ctx)
	if err != nil {
		return row, err
	}
	row.S3DuringGC = gc1 - gc0
	slices.Sort(during)
	row.PushesDuringGC = len(during)
	if len(during) > 0 {
		row.PushP99DuringGC = ms(percentile(during, 0.99))
	}
	row.RSSMiB = rssMiB(s.p.cmd.Process.Pid)
	s.stop()
	if st == "fs" && o.refBin != "" {
		ref, err := scaleReference(ctx, o, filepath.Join(dir, "reference"), n, func(i int) bool { return scaleDeleted(i, o.buildsets) })
		if err != nil {
			return row, fmt.Errorf("reference: %w", err)
		}
		row.Ref = &ref
	}
	return row, nil
}

// rssMiB reads a process's resident set size from /proc.
func rssMiB(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

func printScale(w io.Writer, rows []scaleRow) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "storage\tmanifests\tbuildsets\tpopulate\t_catalog (repos)\ttags/list (tags)\tGET p50/p99 ms, 1 parent\t4 parents\t16 parents\tGC took\tblobs freed\tpushes during GC\tpush p99 ms during GC\tidle\tRSS MiB\tS3 req/push\tS3 req during GC\tref: populate\tref garbage-collect\tref blobs eligible")
	for _, r := range rows {
		d := func(k int) string { return fmt.Sprintf("%.2f / %.2f", r.Depth[k][0], r.Depth[k][1]) }
		refCols := "-\t-\t-"
		if r.Ref != nil {
			refCols = fmt.Sprintf("%s\t%s\t%d", r.Ref.Populate.Round(time.Millisecond), r.Ref.Took.Round(time.Millisecond), r.Ref.Blobs)
		}
		s3 := func(v string) string {
			if r.Storage != "s3" {
				return "-"
			}
			return v
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%.1f ms (%d)\t%.1f ms (%d)\t%s\t%s\t%s\t%s\t%d\t%d\t%.1f\t%.1f\t%.0f\t%s\t%s\t%s\n",
			r.Storage, r.Manifests, r.Buildsets, r.Populate.Round(time.Millisecond), ms(r.Catalog), r.CatalogRepos, ms(r.TagsList), r.TagsInList,
			d(1), d(4), d(16), r.GCTook.Round(time.Millisecond), r.GCBlobs, r.PushesDuringGC, r.PushP99DuringGC, r.PushP99Idle, r.RSSMiB,
			s3(fmt.Sprintf("%.1f", r.S3PerPush)), s3(strconv.FormatInt(r.S3DuringGC, 10)), refCols)
	}
	tw.Flush()
	fmt.Fprintln(w, "fs: filesystem storage; s3: S3 on one MinIO (requests from its minio_api_requests_total: per manifest pushed while growing, and over the GC with its pushes); each manifest: its own config and a shared 3.9 KiB layer; a tenth in the shared area (one repository with n/20 tags, n/20 repositories")
	fmt.Fprintln(w, "of one tag), the rest in 10 repositories per buildset; GC after a tenth of the buildsets was deleted; pushes: config, layer, manifest into a live buildset;")
	fmt.Fprintln(w, "ref: the reference registry (fs) grown with the same images, the same tenth deleted as manifests by digest, then `registry garbage-collect` offline (timed as a process);")
	fmt.Fprintln(w, "GET by tag from a buildset over k parents with the tag in the shared area (every area probed); medians of 5 (_catalog, tags/list), 300 GETs per depth.")
}
