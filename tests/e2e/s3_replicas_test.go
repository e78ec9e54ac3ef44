package e2e

import (
	"bytes"
	"context"
	"fmt"
	"math/rand"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// s3Replicas starts two shadowreg replicas on the same bucket and prefix:
// different ports, different (empty, unused) data directories, nothing
// shared but the object store.
func s3Replicas(t *testing.T) (a, b *Server, m *minioServer, prefix string) {
	t.Helper()
	m = sharedMinio(t)
	prefix = s3Prefix(t)
	a = startS3Server(t, m, s3Options{Prefix: prefix})
	b = startS3Server(t, m, s3Options{Prefix: prefix})
	if a.DataDir == b.DataDir || a.Addr == b.Addr {
		t.Fatalf("replicas share %s / %s", a.DataDir, a.Addr)
	}
	return a, b, m, prefix
}

// onReplica returns a copy of rc that sends its requests to srv: an upload's
// Location (a path) from one replica is used on the other.
func onReplica(rc *regClient, srv *Server) *regClient {
	c := *rc
	c.base = srv.URL
	return &c
}

// TestS3Replicas runs two stateless replicas on one bucket: content pushed
// through one is pulled through the other, an upload is continued chunk by
// chunk across them, real clients push and pull through a proxy that
// alternates replicas on every request, and tags are read from the bucket.
func TestS3Replicas(t *testing.T) {
	t.Parallel()
	requireS3Target(t)
	requireTool(t, "crane")
	sk := newSkopeo(t)
	a, b, _, _ := s3Replicas(t)
	rcA := newRegClient(t, a)

	t.Run("push-A-pull-B", func(t *testing.T) {
		sk := *sk
		sk.t = t
		env := clientEnv(t)
		crane := func(args ...string) string {
			t.Helper()
			return strings.TrimSpace(runTool(t, clientTimeout, env, "crane", append([]string{"--insecure"}, args...)...))
		}
		img := newImage(t, formatOCI, 3, 2<<20, "linux/amd64", 401)
		want := collectContent(t, img)
		dg := manifestDigest(t, img)
		lay := filepath.Join(t.TempDir(), "layout")
		writeLayout(t, lay, map[string]any{"img": img})

		// crane in through A, out through B.
		out := crane("push", lay, a.Ref("replicas/crane:1"))
		if !strings.HasSuffix(out, "@"+dg) {
			t.Errorf("crane push via A printed %q, want …@%s", out, dg)
		}
		if got := crane("digest", b.Ref("replicas/crane:1")); got != dg {
			t.Errorf("crane digest via B = %s, want %s", got, dg)
		}
		pulled := filepath.Join(t.TempDir(), "pulled")
		crane("pull", "--format", "oci", b.Ref("replicas/crane:1"), pulled)
		verifyLayoutHas(t, pulled, "", dg, want)

		// skopeo in through B, out through A, and out through B.
		sk.copyIn("oci:"+lay+":img", b.Ref("replicas/skopeo:1"))
		for _, srv := range []*Server{a, b} {
			if got := sha256Digest(sk.inspectRaw(srv.Ref("replicas/skopeo:1"))); got != dg {
				t.Errorf("skopeo inspect --raw via %s: digest %s, want %s", srv.Addr, got, dg)
			}
			dst := filepath.Join(t.TempDir(), "out")
			sk.copyOut(srv.Ref("replicas/skopeo:1"), "oci:"+dst+":img")
			verifyLayoutHas(t, dst, "img", dg, want)
		}
		rcB := onReplica(rcA, b)
		rcB.t = t
		rcB.expectContent("replicas/crane", want)
	})

	t.Run("chunked-upload-across-replicas", func(t *testing.T) {
		rcA := *rcA
		rcA.t = t
		rcB := onReplica(&rcA, b)
		// Chunk 1 is above S3's 5 MiB part minimum (a part when it is
		// checkpointed), chunk 2 below it (kept in the checkpoint as a tail).
		rnd := rand.New(rand.NewSource(402))
		data := make([]byte, 6<<20+4099+3<<20+17)
		rnd.Read(data)
		n1 := 6<<20 + 4099
		dg := sha256Digest(data)
		repo := "replicas/chunked"

		loc, err := rcA.startUpload(repo)
		if err != nil {
			t.Fatal(err)
		}
		patch := func(c *regClient, who string, from, to int) {
			t.Helper()
			resp := c.must("PATCH", loc, map[string]string{
				"Content-Type":  "application/octet-stream",
				"Content-Range": fmt.Sprintf("%d-%d", from, to-1),
			}, data[from:to])
			if resp.Status != http.StatusAccepted {
				t.Fatalf("PATCH %d-%d on %s: want 202, got %s", from, to-1, who, resp)
			}
			if got, want := resp.Header.Get("Range"), fmt.Sprintf("0-%d", to-1); got != want {
				t.Errorf("PATCH %d-%d on %s: Range %q, want %q", from, to-1, who, got, want)
			}
			if l := resp.Header.Get("Location"); l != "" {
				loc = l
			}
		}
		status := func(c *regClient, who string, want int) {
			t.Helper()
			resp := c.must("GET", loc, nil, nil)
			if resp.Status != http.StatusNoContent || resp.Header.Get("Range") != fmt.Sprintf("0-%d", want-1) {
				t.Errorf("GET upload status on %s: want 204 with Range 0-%d, got %s Range %q", who, want-1, resp, resp.Header.Get("Range"))
			}
		}
		patch(rcB, "B", 0, n1)
		status(&rcA, "A", n1)
		patch(&rcA, "A", n1, len(data))
		status(rcB, "B", len(data))
		resp := rcB.must("PUT", withQuery(loc, "digest", dg), map[string]string{"Content-Length": "0"}, nil)
		if resp.Status != http.StatusCreated {
			t.Fatalf("PUT ?digest= on B: want 201, got %s", resp)
		}
		if got := resp.Header.Get("Docker-Content-Digest"); got != dg {
			t.Errorf("PUT on B: Docker-Content-Digest %q, want %s", got, dg)
		}
		got := rcA.getBlob(repo, dg)
		if got.Status != http.StatusOK || !bytes.Equal(got.Body, data) {
			t.Errorf("GET blob via A: %d, %d bytes hashing to %s; want 200 with the %d bytes pushed (%s)", got.Status, len(got.Body), sha256Digest(got.Body), len(data), dg)
		}
		head := rcB.must("HEAD", "/v2/"+repo+"/blobs/"+dg, nil, nil)
		if head.Status != http.StatusOK || head.Header.Get("Content-Length") != fmt.Sprint(len(data)) {
			t.Errorf("HEAD blob via B: %d Content-Length %q, want 200 and %d", head.Status, head.Header.Get("Content-Length"), len(data))
		}
		// The upload is gone on both replicas.
		for _, c := range []*regClient{&rcA, rcB} {
			if resp := c.must("GET", loc, nil, nil); resp.Status != http.StatusNotFound {
				t.Errorf("GET finished upload on %s: want 404, got %s", c.base, resp)
			}
		}

		// Mounted on B into another repository from the one A can read.
		mount := rcB.must("POST", "/v2/replicas/mounted/blobs/uploads/?mount="+dg+"&from="+repo, nil, nil)
		if mount.Status != http.StatusCreated {
			t.Errorf("mount of %s from %s on B: want 201, got %s", dg, repo, mount)
		} else if got := rcA.getBlob("replicas/mounted", dg); got.Status != http.StatusOK || !bytes.Equal(got.Body, data) {
			t.Errorf("GET mounted blob via A: %d, %d bytes; want 200 with the bytes pushed", got.Status, len(got.Body))
		}

		// A session started on A and cancelled on B is gone for A.
		loc2, err := rcA.startUpload(repo)
		if err != nil {
			t.Fatal(err)
		}
		if resp := rcB.must("DELETE", loc2, nil, nil); resp.Status != http.StatusNoContent {
			t.Errorf("DELETE upload on B: want 204, got %s", resp)
		}
		resp = rcA.must("PATCH", loc2, map[string]string{"Content-Type": "application/octet-stream", "Content-Range": "0-9"}, data[:10])
		if resp.Status != http.StatusNotFound || errorCode(resp.Body) != "BLOB_UPLOAD_UNKNOWN" {
			t.Errorf("PATCH on A of the upload cancelled on B: want 404 BLOB_UPLOAD_UNKNOWN, got %s", resp)
		}
	})

	t.Run("small-chunks-alternating", func(t *testing.T) {
		// Seven chunks of about 1 MiB (below a part: the tail carried from
		// checkpoint to checkpoint grows into a part on another replica),
		// A and B in turn, a stale chunk refused by the replica that did not
		// receive the previous one, and the last chunk in the closing PUT.
		rcA := *rcA
		rcA.t = t
		rcB := onReplica(&rcA, b)
		clients := []*regClient{&rcA, rcB}
		names := []string{"A", "B"}
		rnd := rand.New(rand.NewSource(403))
		const chunk = 1<<20 + 333
		data := make([]byte, 7*chunk+77)
		rnd.Read(data)
		dg := sha256Digest(data)
		repo := "replicas/small-chunks"
		loc, err := rcB.startUpload(repo)
		if err != nil {
			t.Fatal(err)
		}
		off := 0
		for i := 0; off+chunk < len(data); i++ {
			c, who := clients[i%2], names[i%2]
			resp := c.must("PATCH", loc, map[string]string{
				"Content-Type":  "application/octet-stream",
				"Content-Range": fmt.Sprintf("%d-%d", off, off+chunk-1),
			}, data[off:off+chunk])
			if resp.Status != http.StatusAccepted || resp.Header.Get("Range") != fmt.Sprintf("0-%d", off+chunk-1) {
				t.Fatalf("PATCH %d on %s: want 202 with Range 0-%d, got %s Range %q", i, who, off+chunk-1, resp, resp.Header.Get("Range"))
			}
			if l := resp.Header.Get("Location"); l != "" {
				loc = l
			}
			if i == 3 {
				// The same chunk again, on the other replica: it must know
				// the upload has moved past it.
				other := clients[(i+1)%2]
				resp := other.must("PATCH", loc, map[string]string{
					"Content-Type":  "application/octet-stream",
					"Content-Range": fmt.Sprintf("%d-%d", off, off+chunk-1),
				}, data[off:off+chunk])
				if resp.Status != http.StatusRequestedRangeNotSatisfiable {
					t.Errorf("stale PATCH %d-%d on %s: want 416, got %s", off, off+chunk-1, names[(i+1)%2], resp)
				}
			}
			off += chunk
		}
		last := clients[1]
		resp := last.must("PUT", withQuery(loc, "digest", dg), map[string]string{
			"Content-Type": "application/octet-stream",
		}, data[off:])
		if resp.Status != http.StatusCreated {
			t.Fatalf("closing PUT with the last %d bytes: want 201, got %s", len(data)-off, resp)
		}
		for i, c := range clients {
			got := c.getBlob(repo, dg)
			if got.Status != http.StatusOK || !bytes.Equal(got.Body, data) {
				t.Errorf("GET blob via %s: %d, %d bytes hashing to %s; want 200 with the %d bytes pushed", names[i], got.Status, len(got.Body), sha256Digest(got.Body), len(data))
			}
		}
	})

	t.Run("round-robin-skopeo-all", func(t *testing.T) {
		sk := *sk
		sk.t = t
		rr := newRoundRobin(t, a, b)
		// Layers above a part (6 MiB) and below, three platforms.
		idx := newIndex(t, formatOCI, 2, 3<<20, 404, "linux/amd64", "linux/arm64/v8", "linux/s390x")
		big := newImage(t, formatOCI, 1, 7<<20, "linux/amd64", 405)
		want := collectContent(t, idx)
		dg := manifestDigest(t, idx)
		src := filepath.Join(t.TempDir(), "src")
		writeLayout(t, src, map[string]any{"idx": idx, "big": big})

		ref := rr.Addr + "/quay.io/org/round-robin:multi"
		sk.copyIn("oci:"+src+":idx", ref, "--all")
		sk.copyIn("oci:"+src+":big", rr.Addr+"/quay.io/org/round-robin:big")
		if got := sha256Digest(sk.inspectRaw(ref)); got != dg {
			t.Errorf("skopeo inspect --raw through the pair: digest %s, want %s", got, dg)
		}
		out := filepath.Join(t.TempDir(), "out")
		sk.copyOut(ref, "oci:"+out+":idx", "--all")
		verifyLayoutHas(t, out, "idx", dg, want)
		outBig := filepath.Join(t.TempDir(), "out-big")
		sk.copyOut(rr.Addr+"/quay.io/org/round-robin:big", "oci:"+outBig+":big")
		verifyLayoutHas(t, outBig, "big", manifestDigest(t, big), collectContent(t, big))

		// Each replica alone has all of it.
		for _, srv := range []*Server{a, b} {
			c := onReplica(rcA, srv)
			c.t = t
			c.expectManifest("quay.io/org/round-robin", "multi", rawManifest(t, idx))
			c.expectContent("quay.io/org/round-robin", want)
		}

		st := rr.stats()
		t.Logf("round robin: %d requests (%v per replica), %d upload sessions, %d of them served by both replicas",
			st.requests, st.perReplica, st.uploads, st.crossUploads)
		if st.perReplica[0] == 0 || st.perReplica[1] == 0 {
			t.Errorf("the proxy did not use both replicas: %v", st.perReplica)
		}
		if st.crossUploads == 0 {
			t.Errorf("no upload session was served by both replicas (%d sessions): the test did not test what it claims", st.uploads)
		}
	})

	t.Run("tags-from-the-bucket", func(t *testing.T) {
		rcA := *rcA
		rcA.t = t
		rcB := onReplica(&rcA, b)
		repo := "replicas/tags"
		img1 := newImage(t, formatOCI, 1, 64<<10, "linux/amd64", 406)
		img2 := newImage(t, formatOCI, 1, 64<<10, "linux/amd64", 407)
		raw1, raw2 := rawManifest(t, img1), rawManifest(t, img2)

		// Pushed on A, read on B at once (no retry, no wait).
		rcA.pushContent(repo, "live", img1)
		rcB.expectManifest(repo, "live", raw1)
		rcB.expectManifest(repo, "live", raw1) // warm whatever B caches
		if tags := rcB.tagList(repo); !contains(tags, "live") {
			t.Errorf("tags/list via B = %v, want live", tags)
		}

		// Moved on A: B sees the new manifest on its next read.
		rcA.pushContent(repo, "live", img2)
		rcB.expectManifest(repo, "live", raw2)
		rcA.expectManifest(repo, "live", raw2)

		// A new tag on B, read on A.
		if resp, err := rcB.putManifest(repo, "other", "application/vnd.oci.image.manifest.v1+json", raw1); err != nil || resp.Status != http.StatusCreated {
			t.Fatalf("PUT manifest tag other via B: %v %v", err, resp)
		}
		rcA.expectManifest(repo, "other", raw1)
		if tags := rcA.tagList(repo); !contains(tags, "live") || !contains(tags, "other") {
			t.Errorf("tags/list via A = %v, want live and other", tags)
		}

		// Deleted on A: gone on B at once, by digest and by tag.
		d2 := sha256Digest(raw2)
		if resp := rcA.must("DELETE", "/v2/"+repo+"/manifests/"+d2, nil, nil); resp.Status != http.StatusAccepted {
			t.Fatalf("DELETE manifest %s via A: want 202, got %s", d2, resp)
		}
		for _, ref := range []string{d2, "live"} {
			if resp := rcB.getManifest(repo, ref); resp.Status != http.StatusNotFound {
				t.Errorf("GET manifest %s via B after the delete on A: want 404, got %s", ref, resp)
			}
		}
		rcB.expectManifest(repo, "other", raw1)
	})
}

// TestS3ReplicasConflictingChunks sends two PATCHes of one upload session at
// the same offset, with different bytes, to two replicas (a client that
// sends two different chunks for one range: buggy, or meaning harm), the
// second while the first is between writing the session's bytes and its
// SHA-256 state: the slow replica's link to the object store holds that
// state write until the other PATCH has been answered. Whatever the
// registry answers, it must never serve bytes under a digest they do not
// have, least of all replace a blob acknowledged earlier in another
// repository: the session's bytes (the driver's checkpoint) and its state
// (the upload's state object) are written separately, with no lock between
// replicas, so the one could come from one PATCH and the other from the
// other. Each round checks that it hit that interleaving.
func TestS3ReplicasConflictingChunks(t *testing.T) {
	t.Parallel()
	requireS3Target(t)
	m := sharedMinio(t)
	prefix := s3Prefix(t)
	b := startS3Server(t, m, s3Options{Prefix: prefix})
	gate := newStateGate(t, m)
	slow := startS3Server(t, gate.minio, s3Options{Prefix: prefix})
	rcB := newRegClient(t, b)
	rcS := onReplica(rcB, slow)
	rnd := rand.New(rand.NewSource(408))
	victim := make([]byte, 1<<20+555)
	rnd.Read(victim)
	dv := rcB.pushBlob("replicas/victim", victim)
	patch := func(c *regClient, loc string, body []byte) string {
		resp, err := c.do("PATCH", loc, map[string]string{
			"Content-Type":  "application/octet-stream",
			"Content-Range": fmt.Sprintf("0-%d", len(body)-1),
		}, bytes.NewReader(body))
		if err != nil {
			return err.Error()
		}
		return fmt.Sprint(resp.Status, " ", errorCode(resp.Body))
	}
	for round := range 3 {
		other := make([]byte, len(victim))
		rnd.Read(other)
		loc, err := rcS.startUpload("replicas/racer")
		if err != nil {
			t.Fatal(err)
		}
		release := gate.arm()
		slowDone := make(chan string, 1)
		go func() { slowDone <- patch(rcS, loc, victim) }()
		var statusS, statusB string
		select {
		case <-gate.held:
			// The slow replica has written the chunk's bytes and waits to
			// write their state: the other PATCH goes now.
			statusB = patch(rcB, loc, other)
			release()
			statusS = <-slowDone
		case statusS = <-slowDone:
			release()
			t.Fatalf("round %d: the PATCH on the slow replica (%s) never wrote upload state: the interleaving this test is about was not hit", round, statusS)
		case <-time.After(time.Minute):
			t.Fatalf("round %d: the PATCH on the slow replica did not reach its state write within a minute", round)
		}
		put := rcS.must("PUT", withQuery(loc, "digest", dv), map[string]string{"Content-Length": "0"}, nil)
		t.Logf("round %d: PATCH with the victim's bytes on the slow replica: %s; PATCH with other bytes on B, while the first held its state write: %s; PUT ?digest=%s: %d %s",
			round, statusS, statusB, dv, put.Status, errorCode(put.Body))
		for _, repo := range []string{"replicas/victim", "replicas/racer"} {
			got := rcB.getBlob(repo, dv)
			if got.Status == http.StatusNotFound && repo == "replicas/racer" && put.Status != http.StatusCreated {
				continue
			}
			if got.Status != http.StatusOK || sha256Digest(got.Body) != dv {
				t.Errorf("round %d: GET /v2/%s/blobs/%s: %d with %d bytes hashing to %s (the other PATCH's bytes: %s): a blob served under a digest its bytes do not have",
					round, repo, dv, got.Status, len(got.Body), sha256Digest(got.Body), sha256Digest(other))
			}
		}
		if t.Failed() {
			break
		}
	}
}

// roundRobin is a reverse proxy on 127.0.0.1 that sends each request to the
// next replica in turn (over kept-alive connections to both), so consecutive
// requests of one client — an upload's POST, PATCH and PUT — land on
// different replicas. It keeps the client's Host, so Locations stay on the
// proxy.
type roundRobin struct {
	Addr     string
	srv      *httptest.Server
	next     atomic.Uint64
	upstream []*url.URL

	mu      sync.Mutex
	count   []int
	uploads map[string]map[int]bool // upload id -> replicas that served it
}

type replicaKey struct{}

type roundRobinStats struct {
	requests, uploads, crossUploads int
	perReplica                      []int
}

func newRoundRobin(t testing.TB, replicas ...*Server) *roundRobin {
	t.Helper()
	rr := &roundRobin{count: make([]int, len(replicas)), uploads: map[string]map[int]bool{}}
	for _, s := range replicas {
		u, err := url.Parse(s.URL)
		if err != nil {
			t.Fatal(err)
		}
		rr.upstream = append(rr.upstream, u)
	}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			i := int(rr.next.Add(1)-1) % len(rr.upstream)
			pr.SetURL(rr.upstream[i])
			pr.Out.Host = pr.In.Host
			pr.Out = pr.Out.WithContext(context.WithValue(pr.Out.Context(), replicaKey{}, i))
			rr.mu.Lock()
			rr.count[i]++
			rr.mu.Unlock()
			rr.noteUpload(pr.In.URL.Path, i)
		},
		ModifyResponse: func(resp *http.Response) error {
			if i, ok := resp.Request.Context().Value(replicaKey{}).(int); ok {
				if u, err := url.Parse(resp.Header.Get("Location")); err == nil {
					rr.noteUpload(u.Path, i)
				}
			}
			return nil
		},
		Transport: &http.Transport{
			MaxIdleConnsPerHost: 16,
			DisableCompression:  true,
			IdleConnTimeout:     time.Minute,
		},
		FlushInterval: -1,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			t.Logf("round robin: %s %s: %v", r.Method, r.URL, err)
			w.WriteHeader(http.StatusBadGateway)
		},
	}
	rr.srv = httptest.NewServer(proxy) // 127.0.0.1
	t.Cleanup(rr.srv.Close)
	rr.Addr = strings.TrimPrefix(rr.srv.URL, "http://")
	return rr
}

// noteUpload records that replica i served a request of the upload session
// named in path (/v2/<name>/blobs/uploads/<id>).
func (rr *roundRobin) noteUpload(path string, i int) {
	_, id, ok := strings.Cut(path, "/blobs/uploads/")
	if !ok || id == "" {
		return
	}
	rr.mu.Lock()
	defer rr.mu.Unlock()
	if rr.uploads[id] == nil {
		rr.uploads[id] = map[int]bool{}
	}
	rr.uploads[id][i] = true
}

func (rr *roundRobin) stats() roundRobinStats {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	st := roundRobinStats{uploads: len(rr.uploads), perReplica: append([]int(nil), rr.count...)}
	for _, n := range rr.count {
		st.requests += n
	}
	for _, by := range rr.uploads {
		if len(by) > 1 {
			st.crossUploads++
		}
	}
	return st
}

// stateGate is a reverse proxy on 127.0.0.1 in front of MinIO that, once
// armed, holds the next PUT of upload session state
// (…/data/uploads/<id>/state) until released: a replica whose link to the
// object store stalls between an upload's bytes and their state. held
// receives when it holds one. The Host header passes unchanged, so the
// requests' signatures still verify.
type stateGate struct {
	minio *minioServer // m, with the proxy as its endpoint
	held  chan struct{}

	mu      sync.Mutex
	armed   bool
	release chan struct{}
}

func newStateGate(t testing.TB, m *minioServer) *stateGate {
	t.Helper()
	target, err := url.Parse("http://" + m.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	g := &stateGate{held: make(chan struct{}, 1)}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = pr.In.Host
			if p := pr.In.URL.Path; pr.In.Method == http.MethodPut && strings.Contains(p, "/data/uploads/") && strings.HasSuffix(p, "/state") {
				g.hold()
			}
		},
		Transport:     &http.Transport{MaxIdleConnsPerHost: 16, DisableCompression: true},
		FlushInterval: -1,
	}
	srv := httptest.NewServer(proxy)
	t.Cleanup(srv.Close)
	via := *m
	via.Endpoint = strings.TrimPrefix(srv.URL, "http://")
	g.minio = &via
	return g
}

// arm makes the gate hold the next state PUT; the function it returns lets
// it go (and disarms the gate if nothing was held).
func (g *stateGate) arm() (release func()) {
	g.mu.Lock()
	defer g.mu.Unlock()
	ch := make(chan struct{})
	g.armed, g.release = true, ch
	var once sync.Once
	return func() {
		once.Do(func() {
			g.mu.Lock()
			g.armed = false
			g.mu.Unlock()
			close(ch)
		})
	}
}

func (g *stateGate) hold() {
	g.mu.Lock()
	if !g.armed {
		g.mu.Unlock()
		return
	}
	g.armed = false
	ch := g.release
	g.mu.Unlock()
	g.held <- struct{}{}
	select {
	case <-ch:
	case <-time.After(2 * time.Minute): // a test that failed to release
	}
}
