package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// makers maps target keys to how they start. Cases name targets by these keys.
func makers() map[string]maker {
	return map[string]maker{
		"shadowreg":   startShadowreg,
		"reference":   startReference,
		"reference-b": startReference, // stands in for shadowreg with --ours reference
		"limit":       startLimit,
	}
}

// oursKey is the target that fills the "ours" column.
func (o *options) oursKey() string {
	if o.ours == "reference" {
		return "reference-b"
	}
	return "shadowreg"
}

// serveProc starts argv, waits for GET /v2/ = 200 and wraps it as a Target.
func serveProc(ctx context.Context, l *lab, name, desc string, port int, argv []string, dir string) (*Target, error) {
	p, err := startProc(name, argv, filepath.Join(dir, name+".log"))
	if err != nil {
		return nil, err
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	if err := p.waitReady(ctx, base, l.opt.readyTimeout); err != nil {
		p.stop()
		return nil, err
	}
	// freePort can race with other tenants: if our child lost the port and exited,
	// whatever answered /v2/ was someone else's server.
	select {
	case <-p.done:
		return nil, fmt.Errorf("%s exited right after start (%v):\n%s", name, p.err, tail(p.log, 20))
	case <-time.After(100 * time.Millisecond):
	}
	return &Target{Name: name, Desc: desc, URL: base, Client: newClient(l.opt.conc), stop: p.stop}, nil
}

func startShadowreg(ctx context.Context, l *lab, key, dir string) (*Target, error) {
	bin := l.opt.shadowregBin
	if err := needBinary(bin, "build it: go build -o .cache/shadowreg ./cmd/shadowreg, or pass --ours reference"); err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	data := filepath.Join(dir, "data")
	argv := append([]string{bin, "serve", "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--data-dir", data},
		strings.Fields(l.opt.shadowregArgs)...)
	desc := bin + " (" + versionOf(ctx, bin, "version") + ") " + strings.Join(argv[1:], " ")
	t, err := serveProc(ctx, l, "shadowreg", desc, port, argv, dir)
	if err != nil {
		return nil, err
	}
	// pprof is optional: an explicit URL, or the registry's own listener if it answers there.
	switch {
	case l.opt.shadowregPprof != "":
		t.Pprof = strings.TrimSuffix(l.opt.shadowregPprof, "/")
	case l.opt.profileDir != "" && answers(ctx, t.Client, t.URL+"/debug/pprof/"):
		t.Pprof = t.URL + "/debug/pprof"
	case l.opt.profileDir != "":
		logf("shadowreg answers no %s/debug/pprof/: no profile of it (see --shadowreg-pprof, --shadowreg-args)", t.URL)
	}
	return t, nil
}

// startReference runs distribution v3 with filesystem storage, tuned the way its own
// sample config ships (in-memory blob descriptor cache) and with the access log off:
// a log line per request would handicap it in the manifest case.
func startReference(ctx context.Context, l *lab, key, dir string) (*Target, error) {
	bin := l.opt.registryBin
	if err := needBinary(bin, "run tools/install.sh registry"); err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	debug := ""
	if l.opt.profileDir != "" { // its debug listener serves net/http/pprof
		dport, err := freePort()
		if err != nil {
			return nil, err
		}
		debug = fmt.Sprintf("127.0.0.1:%d", dport)
	}
	storage := fmt.Sprintf("  filesystem:\n    rootdirectory: %s\n", filepath.Join(dir, "data"))
	cfg := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfg, []byte(referenceConfig(fmt.Sprintf("127.0.0.1:%d", port), storage, debug)), 0o644); err != nil {
		return nil, err
	}
	v := strings.Fields(versionOf(ctx, bin, "--version")) // "<argv0> <module> <version>"
	desc := bin + " (distribution " + v[len(v)-1] + "), filesystem, blobdescriptor cache inmemory, access log off"
	t, err := serveProc(ctx, l, key, desc, port, []string{bin, "serve", cfg}, dir)
	if err != nil {
		return nil, err
	}
	if debug != "" {
		t.Pprof = "http://" + debug + "/debug/pprof"
	}
	return t, nil
}

// referenceConfig renders a distribution config; storage is the driver's YAML block
// (indented two spaces) so an S3 variant only swaps that block.
func referenceConfig(addr, storage, debugAddr string) string {
	var b strings.Builder
	b.WriteString("version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\n")
	b.WriteString("storage:\n" + storage)
	b.WriteString("  cache:\n    blobdescriptor: inmemory\n  delete:\n    enabled: true\n")
	// No upload purging: a background sweep must not run during a timed case.
	b.WriteString("  maintenance:\n    uploadpurging:\n      enabled: false\n")
	b.WriteString("http:\n  addr: " + addr + "\n")
	if debugAddr != "" {
		b.WriteString("  debug:\n    addr: " + debugAddr + "\n")
	}
	return b.String()
}

// versionOf runs `bin arg` and returns its first line of output.
func versionOf(ctx context.Context, bin, arg string) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, arg).Output()
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	if err != nil || line == "" {
		return "version unknown"
	}
	return line
}

// startLimit re-runs this binary as the machine-limit server (see limitserver.go),
// a separate process like the registries, so it pays the same process boundaries.
func startLimit(ctx context.Context, l *lab, key, dir string) (*Target, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	argv := []string{self, "limit-server", "-listen", fmt.Sprintf("127.0.0.1:%d", port),
		"-blob", l.blob.Path, "-digest", l.blob.Digest, "-data", filepath.Join(dir, "data")}
	return serveProc(ctx, l, "limit", "net/http: ServeFile for pulls; SHA-256 + write + fsync for pushes", port, argv, dir)
}

// answers reports whether GET u is 200.
func answers(ctx context.Context, c *http.Client, u string) bool {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	resp, err := c.Do(req)
	if err != nil {
		return false
	}
	drain(resp)
	return resp.StatusCode == http.StatusOK
}
