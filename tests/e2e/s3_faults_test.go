package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// pauseReader passes `at` bytes through, then blocks until resume is closed
// (the test stops the object store meanwhile), then passes the rest: a
// client still sending its blob while the registry's storage goes away.
type pauseReader struct {
	r       io.Reader
	n, at   int64
	reached chan struct{}
	resume  chan struct{}
	once    sync.Once
}

func newPauseReader(r io.Reader, at int64) *pauseReader {
	return &pauseReader{r: r, at: at, reached: make(chan struct{}), resume: make(chan struct{})}
}

func (p *pauseReader) Read(b []byte) (int, error) {
	if p.n == p.at {
		p.once.Do(func() { close(p.reached) })
		<-p.resume
	}
	if p.n < p.at {
		if rem := p.at - p.n; int64(len(b)) > rem {
			b = b[:rem]
		}
	}
	n, err := p.r.Read(b)
	p.n += int64(n)
	return n, err
}

// blobHash GETs a blob and hashes it as it streams: status, digest, size.
func (c *regClient) blobHash(repo, dg string) (int, string, int64, error) {
	req, err := http.NewRequest("GET", c.resolve("/v2/"+repo+"/blobs/"+dg), nil)
	if err != nil {
		return 0, "", 0, err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, "", 0, err
	}
	defer resp.Body.Close()
	h := sha256.New()
	n, err := io.Copy(h, resp.Body)
	return resp.StatusCode, "sha256:" + hex.EncodeToString(h.Sum(nil)), n, err
}

// TestS3Faults stops the object store in the middle of a large blob upload:
// the client must get an error (never a 201), nothing half-written may
// become visible (no blob by that digest through the API, no object for it
// under blobs/ in the bucket), and everything acknowledged before — a tagged
// image, and the chunks of an upload still open — must be served whole after
// MinIO comes back, and again after shadowreg restarts on the same bucket.
func TestS3Faults(t *testing.T) {
	t.Parallel()
	requireS3Target(t)
	requireTool(t, "crane")
	m := newMinio(t) // its own: this test stops it
	prefix := s3Prefix(t)
	srv := startS3Server(t, m, s3Options{Prefix: prefix})
	rc := newRegClient(t, srv)
	env := clientEnv(t)
	crane := func(args ...string) string {
		t.Helper()
		return strings.TrimSpace(runTool(t, clientTimeout, env, "crane", append([]string{"--insecure"}, args...)...))
	}
	seed := crashSeed(t)

	// Acknowledged before the fault: an image by tag (crane), and an open
	// upload session holding one acknowledged chunk above a part's size.
	img := newImage(t, formatOCI, 3, 1<<20, "linux/amd64", 501)
	imgContent := collectContent(t, img)
	imgDigest := manifestDigest(t, img)
	lay := filepath.Join(t.TempDir(), "layout")
	writeLayout(t, lay, map[string]any{"img": img})
	crane("push", lay, srv.Ref("faults/app:v1"))

	openData := make([]byte, 7<<20+4321)
	rand.New(rand.NewSource(int64(seed))).Read(openData)
	const openChunk = 6<<20 + 99
	openLoc, err := rc.startUpload("faults/open")
	if err != nil {
		t.Fatal(err)
	}
	resp := rc.must("PATCH", openLoc, map[string]string{
		"Content-Type": "application/octet-stream", "Content-Range": fmt.Sprintf("0-%d", openChunk-1),
	}, openData[:openChunk])
	if resp.Status != http.StatusAccepted {
		t.Fatalf("PATCH of the open upload: want 202, got %s", resp)
	}
	if l := resp.Header.Get("Location"); l != "" {
		openLoc = l
	}

	// Two large blobs of 96 MiB, each streamed in one request: a PATCH
	// (then a closing PUT) and a monolithic PUT ?digest=. MinIO stops once
	// 40 MiB of each (two 16 MiB parts and half of a third) have gone out.
	const size, stopAt = 96 << 20, 40 << 20
	type result struct {
		resp response
		err  error
	}
	type interrupted struct {
		method, repo, loc, digest string
		seed                      uint64
		pr                        *pauseReader
		done                      chan result
	}
	var big []*interrupted
	for i, method := range []string{"PATCH", "PUT"} {
		u := &interrupted{method: method, repo: "faults/big-" + strings.ToLower(method), seed: seed + 1 + uint64(i), done: make(chan result, 1)}
		u.digest = streamDigest(t, u.seed, size)
		if u.loc, err = rc.startUpload(u.repo); err != nil {
			t.Fatal(err)
		}
		u.pr = newPauseReader(streamData(u.seed, size), stopAt)
		hdr := map[string]string{"Content-Type": "application/octet-stream", "Content-Length": fmt.Sprint(size)}
		target := u.loc
		if method == "PATCH" {
			hdr["Content-Range"] = fmt.Sprintf("0-%d", size-1)
		} else {
			target = withQuery(u.loc, "digest", u.digest)
		}
		go func() {
			resp, err := rc.do(method, target, hdr, u.pr)
			u.done <- result{resp, err}
		}()
		big = append(big, u)
	}
	for _, u := range big {
		select {
		case <-u.pr.reached:
		case r := <-u.done:
			t.Fatalf("the %s ended before %d bytes were sent: %v %v", u.method, stopAt, r.resp, r.err)
		case <-time.After(2 * time.Minute):
			t.Fatalf("the %s did not send %d MiB within 2 minutes", u.method, stopAt>>20)
		}
	}
	stopped := time.Now()
	m.Stop(t)
	t.Logf("MinIO stopped with %d MiB of each upload sent (in %.1fs)", stopAt>>20, time.Since(stopped).Seconds())
	for _, u := range big {
		close(u.pr.resume)
	}
	for _, u := range big {
		var r result
		select {
		case r = <-u.done:
		case <-time.After(3 * time.Minute):
			t.Fatalf("the %s did not end within 3 minutes of MinIO stopping", u.method)
		}
		switch {
		case r.err != nil:
			t.Logf("%s with MinIO stopped: transport error after %.1fs: %v", u.method, time.Since(stopped).Seconds(), r.err)
		case r.resp.Status >= 500:
			t.Logf("%s with MinIO stopped: %s (after %.1fs)", u.method, r.resp, time.Since(stopped).Seconds())
		default:
			t.Errorf("%s of %s with MinIO stopped: want an error (5xx or a broken connection), got %s", u.method, u.digest, r.resp)
		}
	}

	// Still down: finishing the PATCHed upload is refused, and content
	// known to be there is not reported missing (a 404 would tell clients
	// it is gone).
	downStart := time.Now()
	resp = rc.must("PUT", withQuery(big[0].loc, "digest", big[0].digest), map[string]string{"Content-Length": "0"}, nil)
	if resp.Status == http.StatusCreated || resp.Status < 400 {
		t.Errorf("PUT ?digest= with MinIO stopped: want an error, got %s", resp)
	}
	t.Logf("PUT ?digest= with MinIO stopped: %d %s (%.1fs)", resp.Status, errorCode(resp.Body), time.Since(downStart).Seconds())
	downStart = time.Now()
	if resp := rc.getManifest("faults/app", "v1"); resp.Status != http.StatusServiceUnavailable || errorCode(resp.Body) != "UNAVAILABLE" ||
		resp.Header.Get("Retry-After") == "" || strings.Contains(string(resp.Body), m.Endpoint) {
		t.Errorf("GET manifest faults/app:v1 with MinIO stopped: want 503 UNAVAILABLE with Retry-After and no word of the store's address, got %s Retry-After %q", resp, resp.Header.Get("Retry-After"))
	} else {
		t.Logf("GET manifest with MinIO stopped: %d %s (%.1fs)", resp.Status, errorCode(resp.Body), time.Since(downStart).Seconds())
	}

	m.Start(t)

	t.Logf("after MinIO restarted: upload and writer keys in the bucket: %v",
		append(m.listKeys(t, prefix+"/data/uploads/"), m.listKeys(t, prefix+"/writers/")...))

	expectNoBlob := func(when string) {
		t.Helper()
		blobKeys := m.listKeys(t, prefix+"/data/blobs/")
		for _, u := range big {
			for _, method := range []string{"HEAD", "GET"} {
				if resp := rc.must(method, "/v2/"+u.repo+"/blobs/"+u.digest, nil, nil); resp.Status != http.StatusNotFound {
					t.Errorf("%s: %s of the blob interrupted in a %s: want 404, got %s", when, method, u.method, resp)
				}
			}
			if n, err := m.statKey(t, blobKey(prefix, u.digest)); err != errNotFound {
				t.Errorf("%s: the bucket has %s (%d bytes, err %v): a blob never acknowledged", when, blobKey(prefix, u.digest), n, err)
			}
			_, hexd, _ := strings.Cut(u.digest, ":")
			for _, k := range blobKeys {
				if strings.Contains(k, hexd) {
					t.Errorf("%s: bucket key %s names the blob interrupted in a %s", when, k, u.method)
				}
			}
		}
	}
	expectNoBlob("after MinIO restarted")

	// The PATCHed session kept nothing of the failed chunk; finishing the
	// PUT one now is refused: there is no way to a 201 for either.
	resp = rc.must("GET", big[0].loc, nil, nil)
	if resp.Status != http.StatusNoContent || resp.Header.Get("Range") != "0-0" {
		t.Errorf("GET status of the interrupted PATCH upload after MinIO restarted: want 204 with Range 0-0 (nothing kept), got %s Range %q", resp, resp.Header.Get("Range"))
	}
	resp = rc.must("PUT", withQuery(big[1].loc, "digest", big[1].digest), map[string]string{"Content-Length": "0"}, nil)
	if resp.Status == http.StatusCreated {
		t.Errorf("PUT ?digest=%s on the interrupted PUT upload after MinIO restarted: 201 for an upload that never received its bytes", big[1].digest)
	} else {
		t.Logf("PUT ?digest= on the interrupted PUT upload after MinIO restarted: %s", resp)
	}
	expectNoBlob("after the interrupted uploads were finished")

	// Everything acknowledged is served whole.
	expectAcknowledged := func(when string) {
		t.Helper()
		rc.expectManifest("faults/app", "v1", rawManifest(t, img))
		rc.expectContent("faults/app", imgContent)
		pulled := filepath.Join(t.TempDir(), "pulled")
		crane("pull", "--format", "oci", srv.Ref("faults/app:v1"), pulled)
		verifyLayoutHas(t, pulled, "", imgDigest, imgContent)
		resp := rc.must("GET", openLoc, nil, nil)
		if resp.Status != http.StatusNoContent || resp.Header.Get("Range") != fmt.Sprintf("0-%d", openChunk-1) {
			t.Errorf("%s: the open upload: want 204 with Range 0-%d, got %s Range %q", when, openChunk-1, resp, resp.Header.Get("Range"))
		}
	}
	expectAcknowledged("after MinIO restarted")

	// shadowreg restarted on the same bucket: the same, and the open upload
	// can be finished.
	srv.Restart()
	expectAcknowledged("after shadowreg restarted")
	expectNoBlob("after shadowreg restarted")
	resp = rc.must("PUT", withQuery(openLoc, "digest", sha256Digest(openData)), map[string]string{
		"Content-Type": "application/octet-stream",
	}, openData[openChunk:])
	if resp.Status != http.StatusCreated {
		t.Errorf("finishing the open upload after the restarts: want 201, got %s", resp)
	} else if got := rc.getBlob("faults/open", sha256Digest(openData)); got.Status != http.StatusOK || sha256Digest(got.Body) != sha256Digest(openData) {
		t.Errorf("GET of the finished open upload: %d, %d bytes hashing to %s, want %s", got.Status, len(got.Body), sha256Digest(got.Body), sha256Digest(openData))
	}

	// The registry recovered. The PATCHed session, still open, takes the
	// whole blob again from offset 0 (over what its failed chunk left in
	// the bucket), and the other blob goes through in a new session, in one
	// PUT. Both read back exactly.
	u := big[0]
	resp, err = rc.do("PATCH", u.loc, map[string]string{
		"Content-Type": "application/octet-stream", "Content-Range": fmt.Sprintf("0-%d", size-1), "Content-Length": fmt.Sprint(size),
	}, streamData(u.seed, size))
	if err != nil || resp.Status != http.StatusAccepted {
		t.Errorf("PATCH of the whole blob on the interrupted session after recovery: want 202, got %v %v", err, resp)
	} else if resp = rc.must("PUT", withQuery(u.loc, "digest", u.digest), map[string]string{"Content-Length": "0"}, nil); resp.Status != http.StatusCreated {
		t.Errorf("PUT ?digest= on the resumed session: want 201, got %s", resp)
	}
	u = big[1]
	loc, err := rc.startUpload(u.repo)
	if err != nil {
		t.Fatal(err)
	}
	resp, err = rc.do("PUT", withQuery(loc, "digest", u.digest), map[string]string{
		"Content-Type": "application/octet-stream", "Content-Length": fmt.Sprint(size),
	}, streamData(u.seed, size))
	if err != nil || resp.Status != http.StatusCreated {
		t.Errorf("pushing the large blob again after recovery: want 201, got %v %v", err, resp)
	}
	for _, u := range big {
		if st, got, n, err := rc.blobHash(u.repo, u.digest); err != nil || st != http.StatusOK || got != u.digest || n != size {
			t.Errorf("GET of the large blob (%s) after recovery: %d, %d bytes hashing to %s (err %v), want %s", u.method, st, n, got, err, u.digest)
		}
	}
	t.Logf("at the end: upload and writer keys in the bucket: %v",
		append(m.listKeys(t, prefix+"/data/uploads/"), m.listKeys(t, prefix+"/writers/")...))
}
