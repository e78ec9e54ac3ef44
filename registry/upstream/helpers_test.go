package upstream

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
)

// fakeRegistry serves manifests, blobs and tags from memory, enough of the
// distribution API for the client. auth, when set, vets every request and
// answers for it when it returns false. hook, when set, may answer any
// request first (fault injection).
type fakeRegistry struct {
	mu        sync.Mutex
	manifests map[string]fakeManifest // by "repo/manifests/ref"
	blobs     map[digest.Digest][]byte
	tags      map[string][]string
	auth      func(w http.ResponseWriter, r *http.Request) bool
	hook      func(w http.ResponseWriter, r *http.Request) bool
	log       []*http.Request
	realm     string // token endpoint, when behind the token flow
}

type fakeManifest struct {
	data        []byte
	contentType string
}

func newFakeRegistry() *fakeRegistry {
	return &fakeRegistry{manifests: map[string]fakeManifest{}, blobs: map[digest.Digest][]byte{}, tags: map[string][]string{}}
}

// addManifest stores data under repo's tag (if any) and digest.
func (f *fakeRegistry) addManifest(repo, tag, contentType string, data []byte) digest.Digest {
	f.mu.Lock()
	defer f.mu.Unlock()
	d := digest.FromBytes(data)
	m := fakeManifest{data: data, contentType: contentType}
	f.manifests[repo+"/manifests/"+d.String()] = m
	if tag != "" {
		f.manifests[repo+"/manifests/"+tag] = m
		f.tags[repo] = append(f.tags[repo], tag)
	}
	return d
}

func (f *fakeRegistry) addBlob(data []byte) digest.Digest {
	f.mu.Lock()
	defer f.mu.Unlock()
	d := digest.FromBytes(data)
	f.blobs[d] = data
	return d
}

// requests returns the requests seen so far (clones: safe to inspect).
func (f *fakeRegistry) requests() []*http.Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*http.Request(nil), f.log...)
}

// count counts the requests whose "METHOD path" contains s.
func (f *fakeRegistry) count(s string) int {
	n := 0
	for _, r := range f.requests() {
		if strings.Contains(r.Method+" "+r.URL.Path, s) {
			n++
		}
	}
	return n
}

func (f *fakeRegistry) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.log = append(f.log, r.Clone(context.Background()))
	hook, auth := f.hook, f.auth
	f.mu.Unlock()
	if hook != nil && hook(w, r) {
		return
	}
	if auth != nil && !auth(w, r) {
		return
	}
	path, ok := strings.CutPrefix(r.URL.Path, "/v2/")
	if !ok {
		registryError(w, http.StatusNotFound, "NOT_FOUND", "no route")
		return
	}
	switch {
	case strings.Contains(path, "/manifests/"):
		f.mu.Lock()
		m, ok := f.manifests[path]
		f.mu.Unlock()
		if !ok {
			registryError(w, http.StatusNotFound, "MANIFEST_UNKNOWN", "manifest unknown")
			return
		}
		if m.contentType != "" {
			w.Header().Set("Content-Type", m.contentType)
		}
		w.Header().Set("Docker-Content-Digest", digest.FromBytes(m.data).String())
		w.Header().Set("Content-Length", fmt.Sprint(len(m.data)))
		if r.Method == http.MethodGet {
			w.Write(m.data)
		}
	case strings.Contains(path, "/blobs/"):
		i := strings.LastIndex(path, "/")
		f.mu.Lock()
		data, ok := f.blobs[digest.Digest(path[i+1:])]
		f.mu.Unlock()
		if !ok {
			registryError(w, http.StatusNotFound, "BLOB_UNKNOWN", "blob unknown")
			return
		}
		w.Header().Set("Docker-Content-Digest", path[i+1:])
		// ServeContent implements Range (206, Content-Range) like real registries.
		http.ServeContent(w, r, "", time.Time{}, strings.NewReader(string(data)))
	case strings.HasSuffix(path, "/tags/list"):
		repo := strings.TrimSuffix(path, "/tags/list")
		f.mu.Lock()
		tags, ok := f.tags[repo]
		f.mu.Unlock()
		if !ok {
			registryError(w, http.StatusNotFound, "NAME_UNKNOWN", "repository name not known to registry")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"name": repo, "tags": tags})
	default:
		registryError(w, http.StatusNotFound, "NOT_FOUND", "no route")
	}
}

func registryError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]string{{"code": code, "message": msg}}})
}

// sleeps records the waits of a client instead of sleeping them.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.d = append(s.d, d)
	s.mu.Unlock()
	return ctx.Err()
}

func (s *sleeps) all() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.d...)
}

// clock is a settable clock for token expiry.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// testClient returns a client of url for namespace "test.io" whose waits
// are recorded, not slept.
func testClient(t *testing.T, url string, cfg Config, opts Options) (*Client, *sleeps) {
	t.Helper()
	cfg.URL = url
	if opts.Backoff == 0 {
		opts.Backoff = time.Millisecond
	}
	c, err := New("test.io", cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	s := &sleeps{}
	c.sleep = s.sleep
	return c, s
}

func serve(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

const ociManifest = `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",` +
	`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}`
