package shadow_test

import (
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	ggcr "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/shadowreg/shadowreg/registry"
	"github.com/shadowreg/shadowreg/registry/shadow"
	"github.com/shadowreg/shadowreg/registry/upstream"
	"github.com/shadowreg/shadowreg/storage"
	"github.com/shadowreg/shadowreg/storage/driver/filesystem"
)

// fakeUpstream is a real registry (go-containerregistry's in-memory one)
// behind a wrapper that counts requests and can inject faults.
type fakeUpstream struct {
	*httptest.Server
	mu     sync.Mutex
	counts map[string]int // "GET /v2/…" → requests
	fault  func(w http.ResponseWriter, r *http.Request) bool
	down   bool // answer 503 to everything
}

func newFakeUpstream(t *testing.T) *fakeUpstream {
	u := &fakeUpstream{counts: map[string]int{}}
	reg := ggcr.New(ggcr.Logger(log.New(io.Discard, "", 0)))
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.counts[r.Method+" "+r.URL.Path]++
		fault, down := u.fault, u.down
		u.mu.Unlock()
		if down {
			http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
			return
		}
		if fault != nil && fault(w, r) {
			return
		}
		reg.ServeHTTP(w, r)
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *fakeUpstream) host() string { return strings.TrimPrefix(u.URL, "http://") }

func (u *fakeUpstream) count(method, path string) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.counts[method+" "+path]
}

func (u *fakeUpstream) resetCounts() {
	u.mu.Lock()
	u.counts = map[string]int{}
	u.mu.Unlock()
}

func (u *fakeUpstream) setFault(f func(w http.ResponseWriter, r *http.Request) bool) {
	u.mu.Lock()
	u.fault = f
	u.mu.Unlock()
}

func (u *fakeUpstream) setDown(down bool) {
	u.mu.Lock()
	u.down = down
	u.mu.Unlock()
}

// push writes img to the upstream as repo:tag.
func (u *fakeUpstream) push(t *testing.T, repo, tag string, img v1.Image) {
	t.Helper()
	if err := remote.Write(ref(t, u.host(), repo+":"+tag), img); err != nil {
		t.Fatalf("push to upstream: %v", err)
	}
}

// clock is a settable clock for tag TTLs.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// env is a shadowreg whose docker.io namespace falls through to an upstream.
type env struct {
	ns    *shadow.Namespace
	up    *fakeUpstream
	store *storage.Store
	srv   *httptest.Server
	clock *clock
	dir   string
}

func newEnv(t *testing.T, opts shadow.Options) *env {
	t.Helper()
	return newEnvRetrying(t, opts, upstream.Options{Retries: -1, Resumes: -1})
}

// newEnvRetrying is newEnv with the upstream client's retry options.
func newEnvRetrying(t *testing.T, opts shadow.Options, upOpts upstream.Options) *env {
	t.Helper()
	e := &env{up: newFakeUpstream(t), clock: &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}, dir: t.TempDir()}
	d, err := filesystem.New(e.dir)
	if err != nil {
		t.Fatal(err)
	}
	e.store = storage.New(d, storage.Options{Now: e.clock.Now})
	client, err := upstream.New("docker.io", upstream.Config{URL: e.up.URL}, upOpts)
	if err != nil {
		t.Fatal(err)
	}
	opts.Now = e.clock.Now
	ns := shadow.NewNamespace("docker.io", e.store, client, opts)
	e.ns = ns
	// Fetches outlive the clients that started them: let them finish
	// before the test's folders are removed.
	t.Cleanup(func() { ns.Drain(context.Background()) })
	router := registry.NewRouter(e.store, map[string]*shadow.Namespace{"docker.io": ns}, registry.RouterOptions{})
	e.srv = httptest.NewServer(registry.New(registry.Options{Resolver: router}))
	t.Cleanup(e.srv.Close)
	return e
}

func (e *env) host() string { return strings.TrimPrefix(e.srv.URL, "http://") }

func ref(t *testing.T, host, repo string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(host+"/"+repo, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// pull reads repo through shadowreg completely, verifying every layer, and
// returns the image digest.
func (e *env) pull(ctx context.Context, repoTag string) (v1.Hash, error) {
	r, err := name.ParseReference(e.host()+"/"+repoTag, name.Insecure)
	if err != nil {
		return v1.Hash{}, err
	}
	img, err := remote.Image(r, remote.WithContext(ctx))
	if err != nil {
		return v1.Hash{}, err
	}
	d, err := readImage(img)
	e.ns.Drain(ctx) // the fetches this pull started are cached now
	return d, err
}

// readImage reads every blob of img; remote layers verify their digest at
// the end of the stream.
func readImage(img v1.Image) (v1.Hash, error) {
	if _, err := img.RawConfigFile(); err != nil {
		return v1.Hash{}, err
	}
	layers, err := img.Layers()
	if err != nil {
		return v1.Hash{}, err
	}
	for _, l := range layers {
		rc, err := l.Compressed()
		if err != nil {
			return v1.Hash{}, err
		}
		_, err = io.Copy(io.Discard, rc)
		rc.Close()
		if err != nil {
			return v1.Hash{}, err
		}
	}
	return img.Digest()
}

func randomImage(t *testing.T, size int64, layers int64) v1.Image {
	t.Helper()
	img, err := random.Image(size, layers)
	if err != nil {
		t.Fatal(err)
	}
	return img
}
