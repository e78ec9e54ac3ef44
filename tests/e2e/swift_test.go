package e2e

import (
	"bytes"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSwiftConformance runs the OCI conformance suite (the full profile, the
// same gate as on the filesystem: 0 failed, exact counts) against shadowreg
// on the Swift driver, on a real Swift. Reports:
// .cache/conformance/<target>-swift-1.1+dev/.
func TestSwiftConformance(t *testing.T) {
	t.Parallel()
	requireSwiftTarget(t)
	requireTool(t, "oci-conformance")
	s := sharedSwift(t)
	prefix := s3Prefix(t)
	srv := startSwiftServer(t, s, swiftOptions{Prefix: prefix})
	c := runConformance(t, srv, target+"-swift", profileFull)
	if c.Total == 0 {
		t.Fatal("no conformance test ran")
	}
	if names := s.listNames(t, prefix+"/data/blobs/"); len(names) == 0 {
		t.Errorf("no blob below %s/data/blobs/ after the suite: is the server on the Swift driver?", prefix)
	}
}

// TestSwiftRedirect: with storage.swift.redirect: true, blob GETs answer 307
// to a TempURL on the Swift proxy. The conformance suite (the redirect
// profile, as for S3) and skopeo must still pass, following them.
func TestSwiftRedirect(t *testing.T) {
	t.Parallel()
	requireSwiftTarget(t)
	requireTool(t, "oci-conformance")
	sk := newSkopeo(t)
	s := sharedSwift(t)
	srv := startSwiftServer(t, s, swiftOptions{Prefix: s3Prefix(t), Redirect: true})
	swiftHost, _ := url.Parse(s.StorageURL)

	t.Run("conformance", func(t *testing.T) {
		runConformance(t, srv, target+"-swift-redirect", profileRedirect)
	})
	t.Run("clients", func(t *testing.T) {
		sk := *sk
		sk.t = t
		idx := newIndex(t, formatOCI, 2, 256<<10, 601, "linux/amd64", "linux/arm64/v8")
		src := filepath.Join(t.TempDir(), "src")
		writeLayout(t, src, map[string]any{"idx": idx})
		want := collectContent(t, idx)
		dg := manifestDigest(t, idx)
		sk.copyIn("oci:"+src+":idx", srv.Ref("swiftredirect/app:multi"), "--all")
		noFollow := &http.Client{Timeout: time.Minute, CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		}}
		for d, size := range want.Blobs {
			resp, err := noFollow.Get(srv.URL + "/v2/swiftredirect/app/blobs/" + d)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			loc := resp.Header.Get("Location")
			u, _ := url.Parse(loc)
			if resp.StatusCode != http.StatusTemporaryRedirect || u == nil || u.Host != swiftHost.Host || u.Query().Get("temp_url_sig") == "" {
				t.Errorf("GET blob %s: want 307 to a TempURL on %s, got %d Location %q", d, swiftHost.Host, resp.StatusCode, loc)
				continue
			}
			got, err := http.Get(loc) // no token: only the signature
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(got.Body)
			got.Body.Close()
			if err != nil || got.StatusCode != http.StatusOK || sha256Digest(b) != d || int64(len(b)) != size {
				t.Errorf("TempURL GET of %s: %d, %d bytes hashing to %s (err %v), want 200 with %d bytes", d, got.StatusCode, len(b), sha256Digest(b), err, size)
			}
		}
		out := filepath.Join(t.TempDir(), "out")
		sk.copyOut(srv.Ref("swiftredirect/app:multi"), "oci:"+out+":idx", "--all")
		verifyLayoutHas(t, out, "idx", dg, want)
	})
}

// TestSwiftReplicas runs two stateless replicas on one container: content
// pushed through one is pulled through the other, an upload is continued
// chunk by chunk across them, and skopeo --all pushes and pulls through a
// proxy that alternates replicas on every request.
func TestSwiftReplicas(t *testing.T) {
	t.Parallel()
	requireSwiftTarget(t)
	requireTool(t, "crane")
	sk := newSkopeo(t)
	s := sharedSwift(t)
	prefix := s3Prefix(t)
	a := startSwiftServer(t, s, swiftOptions{Prefix: prefix})
	b := startSwiftServer(t, s, swiftOptions{Prefix: prefix})
	rcA := newRegClient(t, a)

	t.Run("push-A-pull-B", func(t *testing.T) {
		env := clientEnv(t)
		crane := func(args ...string) string {
			t.Helper()
			return strings.TrimSpace(runTool(t, clientTimeout, env, "crane", append([]string{"--insecure"}, args...)...))
		}
		img := newImage(t, formatOCI, 3, 2<<20, "linux/amd64", 611)
		want := collectContent(t, img)
		dg := manifestDigest(t, img)
		lay := filepath.Join(t.TempDir(), "layout")
		writeLayout(t, lay, map[string]any{"img": img})
		crane("push", lay, a.Ref("replicas/crane:1"))
		if got := crane("digest", b.Ref("replicas/crane:1")); got != dg {
			t.Errorf("crane digest via B = %s, want %s", got, dg)
		}
		pulled := filepath.Join(t.TempDir(), "pulled")
		crane("pull", "--format", "oci", b.Ref("replicas/crane:1"), pulled)
		verifyLayoutHas(t, pulled, "", dg, want)
	})

	t.Run("chunked-upload-alternating", func(t *testing.T) {
		rcA := *rcA
		rcA.t = t
		rcB := onReplica(&rcA, b)
		clients := []*regClient{&rcA, rcB}
		// Chunks of 6 MiB and a bit (above the 5 MiB tail limit: a segment
		// at each checkpoint) and of 1 MiB (kept as a tail), in turn.
		rnd := rand.New(rand.NewSource(612))
		sizes := []int{6<<20 + 4099, 1<<20 + 7, 6<<20 + 1, 1 << 20, 9<<20 + 3}
		total := 0
		for _, n := range sizes {
			total += n
		}
		data := make([]byte, total)
		rnd.Read(data)
		dg := sha256Digest(data)
		repo := "replicas/chunked"
		loc, err := rcB.startUpload(repo)
		if err != nil {
			t.Fatal(err)
		}
		off := 0
		for i, n := range sizes {
			c := clients[i%2]
			resp := c.must("PATCH", loc, map[string]string{
				"Content-Type": "application/octet-stream", "Content-Range": fmt.Sprintf("%d-%d", off, off+n-1),
			}, data[off:off+n])
			if resp.Status != http.StatusAccepted || resp.Header.Get("Range") != fmt.Sprintf("0-%d", off+n-1) {
				t.Fatalf("PATCH %d on replica %d: want 202 with Range 0-%d, got %s Range %q", i, i%2, off+n-1, resp, resp.Header.Get("Range"))
			}
			if l := resp.Header.Get("Location"); l != "" {
				loc = l
			}
			off += n
		}
		resp := rcB.must("PUT", withQuery(loc, "digest", dg), map[string]string{"Content-Length": "0"}, nil)
		if resp.Status != http.StatusCreated {
			t.Fatalf("closing PUT on B: want 201, got %s", resp)
		}
		for i, c := range clients {
			got := c.getBlob(repo, dg)
			if got.Status != http.StatusOK || !bytes.Equal(got.Body, data) {
				t.Errorf("GET blob via replica %d: %d, %d bytes hashing to %s; want 200 with the %d bytes pushed", i, got.Status, len(got.Body), sha256Digest(got.Body), len(data))
			}
		}
	})

	t.Run("round-robin-skopeo-all", func(t *testing.T) {
		sk := *sk
		sk.t = t
		rr := newRoundRobin(t, a, b)
		idx := newIndex(t, formatOCI, 2, 3<<20, 613, "linux/amd64", "linux/arm64/v8", "linux/s390x")
		want := collectContent(t, idx)
		dg := manifestDigest(t, idx)
		src := filepath.Join(t.TempDir(), "src")
		writeLayout(t, src, map[string]any{"idx": idx})
		ref := rr.Addr + "/quay.io/org/round-robin:multi"
		sk.copyIn("oci:"+src+":idx", ref, "--all")
		out := filepath.Join(t.TempDir(), "out")
		sk.copyOut(ref, "oci:"+out+":idx", "--all")
		verifyLayoutHas(t, out, "idx", dg, want)
		for _, srv := range []*Server{a, b} {
			c := onReplica(rcA, srv)
			c.t = t
			c.expectContent("quay.io/org/round-robin", want)
		}
		st := rr.stats()
		if st.perReplica[0] == 0 || st.perReplica[1] == 0 {
			t.Errorf("the proxy did not use both replicas: %v", st.perReplica)
		}
		if st.crossUploads == 0 {
			t.Errorf("no upload session was served by both replicas (%d sessions)", st.uploads)
		}
	})
}

// TestSwiftLargeBlob pushes a blob of three and a half segments in one
// stream: a static large object, which round trips with its digest, and
// whose segments are in the container.
func TestSwiftLargeBlob(t *testing.T) {
	t.Parallel()
	requireSwiftTarget(t)
	s := sharedSwift(t)
	prefix := s3Prefix(t)
	srv := startSwiftServer(t, s, swiftOptions{Prefix: prefix})
	rc := newRegClient(t, srv)
	data := make([]byte, 3*swiftSegment+swiftSegment/2+17)
	rand.New(rand.NewSource(621)).Read(data)
	dg := rc.pushBlob("large/blob", data)
	if dg != sha256Digest(data) {
		t.Fatalf("pushBlob returned %s, want %s", dg, sha256Digest(data))
	}
	status, got, n, err := rc.blobHash("large/blob", dg)
	if err != nil || status != http.StatusOK || got != dg || n != int64(len(data)) {
		t.Fatalf("GET large blob: %d, %d bytes hashing to %s (%v); want 200, %d bytes, %s", status, n, got, err, len(data), dg)
	}
	if segs := s.listNames(t, prefix+"/segments/"); len(segs) < 4 {
		t.Errorf("segments below %s/segments/: %d, want at least 4 (is the blob a static large object?)", prefix, len(segs))
	}
}

// TestSwiftFaults stops Swift's proxy in the middle of a large push: the
// client gets an error (never a 201), nothing half-written becomes visible,
// and what was acknowledged before — a blob, and the first chunk of an
// upload still open — is served whole, or completes, once Swift is back.
func TestSwiftFaults(t *testing.T) {
	t.Parallel()
	requireSwiftTarget(t)
	s := newSwift(t) // its own: this test stops it
	prefix := s3Prefix(t)
	srv := startSwiftServer(t, s, swiftOptions{Prefix: prefix})
	rc := newRegClient(t, srv)
	seed := crashSeed(t)

	acked := make([]byte, 2*swiftSegment+12345)
	rand.New(rand.NewSource(int64(seed))).Read(acked)
	ackedDigest := rc.pushBlob("faults/acked", acked)
	// An upload left open with one acknowledged chunk: a segment and a tail.
	openData := make([]byte, swiftSegment+3<<20+77)
	rand.New(rand.NewSource(int64(seed) + 2)).Read(openData)
	const openChunk = swiftSegment + 1<<20 + 5
	openLoc, err := rc.startUpload("faults/open")
	if err != nil {
		t.Fatal(err)
	}
	if resp := rc.must("PATCH", openLoc, map[string]string{
		"Content-Type": "application/octet-stream", "Content-Range": fmt.Sprintf("0-%d", openChunk-1),
	}, openData[:openChunk]); resp.Status != http.StatusAccepted {
		t.Fatalf("PATCH of the open upload: want 202, got %s", resp)
	} else if l := resp.Header.Get("Location"); l != "" {
		openLoc = l
	}

	const size, stopAt = 48 << 20, 20 << 20
	dg := streamDigest(t, seed+1, size)
	loc, err := rc.startUpload("faults/big")
	if err != nil {
		t.Fatal(err)
	}
	pr := newPauseReader(streamData(seed+1, size), stopAt)
	done := make(chan error, 1)
	var resp response
	go func() {
		var err error
		resp, err = rc.do("PUT", withQuery(loc, "digest", dg),
			map[string]string{"Content-Type": "application/octet-stream", "Content-Length": fmt.Sprint(size)}, pr)
		done <- err
	}()
	select {
	case <-pr.reached:
	case <-time.After(2 * time.Minute):
		t.Fatal("the push never reached the pause point")
	}
	s.KillProxy(t)
	close(pr.resume)
	select {
	case err := <-done:
		if err == nil && resp.Status == http.StatusCreated {
			t.Fatalf("push with Swift down: 201 Created")
		}
		t.Logf("push with Swift down: %v %v", err, resp)
	case <-time.After(3 * time.Minute):
		t.Fatal("the push did not end within 3 minutes of Swift going down")
	}
	s.Revive(t)
	if st, _, _, _ := rc.blobHash("faults/big", dg); st != http.StatusNotFound {
		t.Errorf("GET of the interrupted blob after Swift is back: %d, want 404", st)
	}
	alg, hex, _ := strings.Cut(dg, ":")
	if names := s.listNames(t, prefix+"/data/blobs/"+alg+"/"+hex[:2]+"/"+hex); len(names) != 0 {
		t.Errorf("the interrupted blob is in the container: %v", names)
	}
	st, got, n, err := rc.blobHash("faults/acked", ackedDigest)
	if err != nil || st != http.StatusOK || got != ackedDigest || n != int64(len(acked)) {
		t.Errorf("GET of the blob acknowledged before the fault: %d, %d bytes hashing to %s (%v); want it whole", st, n, got, err)
	}
	// The open upload's acknowledged chunk survived: it completes and verifies.
	openDigest := sha256Digest(openData)
	if resp := rc.must("PUT", withQuery(openLoc, "digest", openDigest), map[string]string{
		"Content-Type": "application/octet-stream",
	}, openData[openChunk:]); resp.Status != http.StatusCreated {
		t.Fatalf("completing the upload opened before the fault: want 201, got %s", resp)
	}
	if st, got, n, err := rc.blobHash("faults/open", openDigest); err != nil || st != http.StatusOK || got != openDigest {
		t.Errorf("GET of the upload completed after the fault: %d, %d bytes hashing to %s (%v)", st, n, got, err)
	}
}
