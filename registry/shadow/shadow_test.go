package shadow_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/shadowreg/shadowreg/registry/shadow"
)

var cached = shadow.Options{Cache: true, TagTTL: time.Minute}

func TestPullThroughFetchesOnceThenServesFromCache(t *testing.T) {
	t.Parallel()
	e := newEnv(t, cached)
	img := randomImage(t, 64<<10, 3)
	e.up.push(t, "library/app", "1", img)
	want, _ := img.Digest()
	e.up.resetCounts()

	for _, name := range []string{"library/app:1", "app:1", "docker.io/library/app:1"} {
		got, err := e.pull(context.Background(), name)
		if err != nil {
			t.Fatalf("pull %s: %v", name, err)
		}
		if got != want {
			t.Fatalf("pull %s: digest %s, want %s", name, got, want)
		}
	}
	// Every blob and the manifest came from upstream exactly once.
	layers, _ := img.Layers()
	for _, l := range layers {
		d, _ := l.Digest()
		if n := e.up.count("GET", "/v2/library/app/blobs/"+d.String()); n != 1 {
			t.Errorf("layer %s fetched %d times, want 1", d, n)
		}
	}
	if n := e.up.count("GET", "/v2/library/app/manifests/1"); n != 1 {
		t.Errorf("manifest fetched %d times by tag, want 1", n)
	}
	// The cache has the content, in the cache area only.
	blobs, _ := filepath.Glob(filepath.Join(e.dir, "areas", "cache", "repos", "docker.io", "library", "app", "_blobs", "sha256", "*"))
	if len(blobs) != 4 { // 3 layers and the config
		t.Errorf("cache links %d blobs, want 4", len(blobs))
	}
	if _, err := os.Stat(filepath.Join(e.dir, "areas", "shared", "repos", "docker.io", "library", "app")); !os.IsNotExist(err) {
		t.Errorf("fetched content appeared in the shared (local) area: %v", err)
	}
}

func TestConcurrentColdPullsMakeOneUpstreamRequestEach(t *testing.T) {
	t.Parallel()
	e := newEnv(t, cached)
	img := randomImage(t, 2<<20, 4)
	e.up.push(t, "library/big", "latest", img)
	want, _ := img.Digest()
	e.up.resetCounts()

	const clients = 50
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := e.pull(context.Background(), "library/big:latest")
			if err == nil && got != want {
				err = errDigest(got, want)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	layers, _ := img.Layers()
	cfg, _ := img.ConfigName()
	for _, d := range append(digests(t, layers), cfg) {
		if n := e.up.count("GET", "/v2/library/big/blobs/"+d.String()); n != 1 {
			t.Errorf("blob %s: %d upstream GETs for %d clients, want 1", d, n, clients)
		}
	}
	if n := e.up.count("GET", "/v2/library/big/manifests/latest"); n != 1 {
		t.Errorf("manifest: %d upstream GETs for %d clients, want 1", n, clients)
	}
}

func TestLocalPushShadowsUpstreamUntilDeleted(t *testing.T) {
	t.Parallel()
	e := newEnv(t, cached)
	upImg := randomImage(t, 1024, 1)
	e.up.push(t, "myorg/app", "1.0", upImg)
	upDigest, _ := upImg.Digest()

	// Pull once so the upstream tag is cached too: the local push must win
	// over the cache as well as over the upstream.
	if got, err := e.pull(context.Background(), "myorg/app:1.0"); err != nil || got != upDigest {
		t.Fatalf("first pull: %v %v", got, err)
	}
	local := randomImage(t, 1024, 2)
	if err := remote.Write(ref(t, e.host(), "docker.io/myorg/app:1.0"), local); err != nil {
		t.Fatal(err)
	}
	localDigest, _ := local.Digest()
	if n := e.up.count("PUT", "/v2/myorg/app/manifests/1.0"); n != 1 {
		t.Fatalf("a push wrote through to the upstream (%d PUTs, the setup's 1 expected)", n)
	}
	if got, err := e.pull(context.Background(), "myorg/app:1.0"); err != nil || got != localDigest {
		t.Fatalf("after the push: got %v (%v), want the local image %s", got, err, localDigest)
	}
	if err := remote.Delete(ref(t, e.host(), "myorg/app:1.0")); err != nil {
		t.Fatal(err)
	}
	if got, err := e.pull(context.Background(), "myorg/app:1.0"); err != nil || got != upDigest {
		t.Fatalf("after deleting the local tag: got %v (%v), want upstream's %s", got, err, upDigest)
	}
}

func TestTagsListIsTheUnion(t *testing.T) {
	t.Parallel()
	e := newEnv(t, cached)
	e.up.push(t, "library/u", "up-1", randomImage(t, 100, 1))
	e.up.push(t, "library/u", "both", randomImage(t, 100, 1))
	if err := remote.Write(ref(t, e.host(), "library/u:local-1"), randomImage(t, 100, 1)); err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref(t, e.host(), "library/u:both"), randomImage(t, 100, 1)); err != nil {
		t.Fatal(err)
	}
	tags, err := remote.List(ref(t, e.host(), "library/u").Context())
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(tags, ","); got != "both,local-1,up-1" {
		t.Fatalf("tags %s, want both,local-1,up-1", got)
	}
}

func TestCachedContentServedWhileUpstreamIsDown(t *testing.T) {
	t.Parallel()
	e := newEnv(t, cached)
	img := randomImage(t, 4096, 2)
	e.up.push(t, "library/app", "1", img)
	want, _ := img.Digest()
	if _, err := e.pull(context.Background(), "library/app:1"); err != nil {
		t.Fatal(err)
	}
	e.up.setDown(true)
	// Within the TTL: no upstream contact at all.
	e.up.resetCounts()
	if got, err := e.pull(context.Background(), "library/app:1"); err != nil || got != want {
		t.Fatalf("pull within TTL with upstream down: %v %v", got, err)
	}
	if n := e.up.count("HEAD", "/v2/library/app/manifests/1"); n != 0 {
		t.Fatalf("a fresh tag was revalidated (%d HEADs)", n)
	}
	// Past the TTL: revalidation fails, the tag is served stale.
	e.clock.Add(2 * time.Minute)
	if got, err := e.pull(context.Background(), "library/app:1"); err != nil || got != want {
		t.Fatalf("stale pull with upstream down: %v %v", got, err)
	}
	if n := e.up.count("HEAD", "/v2/library/app/manifests/1"); n == 0 {
		t.Fatalf("a stale tag was not revalidated")
	}
	// Content never fetched, with the upstream down: 502 naming it.
	resp, err := http.Get(e.srv.URL + "/v2/library/other/manifests/1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Errors []struct{ Code, Message string }
	}
	json.NewDecoder(resp.Body).Decode(&body)
	if resp.StatusCode != http.StatusBadGateway || len(body.Errors) != 1 || body.Errors[0].Code != "UNAVAILABLE" ||
		!strings.Contains(body.Errors[0].Message, e.up.URL) {
		t.Fatalf("upstream down, nothing cached: %d %+v, want 502 UNAVAILABLE naming %s", resp.StatusCode, body, e.up.URL)
	}
}

func TestTagRevalidatedAfterTTL(t *testing.T) {
	t.Parallel()
	e := newEnv(t, cached)
	first, second := randomImage(t, 512, 1), randomImage(t, 512, 1)
	d1, _ := first.Digest()
	d2, _ := second.Digest()
	e.up.push(t, "library/moving", "latest", first)
	if got, _ := e.pull(context.Background(), "library/moving:latest"); got != d1 {
		t.Fatalf("first pull %s, want %s", got, d1)
	}
	e.up.push(t, "library/moving", "latest", second)
	if got, _ := e.pull(context.Background(), "library/moving:latest"); got != d1 {
		t.Fatalf("within the TTL the cached tag must be served: got %s, want %s", got, d1)
	}
	e.clock.Add(2 * time.Minute)
	if got, err := e.pull(context.Background(), "library/moving:latest"); err != nil || got != d2 {
		t.Fatalf("after the TTL: got %s (%v), want the new %s", got, err, d2)
	}
}

func TestCorruptUpstreamBlobIsNeitherServedNorCached(t *testing.T) {
	t.Parallel()
	e := newEnv(t, cached)
	img := randomImage(t, 256<<10, 1)
	e.up.push(t, "library/bad", "1", img)
	layers, _ := img.Layers()
	bad, _ := layers[0].Digest()
	e.up.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodGet || !strings.HasSuffix(r.URL.Path, bad.String()) {
			return false
		}
		body := make([]byte, 256<<10+512) // wrong bytes; the length is not checked here
		w.Header().Set("Content-Length", "0")
		w.Header().Del("Content-Length")
		w.Write(body)
		return true
	})
	if _, err := e.pull(context.Background(), "library/bad:1"); err == nil {
		t.Fatal("a pull of a corrupt upstream blob succeeded")
	}
	assertNotCached(t, e, bad)

	// Same length, wrong bytes: the size check cannot catch it, the digest must.
	size, _ := layers[0].Size()
	e.up.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodGet || !strings.HasSuffix(r.URL.Path, bad.String()) {
			return false
		}
		w.Header().Set("Content-Length", itoa(size))
		w.Write(make([]byte, size))
		return true
	})
	if _, err := e.pull(context.Background(), "library/bad:1"); err == nil {
		t.Fatal("a pull of same-length wrong bytes succeeded")
	}
	assertNotCached(t, e, bad)

	// Once the upstream is healthy the blob pulls and is cached.
	e.up.setFault(nil)
	if _, err := e.pull(context.Background(), "library/bad:1"); err != nil {
		t.Fatalf("pull after the upstream healed: %v", err)
	}
	if _, err := os.Stat(blobFile(e, bad)); err != nil {
		t.Fatalf("the good blob was not cached: %v", err)
	}
}

func TestUpstreamDyingMidStreamLeavesNoCacheEntry(t *testing.T) {
	t.Parallel()
	e := newEnv(t, cached)
	img := randomImage(t, 1<<20, 1)
	e.up.push(t, "library/cut", "1", img)
	layers, _ := img.Layers()
	d, _ := layers[0].Digest()
	size, _ := layers[0].Size()
	e.up.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodGet || !strings.HasSuffix(r.URL.Path, d.String()) {
			return false
		}
		w.Header().Set("Content-Length", itoa(size))
		w.WriteHeader(http.StatusOK)
		w.Write(make([]byte, size/2))
		w.(http.Flusher).Flush()
		conn, buf, _ := w.(http.Hijacker).Hijack()
		buf.Flush()
		conn.Close() // the upstream dies half way
		return true
	})
	if _, err := e.pull(context.Background(), "library/cut:1"); err == nil {
		t.Fatal("a pull through a dying upstream succeeded")
	}
	assertNotCached(t, e, d)
}

func TestRangeOfColdBlob(t *testing.T) {
	t.Parallel()
	e := newEnv(t, cached)
	img := randomImage(t, 100000, 1)
	e.up.push(t, "library/r", "1", img)
	layers, _ := img.Layers()
	d, _ := layers[0].Digest()
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/v2/library/r/blobs/"+d.String(), nil)
	req.Header.Set("Range", "bytes=1000-1999")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got := make([]byte, 2000)
	n, _ := ioReadFull(bufio.NewReader(resp.Body), got)
	if resp.StatusCode != http.StatusPartialContent || n != 1000 {
		t.Fatalf("range of a cold blob: %d, %d bytes", resp.StatusCode, n)
	}
	rc, _ := layers[0].Compressed()
	all := make([]byte, 100000+1)
	m, _ := ioReadFull(rc, all)
	rc.Close()
	if m < 2000 || string(all[1000:2000]) != string(got[:1000]) {
		t.Fatalf("range bytes differ from the blob's")
	}
}

func TestMissMessages(t *testing.T) {
	t.Parallel()
	e := newEnv(t, cached)
	for _, tc := range []struct{ path, code, says string }{
		{"/v2/quay.io/org/img/manifests/1", "MANIFEST_UNKNOWN", "no upstream is configured for namespace quay.io"},
		{"/v2/library/none/manifests/1", "MANIFEST_UNKNOWN", "unknown here and in upstream docker.io"},
		{"/v2/quay.io/org/img/blobs/sha256:" + strings.Repeat("a", 64), "BLOB_UNKNOWN", "no upstream is configured"},
	} {
		resp, err := http.Get(e.srv.URL + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		var body struct {
			Errors []struct{ Code, Message string }
		}
		json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != 404 || len(body.Errors) != 1 || body.Errors[0].Code != tc.code || !strings.Contains(body.Errors[0].Message, tc.says) {
			t.Errorf("GET %s: %d %+v, want 404 %s saying %q", tc.path, resp.StatusCode, body, tc.code, tc.says)
		}
	}
}

func TestNotFoundModeNeverAsksUpstream(t *testing.T) {
	t.Parallel()
	e := newEnv(t, shadow.Options{Cache: true, NoFetch: true})
	e.up.push(t, "library/app", "1", randomImage(t, 100, 1))
	e.up.resetCounts()
	if _, err := e.pull(context.Background(), "library/app:1"); err == nil {
		t.Fatal("on-miss not-found fetched from upstream")
	}
	if n := e.up.count("GET", "/v2/library/app/manifests/1"); n != 0 {
		t.Fatalf("%d upstream requests with on-miss not-found", n)
	}
}

func TestCacheOffStoresNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, shadow.Options{Cache: false})
	img := randomImage(t, 4096, 2)
	e.up.push(t, "library/nc", "1", img)
	for range 2 {
		if _, err := e.pull(context.Background(), "library/nc:1"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(filepath.Join(e.dir, "areas", "cache")); !os.IsNotExist(err) {
		t.Fatalf("cache: false stored something: %v", err)
	}
	layers, _ := img.Layers()
	d, _ := layers[0].Digest()
	if n := e.up.count("GET", "/v2/library/nc/blobs/"+d.String()); n != 2 {
		t.Fatalf("without a cache each pull fetches: %d GETs, want 2", n)
	}
}

func assertNotCached(t *testing.T, e *env, d v1.Hash) {
	t.Helper()
	if _, err := os.Stat(blobFile(e, d)); !os.IsNotExist(err) {
		t.Fatalf("blob %s is in the store after a failed fetch (%v)", d, err)
	}
	spool, _ := filepath.Glob(filepath.Join(os.TempDir(), "shadowreg-fetch-*"+d.Hex))
	if len(spool) > 0 {
		t.Fatalf("spool files left behind: %v", spool)
	}
}

func blobFile(e *env, d v1.Hash) string {
	return filepath.Join(e.dir, "blobs", d.Algorithm, d.Hex[:2], d.Hex)
}

// TestServedReportsTheSource: every manifest read and blob GET is reported
// with where it came from: the upstream when cold, the cache when warm, the
// local push when there is one.
func TestServedReportsTheSource(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	counts := map[string]int{}
	opts := cached
	opts.Served = func(ns, kind, source string) {
		mu.Lock()
		counts[ns+" "+kind+" "+source]++
		mu.Unlock()
	}
	e := newEnv(t, opts)
	img := randomImage(t, 4096, 2)
	e.up.push(t, "library/app", "1", img)
	take := func() map[string]int {
		mu.Lock()
		defer mu.Unlock()
		c := counts
		counts = map[string]int{}
		return c
	}
	for i, want := range []string{"upstream", "cache"} {
		if _, err := e.pull(context.Background(), "library/app:1"); err != nil {
			t.Fatal(err)
		}
		got := take()
		// remote.Image reads the manifest once; the config and 2 layers are GETs.
		if got["docker.io blob "+want] != 3 || got["docker.io manifest "+want] < 1 || len(got) != 2 {
			t.Errorf("pull %d: served %v, want 3 blobs and the manifest from the %s only", i+1, got, want)
		}
	}
	// A different image: ggcr skips pushing a manifest that a HEAD says is
	// there already, and through the fall-through upstream's is.
	if err := remote.Write(ref(t, e.host(), "library/app:1"), randomImage(t, 4096, 2)); err != nil {
		t.Fatal(err)
	}
	take()
	if _, err := e.pull(context.Background(), "library/app:1"); err != nil {
		t.Fatal(err)
	}
	if got := take(); got["docker.io blob local"] != 3 || got["docker.io manifest local"] < 1 || len(got) != 2 {
		t.Errorf("pull after a local push: served %v, want everything from local", got)
	}
}
