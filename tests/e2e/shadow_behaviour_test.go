package e2e

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestShadowConcurrentColdPulls: 50 clients pull one multi-layer image
// (the linux/amd64 image of an index) through shadowreg at the same moment,
// none of it cached yet, under the three names of one docker.io repository
// (big, library/big, docker.io/library/big). Every client gets the whole
// image, verified; the upstream (Basic auth) sees exactly one GET of each
// blob and of each manifest: the tag once, the image's manifest by digest
// once, the index by digest never. A warm pull afterwards asks it nothing.
func TestShadowConcurrentColdPulls(t *testing.T) {
	t.Parallel()
	up := startUpstream(t, upstreamOptions{User: "hubuser", Password: "hub-secret"})
	srv := startShadow(t, shadowUpstream{NS: "docker.io", Up: up})
	idx := newIndex(t, formatOCI, 4, 1<<20, 1001, "linux/amd64", "linux/arm64/v8")
	up.push("library/big", "1", idx)
	img := childOf(t, idx, "amd64")
	imgDigest := manifestDigest(t, img)
	up.settle()
	mark := len(up.Requests())

	const clients = 50
	names := []string{"big", "library/big", "docker.io/library/big"}
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients, DisableCompression: true}}
	ctx := testContext(t, 2*time.Minute)
	start := make(chan struct{})
	errs := make([]error, clients)
	var wg sync.WaitGroup
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			ref := srv.Ref(names[i%len(names)] + ":1")
			d, err := pullImage(ctx, hc, ref)
			if err == nil && d != imgDigest {
				err = fmt.Errorf("got image %s, want %s", d, imgDigest)
			}
			if err != nil {
				errs[i] = fmt.Errorf("client %d pulling %s: %w", i, ref, err)
			}
		}()
	}
	began := time.Now()
	close(start)
	wg.Wait()
	t.Logf("%d concurrent cold pulls of %s took %v", clients, imgDigest, time.Since(began))
	for _, err := range errs {
		if err != nil {
			t.Error(err)
		}
	}

	up.settle()
	check := func(method, path string, want int) {
		t.Helper()
		if n := up.countSince(mark, method, path); n != want {
			t.Errorf("upstream: %d × %s %s, want %d", n, method, path, want)
		}
	}
	check("GET", "/v2/library/big/manifests/1", 1)
	check("GET", "/v2/library/big/manifests/"+imgDigest, 1)
	check("GET", "/v2/library/big/manifests/"+manifestDigest(t, idx), 0)
	for _, d := range blobDigests(t, img) {
		check("GET", "/v2/library/big/blobs/"+d, 1)
	}
	summary := map[string]int{}
	for _, e := range up.requestsSince(mark) {
		p, _, _ := strings.Cut(e.Path, "?")
		if !strings.HasPrefix(p, "/v2/library/big/") && p != "/v2/" {
			t.Errorf("upstream: unexpected request %s %s (%d)", e.Method, e.Path, e.Status)
		}
		kind := "other"
		switch {
		case strings.Contains(p, "/blobs/"):
			kind = "blob"
		case strings.Contains(p, "/manifests/"):
			kind = "manifest"
		}
		summary[fmt.Sprintf("%s %s %d", e.Method, kind, e.Status)]++
	}
	t.Logf("upstream requests during the cold pulls: %v", summary)
	// The metrics say where the blob GETs were served from: each client's
	// from the fetch under way (upstream), or, had it come late, the cache.
	blobGETs := float64(clients * len(blobDigests(t, img)))
	fromUp := metricValue(t, srv.URL, `shadowreg_served_total{kind="blob",namespace="docker.io",source="upstream"}`)
	fromCache := max(0, metricValue(t, srv.URL, `shadowreg_served_total{kind="blob",namespace="docker.io",source="cache"}`))
	if fromUp < float64(len(blobDigests(t, img))) || fromUp+fromCache != blobGETs {
		t.Errorf("shadowreg_served_total: %v blob GETs from upstream, %v from the cache; want %v in all, at least %d from upstream",
			fromUp, fromCache, blobGETs, len(blobDigests(t, img)))
	}

	// Warm: everything from the cache.
	mark = len(up.Requests())
	if _, err := pullImage(ctx, hc, srv.Ref("library/big@"+imgDigest)); err != nil {
		t.Errorf("warm pull by digest: %v", err)
	}
	up.settle()
	for _, e := range up.requestsSince(mark) {
		t.Errorf("upstream asked %s %s during a pull of cached content by digest", e.Method, e.Path)
	}
	for _, d := range blobDigests(t, img) {
		if !waitBlobStored(t, srv.DataDir, d, 10*time.Second) {
			t.Errorf("blob %s was pulled but is not in the cache (%s)", d, blobFile(srv.DataDir, d))
		}
	}
	if left := waitNoSpoolFiles(t, srv.DataDir, 10*time.Second); len(left) > 0 {
		t.Errorf("spool files left after the fetches ended: %v", left)
	}
}

// TestShadowTagsUnion: tags/list of a shadowed repository is the union of
// the local tags and the upstream's; a pushed tag hides the upstream's tag
// of the same name; deleting the local tag reveals the upstream's again.
func TestShadowTagsUnion(t *testing.T) {
	t.Parallel()
	up := startUpstream(t, upstreamOptions{})
	srv := startShadow(t, shadowUpstream{NS: "quay.io", Up: up})
	rc := newRegClient(t, srv)
	ua := newImage(t, formatOCI, 1, 8<<10, "linux/amd64", 1101)
	ub := newImage(t, formatOCI, 1, 8<<10, "linux/amd64", 1102)
	lb := newImage(t, formatDocker, 1, 8<<10, "linux/amd64", 1103)
	lc := newImage(t, formatOCI, 1, 8<<10, "linux/amd64", 1104)
	up.push("org/app", "a", ua)
	up.push("org/app", "b", ub)
	rc.pushContent("quay.io/org/app", "b", lb)
	rc.pushContent("quay.io/org/app", "c", lc)

	expectTags := func(want ...string) {
		t.Helper()
		got := rc.tagList("quay.io/org/app")
		if !slices.Equal(got, want) {
			t.Errorf("tags/list of quay.io/org/app = %q, want %q (local tags and the upstream's)", got, want)
		}
	}
	expectDigest := func(tag, want, what string) {
		t.Helper()
		resp := rc.getManifest("quay.io/org/app", tag)
		if resp.Status != http.StatusOK || sha256Digest(resp.Body) != want {
			t.Errorf("GET quay.io/org/app:%s: %d, manifest %s, want 200 %s (%s)", tag, resp.Status, sha256Digest(resp.Body), want, what)
		}
	}
	expectTags("a", "b", "c")
	expectDigest("a", manifestDigest(t, ua), "the upstream's a")
	expectDigest("b", manifestDigest(t, lb), "the pushed b, which hides the upstream's")
	expectDigest("c", manifestDigest(t, lc), "the pushed c")

	resp := rc.must("DELETE", "/v2/quay.io/org/app/manifests/b", nil, nil)
	if resp.Status != http.StatusAccepted {
		t.Fatalf("DELETE the local tag b: want 202, got %s", resp)
	}
	expectDigest("b", manifestDigest(t, ub), "the upstream's b, revealed by deleting the local tag")
	expectTags("a", "b", "c")
	// The pushed manifest is still there by digest.
	expectDigest(manifestDigest(t, lb), manifestDigest(t, lb), "the pushed manifest, by digest")

	resp = rc.must("DELETE", "/v2/quay.io/org/app/manifests/c", nil, nil)
	if resp.Status != http.StatusAccepted {
		t.Fatalf("DELETE the local tag c: want 202, got %s", resp)
	}
	expectTags("a", "b")
	if resp := rc.getManifest("quay.io/org/app", "c"); resp.Status != http.StatusNotFound {
		t.Errorf("GET the deleted tag c (the upstream has none): want 404, got %s", resp)
	}
}

// faultProxy is a reverse proxy in front of an upstream that can break the
// GETs of chosen blobs: send wrong bytes, or cut the stream.
type faultProxy struct {
	*httptest.Server
	target *url.URL
	rp     *httputil.ReverseProxy

	mu       sync.Mutex
	corrupt  map[string]bool // digest: flip a byte in the middle
	truncate map[string]bool // digest: send half of the body, then drop the connection
	hits     map[string]int  // blob GETs seen, by digest
}

var blobPathRE = regexp.MustCompile(`^/v2/.+/blobs/(sha256:[0-9a-f]{64})$`)

func newFaultProxy(t *testing.T, up *upstreamRegistry) *faultProxy {
	t.Helper()
	target, err := url.Parse(up.URL)
	if err != nil {
		t.Fatal(err)
	}
	p := &faultProxy{target: target, rp: httputil.NewSingleHostReverseProxy(target),
		corrupt: map[string]bool{}, truncate: map[string]bool{}, hits: map[string]int{}}
	p.Server = httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(p.Close)
	return p
}

func (p *faultProxy) set(digest string, corrupt, truncate bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.corrupt[digest], p.truncate[digest] = corrupt, truncate
}

func (p *faultProxy) blobHits(digest string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.hits[digest]
}

func (p *faultProxy) serve(w http.ResponseWriter, r *http.Request) {
	m := blobPathRE.FindStringSubmatch(r.URL.Path)
	if m == nil || r.Method != http.MethodGet {
		p.rp.ServeHTTP(w, r)
		return
	}
	d := m[1]
	p.mu.Lock()
	p.hits[d]++
	corrupt, truncate := p.corrupt[d], p.truncate[d]
	p.mu.Unlock()
	if !corrupt && !truncate {
		p.rp.ServeHTTP(w, r)
		return
	}
	out := r.Clone(r.Context())
	out.RequestURI = ""
	out.URL.Scheme, out.URL.Host, out.Host = p.target.Scheme, p.target.Host, p.target.Host
	resp, err := http.DefaultTransport.RoundTrip(out)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	for k, vs := range resp.Header {
		w.Header()[k] = vs
	}
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusPartialContent {
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
		return
	}
	w.WriteHeader(resp.StatusCode)
	if corrupt {
		b, _ := io.ReadAll(resp.Body)
		if len(b) > 0 {
			b[len(b)/2] ^= 0xff
		}
		w.Write(b)
		return
	}
	// Half of what was announced, then the connection drops.
	io.CopyN(w, resp.Body, resp.ContentLength/2)
	w.(http.Flusher).Flush()
	panic(http.ErrAbortHandler)
}

// rawBlobGET GETs a blob from shadowreg and reads the body to the end: it
// returns an error unless the whole body came, with the status.
func rawBlobGET(rc *regClient, repo, digest string) (int, int, error) {
	req, err := http.NewRequest("GET", rc.resolve("/v2/"+repo+"/blobs/"+digest), nil)
	if err != nil {
		return 0, 0, err
	}
	resp, err := rc.hc.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, len(b), err
}

// TestShadowUpstreamCorruptBlob: the upstream (through a fault-injecting
// proxy) serves wrong bytes for a layer. The client's pull fails (the last
// byte is held back until the digest verifies, so even a raw GET never
// completes), nothing is cached and no spool file is left; once the
// upstream serves the right bytes, the pull works and the blob is cached.
func TestShadowUpstreamCorruptBlob(t *testing.T) {
	t.Parallel()
	up := startUpstream(t, upstreamOptions{})
	proxy := newFaultProxy(t, up)
	srv := startShadow(t, shadowUpstream{NS: "quay.io", Up: up, URL: proxy.URL})
	rc := newRegClient(t, srv)
	img := newImage(t, formatOCI, 3, 512<<10, "linux/amd64", 1201)
	up.push("org/app", "1", img)
	bad := blobDigests(t, img)[2]
	proxy.set(bad, true, false)
	ctx := testContext(t, 2*time.Minute)

	if _, err := pullImage(ctx, nil, srv.Ref("quay.io/org/app:1")); err == nil {
		t.Errorf("pull while the upstream sends wrong bytes for %s: succeeded, want an error", bad)
	} else {
		t.Logf("pull while the upstream sends wrong bytes: %v", err)
	}
	status, n, err := rawBlobGET(rc, "quay.io/org/app", bad)
	if err == nil && status == http.StatusOK {
		t.Errorf("GET of the blob the upstream corrupts: a complete 200 response of %d bytes, want the response aborted", n)
	}
	t.Logf("raw GET of the corrupted blob: status %d, %d bytes, %v", status, n, err)
	if left := waitNoSpoolFiles(t, srv.DataDir, 10*time.Second); len(left) > 0 {
		t.Errorf("spool files left after a failed fetch: %v", left)
	}
	if blobStored(t, srv.DataDir, bad) {
		t.Errorf("the corrupted blob was cached: %s exists", blobFile(srv.DataDir, bad))
	}
	if !strings.Contains(srv.Logs(), "does not match its digest") {
		t.Errorf("the server log does not say the upstream content did not match its digest")
	}

	proxy.set(bad, false, false)
	hits := proxy.blobHits(bad)
	if d, err := pullImage(ctx, nil, srv.Ref("quay.io/org/app:1")); err != nil || d != manifestDigest(t, img) {
		t.Fatalf("pull once the upstream is fixed: %s, %v; want %s", d, err, manifestDigest(t, img))
	}
	if proxy.blobHits(bad) == hits {
		t.Errorf("the fixed pull did not fetch %s from the upstream again", bad)
	}
	if !waitBlobStored(t, srv.DataDir, bad, 10*time.Second) {
		t.Errorf("blob %s not cached after a good fetch", bad)
	}
	if got, _ := hashFile(t, blobFile(srv.DataDir, bad)); got != bad {
		t.Errorf("cached blob %s hashes to %s", bad, got)
	}
}

// TestShadowUpstreamBrokenStream: the upstream drops the connection
// half-way through a large layer, every time (the first GET and every
// Range resumption). The client's pull fails, nothing is cached and no
// spool file is left once the server has given up; after the upstream
// recovers, the pull works.
func TestShadowUpstreamBrokenStream(t *testing.T) {
	t.Parallel()
	up := startUpstream(t, upstreamOptions{})
	proxy := newFaultProxy(t, up)
	srv := startShadow(t, shadowUpstream{NS: "quay.io", Up: up, URL: proxy.URL})
	img := newImage(t, formatOCI, 2, 8<<20, "linux/amd64", 1301)
	up.push("org/big", "1", img)
	big := blobDigests(t, img)[2]
	proxy.set(big, false, true)
	ctx := testContext(t, 2*time.Minute)

	began := time.Now()
	if _, err := pullImage(ctx, nil, srv.Ref("quay.io/org/big:1")); err == nil {
		t.Errorf("pull while the upstream breaks the stream of %s: succeeded, want an error", big)
	} else {
		t.Logf("pull while the upstream breaks the stream (%v): %v", time.Since(began), err)
	}
	t.Logf("the upstream was asked %d times for the blob (first GET and resumptions)", proxy.blobHits(big))
	if left := waitNoSpoolFiles(t, srv.DataDir, 20*time.Second); len(left) > 0 {
		t.Errorf("spool files left after failed fetches: %v", left)
	}
	if blobStored(t, srv.DataDir, big) {
		t.Errorf("the partly fetched blob was cached: %s exists", blobFile(srv.DataDir, big))
	}
	// Drained (SIGTERM waits for fetches in flight): still nothing, and
	// nothing after a restart either.
	srv.Stop()
	if left := spoolFiles(t, srv.DataDir); len(left) > 0 {
		t.Errorf("spool files left after the server drained and stopped: %v", left)
	}
	if blobStored(t, srv.DataDir, big) {
		t.Errorf("the partly fetched blob was cached: %s exists", blobFile(srv.DataDir, big))
	}
	srv.Restart()

	proxy.set(big, false, false)
	if d, err := pullImage(ctx, nil, srv.Ref("quay.io/org/big:1")); err != nil || d != manifestDigest(t, img) {
		t.Fatalf("pull once the upstream recovered: %s, %v; want %s", d, err, manifestDigest(t, img))
	}
	if !waitBlobStored(t, srv.DataDir, big, 10*time.Second) {
		t.Errorf("blob %s not cached after a good fetch", big)
	}
	if left := waitNoSpoolFiles(t, srv.DataDir, 10*time.Second); len(left) > 0 {
		t.Errorf("spool files left after a good fetch: %v", left)
	}
}

// TestShadowUpstreamDown: a cached tag is revalidated once its TTL
// (tag-ttl: 1s) has passed, so a tag moved upstream is followed; with the
// upstream stopped, what was fetched before is still served (by digest,
// and by tag: served stale past its TTL, and the log says so); an image
// never fetched answers 502 UNAVAILABLE whose OCI error names the
// upstream's URL.
func TestShadowUpstreamDown(t *testing.T) {
	t.Parallel()
	up := startUpstream(t, upstreamOptions{User: "hubuser", Password: "hub-secret"})
	srv := startShadow(t, shadowUpstream{NS: "docker.io", Up: up, TagTTL: "1s", Timeout: "5s"})
	rc := newRegClient(t, srv)
	old := newImage(t, formatOCI, 2, 64<<10, "linux/amd64", 1400)
	img := newImage(t, formatDocker, 2, 64<<10, "linux/amd64", 1401)
	never := newImage(t, formatOCI, 1, 8<<10, "linux/amd64", 1402)
	up.push("library/app", "1", old)
	up.push("library/never", "1", never)
	ctx := testContext(t, 2*time.Minute)
	if d, err := pullImage(ctx, nil, srv.Ref("app:1")); err != nil || d != manifestDigest(t, old) {
		t.Fatalf("pull with the upstream up: %s, %v; want %s", d, err, manifestDigest(t, old))
	}
	// The tag moves upstream: followed once the cached tag's TTL is over.
	up.push("library/app", "1", img)
	want := manifestDigest(t, img)
	time.Sleep(1200 * time.Millisecond)
	if d, err := pullImage(ctx, nil, srv.Ref("app:1")); err != nil || d != want {
		t.Errorf("pull after the tag moved upstream and its TTL passed: %s, %v; want the new %s", d, err, want)
	}
	if left := waitNoSpoolFiles(t, srv.DataDir, 10*time.Second); len(left) > 0 {
		t.Fatalf("fetches did not end: %v", left)
	}
	up.Stop()
	time.Sleep(1500 * time.Millisecond) // past the tag TTL

	if d, err := pullImage(ctx, nil, srv.Ref("app:1")); err != nil || d != want {
		t.Errorf("pull by tag past its TTL with the upstream down: %s, %v; want %s, served stale", d, err, want)
	}
	if d, err := pullImage(ctx, nil, srv.Ref("docker.io/library/app@"+want)); err != nil || d != want {
		t.Errorf("pull by digest with the upstream down: %s, %v; want %s", d, err, want)
	}
	if d, err := pullImage(ctx, nil, srv.Ref("library/app@"+manifestDigest(t, old))); err != nil || d != manifestDigest(t, old) {
		t.Errorf("pull of the tag's previous image by digest with the upstream down: %s, %v", d, err)
	}
	if !strings.Contains(srv.Logs(), "serving the cached tag stale") {
		t.Errorf("the server log does not mention serving the cached tag stale")
	}
	if tags := rc.tagList("library/app"); !slices.Equal(tags, []string{"1"}) {
		t.Errorf("tags/list with the upstream down = %q, want the cached [1]", tags)
	}

	for _, c := range []struct{ method, path string }{
		{"GET", "/v2/library/never/manifests/1"},
		{"GET", "/v2/docker.io/library/never/manifests/" + manifestDigest(t, never)},
		{"GET", "/v2/library/never/blobs/" + blobDigests(t, never)[1]},
	} {
		resp := rc.must(c.method, c.path, map[string]string{"Accept": acceptAll}, nil)
		code, msg := ociError(resp.Body)
		if resp.Status != http.StatusBadGateway || code != "UNAVAILABLE" || !strings.Contains(msg, up.URL) {
			t.Errorf("%s %s with the upstream down: %s; want 502 with an OCI error UNAVAILABLE naming %s", c.method, c.path, resp, up.URL)
		}
		if ct := resp.Header.Get("Content-Type"); !strings.Contains(ct, "json") {
			t.Errorf("%s %s with the upstream down: Content-Type %q, want JSON", c.method, c.path, ct)
		}
	}
	resp := rc.must("HEAD", "/v2/library/never/manifests/1", map[string]string{"Accept": acceptAll}, nil)
	if resp.Status != http.StatusBadGateway || len(resp.Body) != 0 {
		t.Errorf("HEAD of a never fetched manifest with the upstream down: %s, want 502 without a body", resp)
	}
}

// TestShadowNoUpstreamNamespace: a miss in a namespace without an upstream
// (ghcr.io; docker.io when only quay.io has one) answers 404 whose message
// says no upstream is configured; pushes into such a namespace work and
// are served.
func TestShadowNoUpstreamNamespace(t *testing.T) {
	t.Parallel()
	up := startUpstream(t, upstreamOptions{})
	srv := startShadow(t, shadowUpstream{NS: "quay.io", Up: up})
	rc := newRegClient(t, srv)
	up.settle()
	mark := len(up.Requests())
	for _, c := range []struct{ path, code, ns string }{
		{"/v2/ghcr.io/x/y/manifests/1", "MANIFEST_UNKNOWN", "ghcr.io"},
		{"/v2/ghcr.io/x/y/blobs/sha256:" + strings.Repeat("ab", 32), "BLOB_UNKNOWN", "ghcr.io"},
		{"/v2/library/nothing/manifests/1", "MANIFEST_UNKNOWN", "docker.io"},
	} {
		resp := rc.must("GET", c.path, map[string]string{"Accept": acceptAll}, nil)
		code, msg := ociError(resp.Body)
		if resp.Status != http.StatusNotFound || code != c.code || !strings.Contains(msg, "no upstream is configured") || !strings.Contains(msg, c.ns) {
			t.Errorf("GET %s: %s; want 404 %s saying no upstream is configured for %s", c.path, resp, c.code, c.ns)
		}
	}
	img := newImage(t, formatOCI, 2, 16<<10, "linux/amd64", 1501)
	rc.pushContent("ghcr.io/x/y", "1", img)
	rc.expectManifest("ghcr.io/x/y", "1", rawManifest(t, img))
	rc.expectContent("ghcr.io/x/y", collectContent(t, img))
	if d, err := pullImage(testContext(t, time.Minute), nil, srv.Ref("ghcr.io/x/y:1")); err != nil || d != manifestDigest(t, img) {
		t.Errorf("pull of what was pushed into ghcr.io: %s, %v", d, err)
	}
	if tags := rc.tagList("ghcr.io/x/y"); !slices.Equal(tags, []string{"1"}) {
		t.Errorf("tags/list ghcr.io/x/y = %q, want [1]", tags)
	}
	up.settle()
	for _, e := range up.requestsSince(mark) {
		t.Errorf("the quay.io upstream was asked %s %s for another namespace", e.Method, e.Path)
	}
}

// TestShadowOnMissNotFound: with on-miss: not-found, a miss answers 404
// without the registry reaching out (the upstream's access log stays
// empty), so that clients fall back along their own mirror list: skopeo
// with shadowreg as the first mirror and the upstream as the second gets
// the upstream's image; a local push still wins.
func TestShadowOnMissNotFound(t *testing.T) {
	t.Parallel()
	up := startUpstream(t, upstreamOptions{})
	srv := startShadow(t, shadowUpstream{NS: "quay.io", Up: up, OnMiss: "not-found"})
	rc := newRegClient(t, srv)
	img := newImage(t, formatOCI, 2, 16<<10, "linux/amd64", 1601)
	local := newImage(t, formatOCI, 2, 16<<10, "linux/amd64", 1602)
	up.push("org/app", "1", img)
	up.push("org/app", "2", img)
	up.settle()
	mark := len(up.Requests())

	for _, c := range []struct{ method, path string }{
		{"GET", "/v2/quay.io/org/app/manifests/1"},
		{"HEAD", "/v2/quay.io/org/app/manifests/1"},
		{"GET", "/v2/quay.io/org/app/manifests/" + manifestDigest(t, img)},
		{"GET", "/v2/quay.io/org/app/blobs/" + blobDigests(t, img)[1]},
		{"GET", "/v2/quay.io/org/app/tags/list"},
	} {
		resp := rc.must(c.method, c.path, map[string]string{"Accept": acceptAll}, nil)
		if resp.Status != http.StatusNotFound {
			t.Errorf("%s %s with on-miss: not-found: %s, want 404", c.method, c.path, resp)
		}
	}
	up.settle()
	for _, e := range up.requestsSince(mark) {
		t.Errorf("on-miss: not-found, yet the upstream was asked %s %s", e.Method, e.Path)
	}

	// A client falls back to its next mirror.
	sk := newSkopeo(t)
	sk.global[1] = writeRegistriesConfRaw(t, fmt.Sprintf(`[[registry]]
prefix = "quay.io"
location = "quay.io"
[[registry.mirror]]
location = "%s/quay.io"
insecure = true
[[registry.mirror]]
location = "%s"
insecure = true
`, srv.Addr, up.Addr))
	raw := sk.run("inspect", "--raw", "--no-tags", "docker://quay.io/org/app:1")
	if sha256Digest([]byte(raw)) != manifestDigest(t, img) {
		t.Errorf("skopeo through [shadowreg, upstream] mirrors: %s, want the upstream's %s", sha256Digest([]byte(raw)), manifestDigest(t, img))
	}
	rc.pushContent("quay.io/org/app", "1", local)
	raw = sk.run("inspect", "--raw", "--no-tags", "docker://quay.io/org/app:1")
	if sha256Digest([]byte(raw)) != manifestDigest(t, local) {
		t.Errorf("skopeo through [shadowreg, upstream] mirrors after a local push: %s, want the local %s", sha256Digest([]byte(raw)), manifestDigest(t, local))
	}
	// Only what was pushed is listed: the upstream is not asked.
	if tags := rc.tagList("quay.io/org/app"); !slices.Equal(tags, []string{"1"}) {
		t.Errorf("tags/list with on-miss: not-found = %q, want the local [1]", tags)
	}
	if !blobStoredNone(t, srv.DataDir, blobDigests(t, img)) {
		t.Errorf("on-miss: not-found cached upstream content")
	}
}

// writeRegistriesConfRaw writes a registries.conf with the given body.
func writeRegistriesConfRaw(t testing.TB, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "registries.conf")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// blobStoredNone reports whether none of the blobs is stored.
func blobStoredNone(t testing.TB, dataDir string, digests []string) bool {
	for _, d := range digests {
		if blobStored(t, dataDir, d) {
			return false
		}
	}
	return true
}
