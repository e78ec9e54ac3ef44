package registry_test

// Storage round trips per operation. On an object store each driver call is
// one or more requests, each a round trip of milliseconds and a charge, so
// how many an operation makes is its cost; these tests pin that number, and
// fail when it grows.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/shadowreg/shadowreg/registry/buildset"
	"github.com/shadowreg/shadowreg/storage/driver"
)

// s3Weights models what a driver call costs on the S3 driver, in requests:
// a Stat that misses is a HEAD and a LIST; a Move a HEAD, a copy and a
// DELETE; a Delete lists the path's state and content, then deletes.
var s3Weights = map[string]int{"Stat(miss)": 2, "Move": 3, "Delete": 3}

// callCounter is an S3-shaped driver that counts calls by method: it
// offers what the S3 driver offers (StatFile and atomic commits, no Adopter,
// no TempSweeper). Its writes are the filesystem's, not atomic: it is for
// counting, not for racing.
type callCounter struct {
	driver.Driver
	mu    sync.Mutex
	calls map[string]int
}

func (c *callCounter) count(method string) {
	c.mu.Lock()
	c.calls[method]++
	c.mu.Unlock()
}

// take returns the calls counted since the last take, and their modelled
// S3 requests.
func (c *callCounter) take() (map[string]int, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	calls, reqs := c.calls, 0
	for m, n := range calls {
		w := s3Weights[m]
		if w == 0 {
			w = 1
		}
		reqs += n * w
	}
	c.calls = map[string]int{}
	return calls, reqs
}

func (c *callCounter) GetContent(ctx context.Context, p string) ([]byte, error) {
	c.count("GetContent")
	return c.Driver.GetContent(ctx, p)
}

func (c *callCounter) PutContent(ctx context.Context, p string, b []byte) error {
	c.count("PutContent")
	return c.Driver.PutContent(ctx, p, b)
}

func (c *callCounter) Reader(ctx context.Context, p string, off int64) (io.ReadCloser, error) {
	c.count("Reader")
	return c.Driver.Reader(ctx, p, off)
}

func (c *callCounter) Writer(ctx context.Context, p string, off int64) (driver.FileWriter, error) {
	c.count("Writer")
	w, err := c.Driver.Writer(ctx, p, off)
	if err != nil {
		return nil, err
	}
	return &countedWriter{FileWriter: w, c: c}, nil
}

func (c *callCounter) Stat(ctx context.Context, p string) (driver.FileInfo, error) {
	fi, err := c.Driver.Stat(ctx, p)
	if errors.Is(err, driver.ErrNotFound) {
		c.count("Stat(miss)")
	} else {
		c.count("Stat")
	}
	return fi, err
}

func (c *callCounter) StatFile(ctx context.Context, p string) (driver.FileInfo, error) {
	c.count("StatFile")
	fi, err := c.Driver.Stat(ctx, p)
	if err == nil && fi.IsDir {
		return driver.FileInfo{}, driver.NotFound("counter", p)
	}
	return fi, err
}

func (c *callCounter) CommitsAtomically() {}

func (c *callCounter) List(ctx context.Context, p string) ([]string, error) {
	c.count("List")
	return c.Driver.List(ctx, p)
}

func (c *callCounter) Walk(ctx context.Context, p string, fn func(driver.FileInfo) error) error {
	c.count("Walk")
	return c.Driver.Walk(ctx, p, fn)
}

func (c *callCounter) Move(ctx context.Context, src, dst string) error {
	c.count("Move")
	return c.Driver.Move(ctx, src, dst)
}

func (c *callCounter) Delete(ctx context.Context, p string) error {
	c.count("Delete")
	return c.Driver.Delete(ctx, p)
}

type countedWriter struct {
	driver.FileWriter
	c *callCounter
}

func (w *countedWriter) Checkpoint(ctx context.Context, meta []byte) error {
	w.c.count("Checkpoint")
	return w.FileWriter.Checkpoint(ctx, meta)
}

func (w *countedWriter) Commit(ctx context.Context) error {
	w.c.count("Commit")
	return w.FileWriter.Commit(ctx)
}

func formatCalls(calls map[string]int) string {
	var parts []string
	for _, m := range slices.Sorted(func(yield func(string) bool) {
		for m := range calls {
			if !yield(m) {
				return
			}
		}
	}) {
		parts = append(parts, fmt.Sprintf("%s %d", m, calls[m]))
	}
	return strings.Join(parts, ", ")
}

// TestStorageRequestsPerOperation counts the storage calls of: a push (two
// blobs, each in one POST, and the manifest by tag); a pull by tag through
// a buildset with two parents, the image in the shared area beneath them;
// and a pull through the docker.io cache, cold (from upstream) and warm.
// Each is held to a budget of modelled S3 requests: one that grows fails.
// Before issue 14 (probes by Stat, references checked twice, cached blobs
// copied into place) these were 17, 17, 11, 4, 9, 9, 10, 15, 5 and 6.
func TestStorageRequestsPerOperation(t *testing.T) {
	cc := &callCounter{calls: map[string]int{}}
	// The buildsets' clock stands still: their metadata, cached for two
	// seconds, would otherwise be read again whenever the test runs slow.
	frozen := time.Now()
	e := newBSEnv(t, bsOptions{upstream: true, cache: true, now: func() time.Time { return frozen }, wrap: func(d driver.Driver) driver.Driver {
		cc.Driver = d
		return cc
	}})
	ctx := t.Context()
	for _, spec := range []buildset.Spec{{ID: "p1"}, {ID: "p2"}, {ID: "c", Parents: []string{"p1", "p2"}}} {
		if _, _, err := e.mgr.Create(ctx, spec); err != nil {
			t.Fatal(err)
		}
	}
	img := randomImage(t, 1)
	layers, _ := img.Layers()
	layer, _ := layers[0].Compressed()
	layerData, _ := io.ReadAll(layer)
	layerDigest, _ := layers[0].Digest()
	config, _ := img.RawConfigFile()
	configDigest, _ := img.ConfigName()
	manifest, _ := img.RawManifest()
	mt, _ := img.MediaType()

	type step struct {
		op       string
		budget   int // modelled S3 requests
		calls    map[string]int
		requests int
	}
	var steps []*step
	measure := func(op string, budget int, fn func()) {
		t.Helper()
		cc.take()
		fn()
		if e.ns != nil {
			e.ns.Drain(ctx) // a fetch caches what it streamed after the response
		}
		calls, reqs := cc.take()
		steps = append(steps, &step{op, budget, calls, reqs})
	}
	ok := func(r *response, want int) {
		t.Helper()
		if r.StatusCode != want {
			t.Fatalf("%s %s = %d %s, want %d", r.Request.Method, r.Request.URL.Path, r.StatusCode, r.body, want)
		}
	}
	repo := "library/app"
	measure("push (docker.io, shadowed): blob upload", 16, func() { ok(e.uploadBlob(repo, layerData, creds{}), http.StatusCreated) })
	measure("push (docker.io, shadowed): config upload", 16, func() { ok(e.uploadBlob(repo, config, creds{}), http.StatusCreated) })
	measure("push (docker.io, shadowed): manifest PUT, two blobs", 9, func() {
		ok(e.do(http.MethodPut, "/v2/"+repo+"/manifests/1", manifest, creds{}, "Content-Type", string(mt)), http.StatusCreated)
	})
	local := "quay.io/org/app" // no upstream: plain local content
	measure("push (no upstream): blob upload", 13, func() { ok(e.uploadBlob(local, layerData, creds{}), http.StatusCreated) })
	ok(e.uploadBlob(local, config, creds{}), http.StatusCreated)
	measure("push (no upstream): manifest PUT, two blobs", 7, func() {
		ok(e.do(http.MethodPut, "/v2/"+local+"/manifests/1", manifest, creds{}, "Content-Type", string(mt)), http.StatusCreated)
	})
	via := "/v2/buildsets/c/" + repo
	measure("pull via 2 parents: manifest GET by tag", 4, func() {
		ok(e.do(http.MethodGet, via+"/manifests/1", nil, creds{}, "Accept", string(mt)), http.StatusOK)
	})
	measure("pull via 2 parents: config GET", 6, func() { ok(e.do(http.MethodGet, via+"/blobs/"+configDigest.String(), nil, creds{}), http.StatusOK) })
	measure("pull via 2 parents: layer GET", 6, func() { ok(e.do(http.MethodGet, via+"/blobs/"+layerDigest.String(), nil, creds{}), http.StatusOK) })

	// The upstream holds another image as library/up:1.
	up := randomImage(t, 1)
	upLayers, _ := up.Layers()
	upLayer, _ := upLayers[0].Digest()
	upType, _ := up.MediaType()
	upRef, err := name.ParseReference(strings.TrimPrefix(e.up.URL, "http://")+"/library/up:1", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(upRef, up); err != nil {
		t.Fatal(err)
	}
	for _, temp := range []string{"cold", "warm"} {
		measure("pull-through "+temp+": manifest GET by tag", map[string]int{"cold": 10, "warm": 5}[temp], func() {
			ok(e.do(http.MethodGet, "/v2/library/up/manifests/1", nil, creds{}, "Accept", string(upType)), http.StatusOK)
		})
		measure("pull-through "+temp+": layer GET", map[string]int{"cold": 6, "warm": 5}[temp], func() {
			ok(e.do(http.MethodGet, "/v2/library/up/blobs/"+upLayer.String(), nil, creds{}), http.StatusOK)
		})
	}
	for _, s := range steps {
		t.Logf("%-45s %3d requests (budget %3d): %s", s.op, s.requests, s.budget, formatCalls(s.calls))
		if s.requests > s.budget {
			t.Errorf("%s: %d modelled S3 requests, more than its budget of %d (%s)", s.op, s.requests, s.budget, formatCalls(s.calls))
		}
	}
}
