package shadow_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shadowreg/shadowreg/registry/upstream"
)

// Regression tests for the fail-closed rules of fetches: no response
// completes with bytes that did not verify, every upstream failure is a
// 502/504, bytes stream as they arrive, and nobody waits on a flight they
// left.

// corruptLayer pushes a one-layer image upstream and makes the upstream
// serve wrong bytes of the right length for its layer (with a
// Content-Length unless unsized). It returns the layer's digest and size.
func corruptLayer(t *testing.T, e *env, repo string, size int64, unsized bool) (string, int64) {
	t.Helper()
	img := randomImage(t, size, 1)
	e.up.push(t, repo, "1", img)
	layers, _ := img.Layers()
	d, _ := layers[0].Digest()
	n, _ := layers[0].Size()
	e.up.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodGet || !strings.HasSuffix(r.URL.Path, d.String()) {
			return false
		}
		if !unsized {
			w.Header().Set("Content-Length", itoa(n))
		}
		w.WriteHeader(http.StatusOK)
		w.Write(make([]byte, n))
		return true
	})
	return d.String(), n
}

// A Range of a blob not yet cached used to complete a 206 from the
// upstream's unverified bytes: only the blob's last byte was held back.
func TestColdRangeOfCorruptUpstreamIsAborted(t *testing.T) {
	t.Parallel()
	e := newEnv(t, cached)
	d, _ := corruptLayer(t, e, "library/rng", 1<<20, false)
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/v2/library/rng/blobs/"+d, nil)
	req.Header.Set("Range", "bytes=0-99")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return // refused outright: nothing unverified served
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if resp.StatusCode/100 == 2 && err == nil && len(got) == 100 {
		t.Fatalf("a Range of a corrupt cold blob completed: %d, %d bytes", resp.StatusCode, len(got))
	}
	if resp.StatusCode/100 == 2 && err == nil {
		t.Fatalf("status %d with %d bytes and no error: a short body must be an aborted one", resp.StatusCode, len(got))
	}
}

// A corrupt blob sent without Content-Length used to answer 500 UNKNOWN.
func TestUnsizedCorruptUpstreamBlobIs502(t *testing.T) {
	t.Parallel()
	e := newEnv(t, cached)
	d, _ := corruptLayer(t, e, "library/unsized", 64<<10, true)
	resp, err := http.Get(e.srv.URL + "/v2/library/unsized/blobs/" + d)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Errors []struct{ Code, Message string } `json:"errors"`
	}
	json.NewDecoder(resp.Body).Decode(&body)
	if resp.StatusCode != http.StatusBadGateway || len(body.Errors) != 1 || body.Errors[0].Code != "UNAVAILABLE" {
		t.Fatalf("unsized corrupt upstream blob: %d %+v, want 502 UNAVAILABLE", resp.StatusCode, body.Errors)
	}
}

// Cold bytes used to reach waiting clients only when a 1 MiB buffer filled:
// a client got nothing while the upstream trickled.
func TestColdBlobStreamsAsBytesArrive(t *testing.T) {
	t.Parallel()
	e := newEnv(t, cached)
	img := randomImage(t, 4<<20, 1)
	e.up.push(t, "library/trickle", "1", img)
	layers, _ := img.Layers()
	d, _ := layers[0].Digest()
	size, _ := layers[0].Size()
	rc, _ := layers[0].Compressed()
	blob, _ := io.ReadAll(rc)
	rc.Close()
	release := make(chan struct{})
	e.up.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodGet || !strings.HasSuffix(r.URL.Path, d.String()) {
			return false
		}
		w.Header().Set("Content-Length", itoa(size))
		w.WriteHeader(http.StatusOK)
		w.Write(blob[:64<<10]) // far less than a copy buffer
		w.(http.Flusher).Flush()
		select { // the rest only once the client has seen the first bytes
		case <-release:
		case <-r.Context().Done():
			return true
		}
		w.Write(blob[64<<10:])
		return true
	})
	resp, err := http.Get(e.srv.URL + "/v2/library/trickle/blobs/" + d.String())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	first := make(chan int, 1)
	go func() {
		buf := make([]byte, 32<<10)
		n, _ := io.ReadFull(resp.Body, buf)
		first <- n
	}()
	select {
	case n := <-first:
		if n != 32<<10 {
			t.Fatalf("read %d bytes of the first 32 KiB", n)
		}
	case <-time.After(10 * time.Second):
		close(release)
		t.Fatal("the first bytes the upstream sent did not reach the client within 10 s: held back for a buffer to fill")
	}
	close(release)
	rest, err := io.ReadAll(resp.Body)
	if err != nil || int64(len(rest)+32<<10) != size {
		t.Fatalf("rest of the blob: %d bytes, %v", len(rest), err)
	}
}

// A client that disconnected stayed blocked in the shared upstream request
// (singleflight.Do inside WithoutCancel).
func TestClientLeavesASharedFlight(t *testing.T) {
	t.Parallel()
	e := newEnv(t, cached)
	e.up.push(t, "library/slow", "1", randomImage(t, 1024, 1))
	var hung atomic.Int32
	unblock := make(chan struct{})
	e.up.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		if !strings.Contains(r.URL.Path, "/manifests/") {
			return false
		}
		hung.Add(1)
		select {
		case <-unblock:
		case <-r.Context().Done():
		}
		return false
	})
	defer close(unblock)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.srv.URL+"/v2/library/slow/manifests/1", nil)
	start := time.Now()
	if _, err := http.DefaultClient.Do(req); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("request with a 300 ms deadline: %v", err)
	}
	if hung.Load() == 0 {
		t.Fatal("the upstream was never asked: the test did not exercise a flight")
	}
	// The server side must let go too: a second client with its own short
	// deadline joins the same flight and leaves on time.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel2()
	local, err := e.store.Repo("docker.io/library/slow")
	if err != nil {
		t.Fatal(err)
	}
	repo, err := e.ns.Repo(local, "library/slow")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := repo.Manifest(ctx2, "1"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("joining the flight with a deadline: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("callers left the flight after %v", d)
	}
}

// An upstream answering 429 with a long Retry-After held every client for
// the retry budget, then answered 502 without saying it was rate limited.
func TestRateLimitPassedOn(t *testing.T) {
	t.Parallel()
	e := newEnvRetrying(t, cached, upstream.Options{}) // the default retries, as served
	var asked atomic.Int32
	e.up.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		if !strings.Contains(r.URL.Path, "/manifests/") {
			return false
		}
		asked.Add(1)
		w.Header().Set("Retry-After", "3600")
		http.Error(w, `{"errors":[{"code":"TOOMANYREQUESTS","message":"pull rate limit"}]}`, http.StatusTooManyRequests)
		return true
	})
	start := time.Now()
	resp, err := http.Get(e.srv.URL + "/v2/library/limited/manifests/1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "3600" {
		t.Fatalf("rate limited upstream: %d Retry-After %q, want 429 and 3600", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("answered after %v: the client was held instead of told", d)
	}
	if asked.Load() != 1 {
		t.Fatalf("the upstream was asked %d times; a Retry-After longer than any client waits is not retried", asked.Load())
	}
}

// Detached fetches outlive their clients but not the server: Stop cancels
// them, so shutdown leaves no goroutine downloading.
func TestStopCancelsDetachedFetches(t *testing.T) {
	t.Parallel()
	e := newEnv(t, cached)
	img := randomImage(t, 1<<20, 1)
	e.up.push(t, "library/stop", "1", img)
	layers, _ := img.Layers()
	d, _ := layers[0].Digest()
	size, _ := layers[0].Size()
	started := make(chan struct{})
	var once atomic.Bool
	e.up.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodGet || !strings.HasSuffix(r.URL.Path, d.String()) {
			return false
		}
		w.Header().Set("Content-Length", itoa(size))
		w.WriteHeader(http.StatusOK)
		w.Write(make([]byte, 1024))
		w.(http.Flusher).Flush()
		if once.CompareAndSwap(false, true) {
			close(started)
		}
		<-r.Context().Done() // never finishes on its own
		return true
	})
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.srv.URL+"/v2/library/stop/blobs/"+d.String(), nil)
	go func() {
		if resp, err := http.DefaultClient.Do(req); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}()
	<-started
	cancel() // the client leaves; the fetch goes on, detached
	drain, cancelDrain := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancelDrain()
	if err := e.ns.Drain(drain); err == nil {
		t.Fatal("the fetch ended with its client: it should be detached")
	}
	e.ns.Stop()
	done, cancelDone := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancelDone()
	if err := e.ns.Drain(done); err != nil {
		t.Fatalf("a fetch still runs 5 s after Stop: %v", err)
	}
	assertNotCached(t, e, d)
}

// A 304 or 416 for a blob still being fetched never read the blob, and the
// spool's file descriptor stayed open for good (storage.Blob had no Close).
func TestNoDescriptorLeftByAnswersThatReadNothing(t *testing.T) {
	e := newEnv(t, cached) // not parallel: it counts this process's descriptors
	img := randomImage(t, 1<<20, 1)
	e.up.push(t, "library/fd", "1", img)
	layers, _ := img.Layers()
	d, _ := layers[0].Digest()
	size, _ := layers[0].Size()
	rc, _ := layers[0].Compressed()
	blob, _ := io.ReadAll(rc)
	rc.Close()
	release := make(chan struct{})
	e.up.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodGet || !strings.HasSuffix(r.URL.Path, d.String()) {
			return false
		}
		w.Header().Set("Content-Length", itoa(size))
		w.WriteHeader(http.StatusOK)
		w.Write(blob[:1024])
		w.(http.Flusher).Flush()
		<-release // the fetch stays in flight while the requests below come
		w.Write(blob[1024:])
		return true
	})
	defer close(release)
	url := e.srv.URL + "/v2/library/fd/blobs/" + d.String()
	fds := func() int { ents, _ := os.ReadDir("/proc/self/fd"); return len(ents) }
	http.DefaultClient.CloseIdleConnections()
	before := fds()
	statuses := map[int]int{}
	for i := range 40 {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		if i%2 == 0 {
			req.Header.Set("If-None-Match", `"`+d.String()+`"`)
		} else {
			req.Header.Set("Range", "bytes=999999999-")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		statuses[resp.StatusCode]++
	}
	if statuses[http.StatusNotModified] != 20 || statuses[http.StatusRequestedRangeNotSatisfiable] != 20 {
		t.Fatalf("answers %v, want 20 × 304 and 20 × 416", statuses)
	}
	http.DefaultClient.CloseIdleConnections()
	if grew := fds() - before; grew > 12 { // connections come and go; 40 leaked spools do not
		t.Fatalf("40 answers that read nothing left %d more file descriptors open", grew)
	}
}
