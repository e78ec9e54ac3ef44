package registry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	ggcr "github.com/google/go-containerregistry/pkg/registry"
	"github.com/opencontainers/go-digest"
	"github.com/shadowreg/shadowreg/registry"
	"github.com/shadowreg/shadowreg/registry/buildset"
	"github.com/shadowreg/shadowreg/registry/shadow"
	"github.com/shadowreg/shadowreg/registry/upstream"
	"github.com/shadowreg/shadowreg/storage"
	"github.com/shadowreg/shadowreg/storage/driver/faulty"
	"github.com/shadowreg/shadowreg/storage/driver/filesystem"
)

// TestChaos drives pushes, pulls through buildset chains and through the
// upstream cache, garbage collection and promotion while the storage below
// fails at random (unavailable, timeouts, short reads, a full disk) and the
// upstream misbehaves (5xx, corrupt bytes, cut streams). It asserts the
// invariants of the trust model:
//   - every 2xx answer is exactly right: a manifest is the one its overlay
//     chain says, a blob's bytes match its digest;
//   - a failure is an error (5xx), never a "not found" for content that was
//     acknowledged, never a fall back to another area's image;
//   - everything acknowledged is readable, whole, once the faults stop;
//   - no goroutines or file descriptors are left growing.
func TestChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("chaos run: not in -short")
	}
	c := newChaos(t)
	c.setup()
	baseG, baseFD := runtime.NumGoroutine(), openFDs()

	c.faults.SetRule(faulty.Random(11, 0.08, faulty.Unavailable, faulty.Timeout, faulty.ShortRead, faulty.NoSpace))
	c.up.faultRate.Store(20) // percent of upstream requests
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() { defer wg.Done(); c.worker(w, 60) }()
	}
	wg.Add(1)
	go func() { defer wg.Done(); c.collector(8) }()
	wg.Wait()
	calls, faulted := c.faults.Stats()

	// The faults stop: everything acknowledged must be there, whole.
	c.faults.SetRule(nil)
	c.up.faultRate.Store(0)
	c.verifyAll()

	c.client.CloseIdleConnections()
	c.ns.Drain(context.Background())
	settled := func() bool { return runtime.NumGoroutine() <= baseG+8 && openFDs() <= baseFD+8 }
	for i := 0; i < 50 && !settled(); i++ {
		time.Sleep(100 * time.Millisecond)
	}
	if g, fd := runtime.NumGoroutine(), openFDs(); !settled() {
		t.Errorf("left growing: goroutines %d → %d, file descriptors %d → %d", baseG, g, baseFD, fd)
	}
	t.Logf("chaos: %d storage calls, %d faulted; %d upstream requests, %d misbehaved; %d answers checked (%d 2xx, %d errors); %d wrong answers",
		calls, faulted, c.up.requests.Load(), c.up.faulted.Load(), c.checked.Load(), c.ok.Load(), c.failed.Load(), c.wrong.Load())
	if faulted < 50 || c.up.faulted.Load() < 10 || c.ok.Load() < 100 || c.failed.Load() < 10 {
		t.Errorf("the run did not exercise enough: %d faulted calls, %d upstream faults, %d 2xx, %d errors", faulted, c.up.faulted.Load(), c.ok.Load(), c.failed.Load())
	}
}

type chaos struct {
	t      *testing.T
	srv    *httptest.Server
	client *http.Client
	faults *faulty.Driver
	store  *storage.Store
	mgr    *buildset.Manager
	ns     *shadow.Namespace
	up     *badUpstream

	mu    sync.Mutex
	tags  map[string]*tagState // "<prefix>/<repo>:<tag>" as pulled → expected state
	known []string             // keys of tags, for readers to pick from

	checked, ok, failed, wrong atomic.Int64
}

// tagState is what a tag may resolve to.
type tagState struct {
	digest string // the manifest it must be
	maybe  bool   // its push failed: it may also be missing
	blobs  map[string]int
}

func newChaos(t *testing.T) *chaos {
	fs, err := filesystem.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	drv := faulty.New(fs, nil)
	c := &chaos{t: t, faults: faulty.Of(drv), tags: map[string]*tagState{}}
	c.faults.Hang = 300 * time.Millisecond
	c.store = storage.New(drv, storage.Options{})
	// A clock that runs 3 s per reading: the manager's metadata cache
	// (2 s) never answers, so every chain is read from the faulty storage.
	var ticks atomic.Int64
	start := time.Now()
	now := func() time.Time { return start.Add(time.Duration(ticks.Add(1)) * 3 * time.Second) }
	c.mgr = buildset.NewManager(c.store, buildset.Options{DefaultTTL: 10000 * time.Hour, Now: now})
	c.up = newBadUpstream(t)
	client, err := upstream.New("docker.io", upstream.Config{URL: c.up.srv.URL}, upstream.Options{Retries: 1})
	if err != nil {
		t.Fatal(err)
	}
	c.ns = shadow.NewNamespace("docker.io", c.store, client, shadow.Options{Cache: true, SpoolDir: t.TempDir()})
	t.Cleanup(func() { c.ns.Drain(context.Background()); c.ns.Stop() })
	router := registry.NewRouter(c.store, map[string]*shadow.Namespace{"docker.io": c.ns}, registry.RouterOptions{Buildsets: c.mgr})
	c.srv = httptest.NewServer(registry.New(registry.Options{Resolver: router, ClientIdleTimeout: 5 * time.Second,
		Handlers: map[string]http.Handler{registry.AdminPrefix + "/*": registry.NewAdmin(registry.AdminOptions{
			Buildsets: c.mgr, Store: c.store, Collect: storage.CollectOptions{Grace: time.Millisecond}})}}))
	t.Cleanup(c.srv.Close)
	c.client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	return c
}

// setup makes the overlay chain with a shadowed tag, without faults:
// org/app:shadow is S in the shared area, A in gate-a; gate-c stacks on
// gate-a, gate-b on nothing.
func (c *chaos) setup() {
	for _, b := range []struct {
		id      string
		parents []string
	}{{"gate-a", nil}, {"gate-b", nil}, {"gate-c", []string{"gate-a"}}} {
		body, _ := json.Marshal(map[string]any{"id": b.id, "parents": b.parents})
		resp, err := c.client.Post(c.srv.URL+registry.AdminPrefix+"/buildsets", "application/json", bytes.NewReader(body))
		if err != nil || resp.StatusCode != http.StatusCreated {
			c.t.Fatalf("create %s: %v %v", b.id, err, resp)
		}
		resp.Body.Close()
	}
	s := c.push("", "org/app", "shadow", 1)
	a := c.push("buildsets/gate-a/", "org/app", "shadow", 2)
	if s == nil || a == nil {
		c.t.Fatal("setup pushes failed without faults")
	}
	c.expect("", "org/app:shadow", s)
	c.expect("buildsets/gate-b/", "org/app:shadow", s)
	c.expect("buildsets/gate-a/", "org/app:shadow", a)
	c.expect("buildsets/gate-c/", "org/app:shadow", a) // never S: that would be a parent silently dropped
	for i := range 3 {
		c.expect("", fmt.Sprintf("upstream/app:%d", i), c.up.images[i])
	}
}

func (c *chaos) expect(prefix, repoTag string, st *tagState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	key := prefix + repoTag
	if _, ok := c.tags[key]; !ok {
		c.known = append(c.known, key)
	}
	c.tags[key] = st
}

// worker pushes into the shared area and buildsets, pulls what is known,
// and promotes, ops times.
func (c *chaos) worker(w, ops int) {
	rng := rand.New(rand.NewPCG(uint64(w), 7))
	prefixes := []string{"", "buildsets/gate-a/", "buildsets/gate-b/", "buildsets/gate-c/"}
	for i := range ops {
		switch op := rng.IntN(10); {
		case op < 3:
			p := prefixes[rng.IntN(len(prefixes))]
			tag := fmt.Sprintf("w%d-%d", w, i)
			if st := c.push(p, "org/app", tag, rng.IntN(3)+1); st != nil {
				c.expect(p, "org/app:"+tag, st)
			}
		case op < 9:
			c.mu.Lock()
			key := c.known[rng.IntN(len(c.known))]
			if rng.IntN(3) == 0 { // the shadowed tag and the upstream's: set up first
				key = c.known[rng.IntN(7)]
			}
			st := c.tags[key]
			c.mu.Unlock()
			c.pull(key, st)
		default:
			c.promote(w, i, rng)
		}
	}
}

// collector runs garbage collections while the workers run.
func (c *chaos) collector(runs int) {
	for range runs {
		c.mgr.Collect(context.Background(), storage.CollectOptions{Grace: time.Millisecond})
		time.Sleep(50 * time.Millisecond)
	}
}

// promote pushes a unique tag into a new buildset and promotes it.
func (c *chaos) promote(w, i int, rng *rand.Rand) {
	id := fmt.Sprintf("promo-%d-%d", w, i)
	body, _ := json.Marshal(map[string]any{"id": id})
	resp, err := c.client.Post(c.srv.URL+registry.AdminPrefix+"/buildsets", "application/json", bytes.NewReader(body))
	if err != nil {
		return
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return
	}
	tag := fmt.Sprintf("p%d-%d", w, i)
	st := c.push("buildsets/"+id+"/", "org/promo", tag, 1)
	if st == nil {
		return
	}
	c.expect("buildsets/"+id+"/", "org/promo:"+tag, st)
	resp, err = c.client.Post(c.srv.URL+registry.AdminPrefix+"/buildsets/"+id+"/promote", "application/json", nil)
	shared := *st
	if err != nil || resp.StatusCode/100 != 2 {
		shared.maybe = true // it may have been promoted before the error
	}
	if resp != nil {
		resp.Body.Close()
	}
	c.expect("", "org/promo:"+tag, &shared)
}

// push uploads an image of n random layers into prefix+repo:tag through the
// OCI API. It returns the image's state when the manifest PUT was
// acknowledged, a maybe-state when the PUT failed, nil when it was never
// sent.
func (c *chaos) push(prefix, repo, tag string, n int) *tagState {
	st := &tagState{blobs: map[string]int{}}
	var layers []map[string]any
	for range n {
		data := make([]byte, 1024+rand.IntN(96<<10))
		for j := range data {
			data[j] = byte(rand.Uint32())
		}
		d := digest.FromBytes(data).String()
		if !c.upload(prefix+repo, d, data) {
			return nil
		}
		st.blobs[d] = len(data)
		layers = append(layers, map[string]any{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d, "size": len(data)})
	}
	config := []byte(fmt.Sprintf(`{"architecture":"amd64","os":"linux","tag":%q}`, prefix+repo+tag))
	cd := digest.FromBytes(config).String()
	if !c.upload(prefix+repo, cd, config) {
		return nil
	}
	st.blobs[cd] = len(config)
	m, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
		"config": map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": len(config)},
		"layers": layers})
	st.digest = digest.FromBytes(m).String()
	req, _ := http.NewRequest(http.MethodPut, c.srv.URL+"/v2/"+prefix+repo+"/manifests/"+tag, bytes.NewReader(m))
	req.Header.Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
	resp, err := c.client.Do(req)
	if err != nil {
		st.maybe = true
		return st
	}
	defer resp.Body.Close()
	c.count(resp.StatusCode)
	if resp.StatusCode != http.StatusCreated {
		c.badStatus("PUT manifest "+prefix+repo+":"+tag, resp.StatusCode, false)
		st.maybe = true
		return st
	}
	if got := resp.Header.Get("Docker-Content-Digest"); got != st.digest {
		c.fail("PUT %s%s:%s acknowledged %s, pushed %s", prefix, repo, tag, got, st.digest)
	}
	return st
}

func (c *chaos) upload(repo, d string, data []byte) bool {
	resp, err := c.client.Post(c.srv.URL+"/v2/"+repo+"/blobs/uploads/?digest="+d, "application/octet-stream", bytes.NewReader(data))
	if err != nil {
		return false
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	c.count(resp.StatusCode)
	if resp.StatusCode != http.StatusCreated {
		c.badStatus("upload "+repo, resp.StatusCode, false)
		return false
	}
	return true
}

// pull reads key (prefix/repo:tag) and checks what it gets against st.
func (c *chaos) pull(key string, st *tagState) {
	i := strings.LastIndex(key, ":")
	name, tag := key[:i], key[i+1:]
	req, _ := http.NewRequest(http.MethodGet, c.srv.URL+"/v2/"+name+"/manifests/"+tag, nil)
	req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json")
	resp, err := c.client.Do(req)
	if err != nil {
		return
	}
	body, rerr := io.ReadAll(resp.Body)
	resp.Body.Close()
	c.count(resp.StatusCode)
	if resp.StatusCode != http.StatusOK {
		c.badStatus("GET manifest "+key, resp.StatusCode, !st.maybe)
		return
	}
	if rerr != nil {
		return // an aborted body is an error, not an answer
	}
	if got := digest.FromBytes(body).String(); got != st.digest {
		c.fail("GET %s: manifest %s, the overlay chain says %s", key, got, st.digest)
		return
	}
	for d, size := range st.blobs {
		c.pullBlob(name, d, size, !st.maybe)
	}
}

func (c *chaos) pullBlob(repo, d string, size int, mustExist bool) {
	resp, err := c.client.Get(c.srv.URL + "/v2/" + repo + "/blobs/" + d)
	if err != nil {
		return
	}
	data, rerr := io.ReadAll(resp.Body)
	resp.Body.Close()
	c.count(resp.StatusCode)
	if resp.StatusCode != http.StatusOK {
		c.badStatus("GET blob "+repo+"@"+d, resp.StatusCode, mustExist)
		return
	}
	if rerr != nil {
		return // aborted: the client sees an error
	}
	if digest.FromBytes(data).String() != d || len(data) != size {
		c.fail("GET blob %s@%s: 200 with %d bytes of %s", repo, d, len(data), digest.FromBytes(data).String())
	}
}

// verifyAll pulls everything acknowledged, faults off: it must all be there.
func (c *chaos) verifyAll() {
	c.mu.Lock()
	keys := append([]string(nil), c.known...)
	c.mu.Unlock()
	for _, key := range keys {
		c.mu.Lock()
		st := c.tags[key]
		c.mu.Unlock()
		if st.maybe {
			continue
		}
		before := c.wrong.Load() + c.failed.Load()
		c.pull(key, st)
		if c.wrong.Load()+c.failed.Load() != before {
			c.fail("after the faults stopped, acknowledged %s is not whole", key)
		}
	}
}

func (c *chaos) count(status int) {
	c.checked.Add(1)
	if status/100 == 2 {
		c.ok.Add(1)
	} else {
		c.failed.Add(1)
	}
}

// badStatus judges a failed answer: 5xx (and 507) are the fail-closed
// answers to faults; a 404 for content that must exist is a wrong answer,
// as is any other 4xx.
func (c *chaos) badStatus(what string, status int, mustExist bool) {
	switch {
	case status >= 500:
	case status == http.StatusNotFound && !mustExist:
	case status == http.StatusBadRequest && strings.HasPrefix(what, "PUT manifest"):
		// MANIFEST_BLOB_UNKNOWN: a blob uploaded for it was lost to a fault
		// or collected first; refused, not acknowledged.
	default:
		c.fail("%s: %d", what, status)
	}
}

func (c *chaos) fail(format string, args ...any) {
	c.wrong.Add(1)
	c.t.Errorf("wrong answer: "+format, args...)
}

func openFDs() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return 0
	}
	return len(ents)
}

// badUpstream is a real registry (go-containerregistry's) that misbehaves
// on a share of requests: 503s, corrupt bytes of the right length, cut
// streams.
type badUpstream struct {
	srv               *httptest.Server
	faultRate         atomic.Int32 // percent
	requests, faulted atomic.Int64
	images            []*tagState
}

func newBadUpstream(t *testing.T) *badUpstream {
	u := &badUpstream{}
	reg := ggcr.New(ggcr.Logger(log.New(io.Discard, "", 0)))
	var seq atomic.Uint64
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.requests.Add(1)
		n := seq.Add(1)
		rate := uint64(u.faultRate.Load())
		if rate == 0 || (n*2654435761)%100 >= rate {
			reg.ServeHTTP(w, r)
			return
		}
		u.faulted.Add(1)
		rec := httptest.NewRecorder()
		reg.ServeHTTP(rec, r)
		body := rec.Body.Bytes()
		switch {
		case n%3 == 0 || len(body) < 2:
			http.Error(w, "upstream overloaded", http.StatusServiceUnavailable)
		case n%3 == 1: // same length, wrong bytes
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.Code)
			bad := bytes.Clone(body)
			bad[len(bad)/2] ^= 0xff
			w.Write(bad)
		default: // cut half way
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.Code)
			w.Write(body[:len(body)/2])
			if hj, ok := w.(http.Hijacker); ok {
				conn, buf, err := hj.Hijack()
				if err == nil {
					buf.Flush()
					conn.Close()
				}
			}
		}
	}))
	t.Cleanup(u.srv.Close)
	for i := range 3 {
		u.images = append(u.images, u.pushImage(t, fmt.Sprintf("upstream/app:%d", i)))
	}
	return u
}

// pushImage writes a small image to the upstream (no faults yet).
func (u *badUpstream) pushImage(t *testing.T, repoTag string) *tagState {
	i := strings.LastIndex(repoTag, ":")
	repo, tag := repoTag[:i], repoTag[i+1:]
	st := &tagState{blobs: map[string]int{}}
	put := func(data []byte) string {
		d := digest.FromBytes(data).String()
		resp, err := http.Post(u.srv.URL+"/v2/"+repo+"/blobs/uploads/?digest="+d, "application/octet-stream", bytes.NewReader(data))
		if err != nil || resp.StatusCode != http.StatusCreated {
			t.Fatalf("upstream upload: %v %v", err, resp)
		}
		resp.Body.Close()
		st.blobs[d] = len(data)
		return d
	}
	layer := bytes.Repeat([]byte(repoTag), 4096)
	ld := put(layer)
	config := []byte(fmt.Sprintf(`{"architecture":"amd64","os":"linux","upstream":%q}`, repoTag))
	cd := put(config)
	m, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
		"config": map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": len(config)},
		"layers": []map[string]any{{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": ld, "size": len(layer)}}})
	req, _ := http.NewRequest(http.MethodPut, u.srv.URL+"/v2/"+repo+"/manifests/"+tag, bytes.NewReader(m))
	req.Header.Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("upstream manifest: %v %v", err, resp)
	}
	resp.Body.Close()
	st.digest = digest.FromBytes(m).String()
	return st
}
