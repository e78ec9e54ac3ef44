package upstream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
)

// rangeStart returns the N of a "bytes=N-" Range header, 0 without one.
func rangeStart(r *http.Request) int64 {
	v, ok := strings.CutPrefix(r.Header.Get("Range"), "bytes=")
	if !ok {
		return 0
	}
	n, _ := strconv.ParseInt(strings.TrimSuffix(v, "-"), 10, 64)
	return n
}

// cutBlob answers the first breaks GETs with the blob from the requested
// offset but drops the connection after cut bytes (after announcing the
// full length, as a reset mid-stream looks to a client).
func cutBlob(data []byte, breaks, cut int, chunked bool) func(http.ResponseWriter, *http.Request) bool {
	var left atomic.Int32
	left.Store(int32(breaks))
	return func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodGet || !strings.Contains(r.URL.Path, "/blobs/") || left.Add(-1) < 0 {
			return false
		}
		start := rangeStart(r)
		rest := data[start:]
		if !chunked {
			w.Header().Set("Content-Length", fmt.Sprint(len(rest)))
		}
		if start > 0 {
			w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, len(data)-1, len(data)))
			w.WriteHeader(http.StatusPartialContent)
		}
		w.Write(rest[:min(cut, len(rest))])
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler) // drop the connection mid-body
	}
}

func readBlob(t *testing.T, c *Client, d digest.Digest, offset int64) ([]byte, int64, error) {
	t.Helper()
	rc, size, err := c.Blob(context.Background(), "org/app", d, offset)
	if err != nil {
		return nil, 0, err
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	return data, size, err
}

func TestBlobResume(t *testing.T) {
	for _, chunked := range []bool{false, true} {
		t.Run(fmt.Sprintf("chunked=%v", chunked), func(t *testing.T) {
			data := randomBytes(t, 1<<20)
			reg := newFakeRegistry()
			d := reg.addBlob(data)
			reg.hook = cutBlob(data, 2, 100<<10, chunked)
			c, sl := testClient(t, serve(t, reg).URL, Config{}, Options{})
			got, size, err := readBlob(t, c, d, 0)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, data) || digest.FromBytes(got) != d {
				t.Fatalf("resumed blob differs: %d bytes, want %d", len(got), len(data))
			}
			wantSize := int64(len(data))
			if chunked {
				wantSize = -1 // not announced by the first answer
			}
			if size != wantSize {
				t.Errorf("size = %d, want %d", size, wantSize)
			}
			var ranges []string
			for _, r := range reg.requests() {
				ranges = append(ranges, r.Header.Get("Range"))
			}
			want := []string{"", "bytes=102400-", "bytes=204800-"}
			if fmt.Sprint(ranges) != fmt.Sprint(want) {
				t.Errorf("ranges = %q, want %q", ranges, want)
			}
			if len(sl.all()) != 2 {
				t.Errorf("waits = %v, want a backoff per resume", sl.all())
			}
		})
	}
}

func TestBlobResumeBounded(t *testing.T) {
	data := randomBytes(t, 64<<10)
	reg := newFakeRegistry()
	d := reg.addBlob(data)
	reg.hook = cutBlob(data, 1000, 1000, false)
	c, _ := testClient(t, serve(t, reg).URL, Config{}, Options{Resumes: 3})
	got, size, err := readBlob(t, c, d, 0)
	if err == nil || !errors.Is(err, io.ErrUnexpectedEOF) || !IsUnavailable(err) {
		t.Fatalf("err = %v", err)
	}
	if size != int64(len(data)) || len(got) != 4000 || !bytes.Equal(got, data[:4000]) {
		t.Errorf("read %d bytes of %d (size %d), want 4000 good ones before the error", len(got), len(data), size)
	}
	if n := reg.count("GET"); n != 4 {
		t.Errorf("GETs = %d, want 4 (first + 3 resumes)", n)
	}
	if !strings.Contains(err.Error(), "stream broke at byte 4000 of 65536 after 3 resumes") {
		t.Errorf("err = %v", err)
	}
}

func TestBlobNoResume(t *testing.T) {
	// Resumes -1: the first break is the caller's, still never a short read.
	data := randomBytes(t, 8<<10)
	reg := newFakeRegistry()
	d := reg.addBlob(data)
	reg.hook = cutBlob(data, 1, 100, false)
	c, _ := testClient(t, serve(t, reg).URL, Config{}, Options{Resumes: -1})
	if _, _, err := readBlob(t, c, d, 0); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("err = %v", err)
	}
}

func TestBlobStallResumed(t *testing.T) {
	data := randomBytes(t, 256<<10)
	reg := newFakeRegistry()
	d := reg.addBlob(data)
	var n atomic.Int32
	reg.hook = func(w http.ResponseWriter, r *http.Request) bool {
		if n.Add(1) > 1 {
			return false
		}
		w.Header().Set("Content-Length", fmt.Sprint(len(data)))
		w.Write(data[:1000])
		w.(http.Flusher).Flush()
		<-r.Context().Done() // stall until the client gives up on us
		return true
	}
	c, _ := testClient(t, serve(t, reg).URL, Config{Timeout: Duration(200 * time.Millisecond)}, Options{})
	got, _, err := readBlob(t, c, d, 0)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("err = %v, %d bytes", err, len(got))
	}
	if r := reg.requests(); len(r) != 2 || r[1].Header.Get("Range") != "bytes=1000-" {
		t.Errorf("requests: %d, second Range %q", len(r), r[len(r)-1].Header.Get("Range"))
	}
}

func TestBlobSlowConsumerIsNotAStall(t *testing.T) {
	// Far more than loopback's socket buffers hold, so that the upstream is
	// still sending, blocked, while the consumer pauses: only then could a
	// stall timer that counted the consumer's time cut the stream.
	data := randomBytes(t, 32<<20)
	reg := newFakeRegistry()
	d := reg.addBlob(data)
	var sentAll atomic.Bool
	reg.hook = func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodGet || !strings.Contains(r.URL.Path, "/blobs/") {
			return false
		}
		w.Header().Set("Content-Length", fmt.Sprint(len(data)))
		w.Write(data)
		sentAll.Store(true)
		return true
	}
	c, _ := testClient(t, serve(t, reg).URL, Config{Timeout: Duration(300 * time.Millisecond)}, Options{})
	rc, _, err := c.Blob(context.Background(), "org/app", d, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	buf := make([]byte, 1000)
	if _, err := io.ReadFull(rc, buf); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // the consumer is slow, not the upstream: 3 idle timeouts
	if sentAll.Load() {
		t.Fatal("the upstream had sent the whole blob before the consumer's pause ended: the pause did not overlap a transfer in progress")
	}
	rest, err := io.ReadAll(rc)
	if err != nil || !bytes.Equal(append(buf, rest...), data) {
		t.Fatalf("err = %v", err)
	}
	if n := len(reg.requests()); n != 1 {
		t.Errorf("requests = %d, want 1", n)
	}
}

func TestBlobOffset(t *testing.T) {
	data := randomBytes(t, 10000)
	reg := newFakeRegistry()
	d := reg.addBlob(data)
	c, _ := testClient(t, serve(t, reg).URL, Config{}, Options{})
	got, size, err := readBlob(t, c, d, 4000)
	if err != nil || size != 10000 || !bytes.Equal(got, data[4000:]) {
		t.Fatalf("got %d bytes, size %d, err %v", len(got), size, err)
	}
	if r := reg.requests()[0].Header.Get("Range"); r != "bytes=4000-" {
		t.Errorf("Range = %q", r)
	}

	// An upstream ignoring Range answers 200: the client skips.
	reg.hook = func(w http.ResponseWriter, r *http.Request) bool {
		r.Header.Del("Range")
		return false
	}
	got, size, err = readBlob(t, c, d, 4000)
	if err != nil || size != 10000 || !bytes.Equal(got, data[4000:]) {
		t.Fatalf("range ignored: got %d bytes, size %d, err %v", len(got), size, err)
	}

	// A 206 for another range is refused.
	reg.hook = func(w http.ResponseWriter, r *http.Request) bool {
		w.Header().Set("Content-Range", "bytes 0-9999/10000")
		w.WriteHeader(http.StatusPartialContent)
		w.Write(data)
		return true
	}
	if _, _, err := readBlob(t, c, d, 4000); err == nil || !strings.Contains(err.Error(), "Content-Range") {
		t.Errorf("wrong range: err = %v", err)
	}
}

func TestBlobRedirectDropsAuthorization(t *testing.T) {
	data := randomBytes(t, 300<<10)
	var mu sync.Mutex
	var cdnAuth []string
	var cdnHits atomic.Int32
	cdn := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		cdnAuth = append(cdnAuth, r.Header.Get("Authorization"))
		mu.Unlock()
		if cdnHits.Add(1) == 1 { // break the first download to resume through the redirect
			w.Header().Set("Content-Length", fmt.Sprint(len(data)))
			w.Write(data[:50000])
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		}
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(data))
	}))
	reg := newFakeRegistry()
	reg.auth = basicAuth("bob", "pw")
	d := digest.FromBytes(data)
	reg.hook = func(w http.ResponseWriter, r *http.Request) bool {
		if !strings.Contains(r.URL.Path, "/blobs/") || r.Header.Get("Authorization") == "" {
			return false
		}
		http.Redirect(w, r, cdn.URL+"/signed/"+d.Encoded()+"?sig=abc", http.StatusTemporaryRedirect)
		return true
	}
	c, _ := testClient(t, serve(t, reg).URL, Config{Username: "bob", Password: "pw"}, Options{})
	got, size, err := readBlob(t, c, d, 0)
	if err != nil || size != int64(len(data)) || !bytes.Equal(got, data) {
		t.Fatalf("got %d bytes, size %d, err %v", len(got), size, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(cdnAuth) != 2 {
		t.Fatalf("CDN requests = %d, want 2", len(cdnAuth))
	}
	for _, a := range cdnAuth {
		if a != "" {
			t.Errorf("CDN on another port got Authorization %q", a)
		}
	}
	var regAuth int
	for _, r := range reg.requests() {
		if strings.HasPrefix(r.Header.Get("Authorization"), "Basic ") {
			regAuth++
		}
	}
	if regAuth != 2 {
		t.Errorf("registry got credentials %d times, want 2 (first GET, resume)", regAuth)
	}
}

func TestBlobHead(t *testing.T) {
	data := randomBytes(t, 777)
	reg := newFakeRegistry()
	d := reg.addBlob(data)
	c, _ := testClient(t, serve(t, reg).URL, Config{}, Options{})
	ctx := context.Background()
	if size, err := c.BlobHead(ctx, "org/app", d); err != nil || size != 777 {
		t.Fatalf("size %d, err %v", size, err)
	}
	if reg.count("GET") != 0 {
		t.Errorf("HEAD sent a GET")
	}
	_, err := c.BlobHead(ctx, "org/app", digest.FromString("missing"))
	if !errors.Is(err, ErrNotFound) || IsUnavailable(err) {
		t.Errorf("missing: err = %v", err)
	}
	if _, _, err := c.Blob(ctx, "org/app", digest.FromString("missing"), 0); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing GET: err = %v", err)
	}

	// A HEAD without Content-Length: the GET's headers tell.
	reg.hook = func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodHead {
			w.Header().Set("Transfer-Encoding", "chunked")
			w.WriteHeader(http.StatusOK)
			return true
		}
		return false
	}
	if size, err := c.BlobHead(ctx, "org/app", d); err != nil || size != 777 {
		t.Fatalf("fallback: size %d, err %v", size, err)
	}

	// An answer for another blob.
	reg.hook = func(w http.ResponseWriter, r *http.Request) bool {
		w.Header().Set("Docker-Content-Digest", digest.FromString("other").String())
		w.Header().Set("Content-Length", "5")
		return true
	}
	if _, err := c.BlobHead(ctx, "org/app", d); err == nil || !IsUnavailable(err) {
		t.Errorf("other blob: err = %v", err)
	}
}

func TestBlobCloseAbortsRead(t *testing.T) {
	data := randomBytes(t, 64<<10)
	reg := newFakeRegistry()
	d := reg.addBlob(data)
	reg.hook = func(w http.ResponseWriter, r *http.Request) bool {
		w.Header().Set("Content-Length", fmt.Sprint(len(data)))
		w.Write(data[:10])
		w.(http.Flusher).Flush()
		<-r.Context().Done()
		return true
	}
	c, _ := testClient(t, serve(t, reg).URL, Config{}, Options{})
	rc, _, err := c.Blob(context.Background(), "org/app", d, 0)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := io.ReadAll(rc)
		done <- err
	}()
	// Close while the Read is blocked on the upstream, not before it began.
	waitBlockedIn(t, "upstream.(*blobReader).Read")
	rc.Close()
	select {
	case err := <-done:
		if err == nil {
			t.Error("read of a closed stream ended without error")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not abort the blocked Read")
	}
}

func TestParseContentRange(t *testing.T) {
	for _, tc := range []struct {
		v           string
		start, size int64
		ok          bool
	}{
		{"bytes 0-9/10", 0, 10, true},
		{"bytes 100-999/1000", 100, 1000, true},
		{"bytes 5-9/*", 5, -1, true},
		{"bytes 5-9/9", 0, 0, false},
		{"bytes 9-5/10", 0, 0, false},
		{"bytes */10", 0, 0, false},
		{"items 0-9/10", 0, 0, false},
		{"", 0, 0, false},
	} {
		start, size, err := parseContentRange(tc.v)
		if (err == nil) != tc.ok || start != tc.start || size != tc.size {
			t.Errorf("parseContentRange(%q) = %d, %d, %v", tc.v, start, size, err)
		}
	}
}

// waitBlockedIn waits until some goroutine is parked (waiting on I/O, a
// channel or a lock) with fn on its stack: a test that means to act while a
// call blocks must not act before the call began.
func waitBlockedIn(t *testing.T, fn string) {
	t.Helper()
	buf := make([]byte, 1<<20)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		n := runtime.Stack(buf, true)
		for _, g := range strings.Split(string(buf[:n]), "\n\n") {
			header, _, _ := strings.Cut(g, "\n")
			parked := strings.Contains(header, "[IO wait") || strings.Contains(header, "[select") ||
				strings.Contains(header, "[chan receive") || strings.Contains(header, "[sync.")
			if parked && strings.Contains(g, fn) {
				return
			}
		}
	}
	t.Fatalf("no goroutine blocked in %s within 10s", fn)
}
