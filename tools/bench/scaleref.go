package main

// The reference registry's garbage collection on the content of a scale
// row: the same N images pushed into a distribution v3 registry
// (filesystem), the manifests of the same tenth of the buildsets deleted
// by digest, then `registry garbage-collect` run offline, as its
// documentation asks, and timed as a process.

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"time"

	"github.com/opencontainers/go-digest"
)

// refGC is what the reference's collection did.
type refGC struct {
	Populate time.Duration
	Took     time.Duration
	Blobs    int // "N blobs eligible for deletion"
}

var refEligibleRE = regexp.MustCompile(`(\d+) blobs (?:and \d+ manifests )?eligible for deletion`)

func scaleReference(ctx context.Context, o scaleOptions, dir string, n int, deleted func(i int) bool) (refGC, error) {
	var out refGC
	root := filepath.Join(dir, "data")
	if err := os.MkdirAll(root, 0o755); err != nil {
		return out, err
	}
	port, err := freePort()
	if err != nil {
		return out, err
	}
	cfg := fmt.Sprintf("version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n"+
		"  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:%d\n", root, port)
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return out, err
	}
	p, err := startProc("reference", []string{o.refBin, "serve", cfgPath}, filepath.Join(dir, "registry.log"))
	if err != nil {
		return out, err
	}
	defer p.stop()
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	if err := p.waitReady(ctx, base, time.Minute); err != nil {
		return out, err
	}
	s := &scaleServer{base: base, c: newClient(o.workers * 2), p: p}
	logf("scale %d: the same content into the reference registry", n)
	t0 := time.Now()
	if err := s.grow(ctx, n, o); err != nil {
		return out, err
	}
	out.Populate = time.Since(t0)
	for i := range n {
		if !deleted(i) {
			continue
		}
		m, err := scaleManifest(i)
		if err != nil {
			return out, err
		}
		path := fmt.Sprintf("/v2/%s/manifests/%s", scaleRepo(i, o.buildsets), digest.FromBytes(m))
		if _, _, err := s.do(ctx, http.MethodDelete, path, nil); err != nil {
			return out, err
		}
	}
	p.stop() // garbage-collect runs on a registry that is not serving
	gctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
	defer cancel()
	t1 := time.Now()
	b, err := exec.CommandContext(gctx, o.refBin, "garbage-collect", cfgPath).CombinedOutput()
	out.Took = time.Since(t1)
	if err != nil {
		return out, fmt.Errorf("registry garbage-collect: %w: %.500s", err, b)
	}
	m := refEligibleRE.FindSubmatch(b)
	if m == nil {
		return out, fmt.Errorf("registry garbage-collect: no count of blobs eligible for deletion in its output: %.500s", b[max(0, len(b)-500):])
	}
	out.Blobs, _ = strconv.Atoi(string(m[1]))
	return out, nil
}
