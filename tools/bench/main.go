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
	keep, chunked, verify, sync                 bool
	blobMiB                                     int64
	reps, conc, profileSeconds                  int
	cases, ours                                 string
	shadowregBin, shadowregArgs, shadowregPprof string
	registryBin                                 string
	duration, readyTimeout, opTimeout, pause    time.Duration
	maxRequests                                 int64
}

func parseFlags(args []string) (*options, error) {
	root := repoRoot()
	o := &options{}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.StringVar(&o.dir, "dir", os.TempDir(), "parent directory for the run (blob, registry data); keep it on the disk you want measured")
	fs.BoolVar(&o.keep, "keep", false, "keep the run directory (data and server logs) at the end")
	fs.Int64Var(&o.blobMiB, "blob-mib", 512, "size of the blob for push and pull, MiB")
	fs.IntVar(&o.reps, "reps", 3, "repetitions per case and target, interleaved")
	fs.StringVar(&o.cases, "cases", "push,pull,manifest", "comma-separated cases to run")
	fs.StringVar(&o.ours, "ours", "shadowreg", `the registry in the "ours" column: shadowreg, or reference (a second reference registry, to develop the bench without shadowreg)`)
	fs.StringVar(&o.shadowregBin, "shadowreg", envOr("SHADOWREG_BIN", filepath.Join(root, ".cache/shadowreg")), "shadowreg binary ($SHADOWREG_BIN)")
	fs.StringVar(&o.shadowregArgs, "shadowreg-args", "", "extra arguments for `shadowreg serve`, space-separated")
	fs.StringVar(&o.shadowregPprof, "shadowreg-pprof", "", "shadowreg's net/http/pprof base URL if not <url>/debug/pprof")
	fs.StringVar(&o.registryBin, "registry", envOr("REGISTRY_BIN", filepath.Join(root, ".cache/bin/registry")), "reference registry binary ($REGISTRY_BIN)")
	fs.BoolVar(&o.chunked, "chunked", true, "push PATCH without Content-Length (chunked, as docker does); false sends Content-Length")
	fs.BoolVar(&o.verify, "verify-digest", false, "hash every pulled blob and compare the digest (costs client CPU)")
	fs.BoolVar(&o.sync, "sync", true, "sync(2) before every timed operation so one target's writeback does not land on the next")
	fs.DurationVar(&o.pause, "pause", 0, "idle time before every timed operation (after the sync), to let the disk settle")
	fs.IntVar(&o.conc, "concurrency", 64, "concurrent clients for the manifest case")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "length of one manifest-case repetition")
	fs.Int64Var(&o.maxRequests, "max-requests", 2_000_000, "cap on requests in one manifest-case repetition")
	fs.StringVar(&o.jsonPath, "json", "", "also write results as JSON to this file")
	fs.StringVar(&o.profileDir, "profile", "", "after each case, record a CPU profile of every target that exposes net/http/pprof into this directory")
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
	}
	return o, nil
}

func selectCases(o *options) ([]*Case, error) {
	all := allCases(o)
	var keys []string
	for _, c := range all {
		keys = append(keys, c.Key)
	}
	var out []*Case
	for _, k := range strings.Split(o.cases, ",") {
		k = strings.TrimSpace(k)
		i := slices.Index(keys, k)
		if i < 0 {
			return nil, fmt.Errorf("unknown case %q (have %s)", k, strings.Join(keys, ", "))
		}
		out = append(out, all[i])
	}
	return out, nil
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "limit-server" {
		limitServerMain(os.Args[2:])
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
	// Source blob, one copy per registry (plus its upload while it is written), and
	// one per rep kept by the limit server; profiles may add a few more.
	need := size*int64(o.reps+8) + 1<<30
	if free, err := freeBytes(dir); err == nil && free < need {
		return fmt.Errorf("%s has %d MiB free, the run needs about %d MiB: use --dir or a smaller --blob-mib", dir, free>>20, need>>20)
	}
	fst := fsType(dir)
	if fst == "tmpfs" {
		logf("warning: %s is tmpfs: fsync is free there, push numbers will not reflect a disk", dir)
	}

	logf("writing %s random blob in %s", mib(size), dir)
	t0 := time.Now()
	blob, err := makeBlob(filepath.Join(dir, "blob.bin"), size)
	if err != nil {
		return err
	}
	logf("blob %s ready in %s", blob.Digest, time.Since(t0).Round(time.Millisecond))

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
