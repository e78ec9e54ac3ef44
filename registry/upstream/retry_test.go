package upstream

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		v    string
		want time.Duration
		ok   bool
	}{
		{"7", 7 * time.Second, true},
		{" 0 ", 0, true},
		{"120", 2 * time.Minute, true},
		{"-3", 0, false},
		{"", 0, false},
		{"soon", 0, false},
		{"1.5", 0, false},
		{"Fri, 02 Jan 2026 03:04:15 GMT", 10 * time.Second, true},
		{"Friday, 02-Jan-26 03:05:05 GMT", time.Minute, true}, // RFC 850
		{"Fri Jan  2 03:04:06 2026", time.Second, true},       // asctime
		{"Fri, 02 Jan 2026 03:00:00 GMT", 0, true},            // in the past
		{"99999999999999999999", 0, false},
	} {
		got, ok := parseRetryAfter(tc.v, now)
		if got != tc.want || ok != tc.ok {
			t.Errorf("parseRetryAfter(%q) = %v, %v; want %v, %v", tc.v, got, ok, tc.want, tc.ok)
		}
	}
}

// failing answers the first n requests with status (and Retry-After if set).
func failing(n int, status int, retryAfter string) func(http.ResponseWriter, *http.Request) bool {
	var left atomic.Int32
	left.Store(int32(n))
	return func(w http.ResponseWriter, r *http.Request) bool {
		if left.Add(-1) < 0 {
			return false
		}
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		registryError(w, status, "UNAVAILABLE", "try later")
		return true
	}
}

func TestRetry5xxThenSuccess(t *testing.T) {
	reg := newFakeRegistry()
	reg.addManifest("org/app", "v1", "", []byte(ociManifest))
	reg.hook = failing(2, http.StatusServiceUnavailable, "")
	var codes []string
	c, sl := testClient(t, serve(t, reg).URL, Config{}, Options{Backoff: 100 * time.Millisecond,
		Requests: CounterFunc(func(ns, op, code string) { codes = append(codes, ns+" "+op+" "+code) })})
	if _, err := c.Manifest(context.Background(), "org/app", "v1"); err != nil {
		t.Fatal(err)
	}
	if n := len(reg.requests()); n != 3 {
		t.Errorf("requests = %d, want 3", n)
	}
	waits := sl.all()
	if len(waits) != 2 || waits[0] < 50*time.Millisecond || waits[0] > 100*time.Millisecond ||
		waits[1] < 100*time.Millisecond || waits[1] > 200*time.Millisecond {
		t.Errorf("waits = %v, want exponential with jitter from 100ms", waits)
	}
	want := "test.io manifest 503,test.io manifest 503,test.io manifest 200"
	if strings.Join(codes, ",") != want {
		t.Errorf("counted %q, want %q", codes, want)
	}
}

func TestRetryAfter(t *testing.T) {
	clk := newClock()
	for _, tc := range []struct {
		header string
		want   time.Duration
	}{
		{"7", 7 * time.Second},
		{clk.Now().Add(12 * time.Second).Format(http.TimeFormat), 12 * time.Second},
	} {
		reg := newFakeRegistry()
		reg.addManifest("org/app", "v1", "", []byte(ociManifest))
		reg.hook = failing(1, http.StatusTooManyRequests, tc.header)
		c, sl := testClient(t, serve(t, reg).URL, Config{}, Options{Now: clk.Now})
		if _, err := c.Manifest(context.Background(), "org/app", "v1"); err != nil {
			t.Fatal(err)
		}
		if w := sl.all(); len(w) != 1 || w[0] != tc.want {
			t.Errorf("Retry-After %q: waited %v, want %v", tc.header, w, tc.want)
		}
	}
}

// TestRetryAfterTooLong: an upstream asking for more than maxRetryAfter is
// not waited for at all (it would hold every client for the whole retry
// budget, then fail): the error says so at once, with how long it asked.
func TestRetryAfterTooLong(t *testing.T) {
	clk := newClock()
	reg := newFakeRegistry()
	reg.addManifest("org/app", "v1", "", []byte(ociManifest))
	reg.hook = failing(1, http.StatusTooManyRequests, "3600")
	c, sl := testClient(t, serve(t, reg).URL, Config{}, Options{Now: clk.Now})
	_, err := c.Manifest(context.Background(), "org/app", "v1")
	d, limited := RateLimited(err)
	if !limited || d != time.Hour || !IsUnavailable(err) {
		t.Errorf("err = %v (rate limited %v for %v), want a 429 asking for 1h", err, limited, d)
	}
	if w := sl.all(); len(w) != 0 {
		t.Errorf("waited %v before giving up", w)
	}
	if _, limited := RateLimited(errors.New("x")); limited {
		t.Error("any error is rate limiting")
	}
}

func TestRetryAfterRealWait(t *testing.T) {
	// The real sleep honours a (short) Retry-After.
	reg := newFakeRegistry()
	reg.addManifest("org/app", "v1", "", []byte(ociManifest))
	reg.hook = failing(1, http.StatusTooManyRequests, "1")
	c, err := New("test.io", Config{URL: serve(t, reg).URL}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := c.Manifest(context.Background(), "org/app", "v1"); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < time.Second {
		t.Errorf("retried after %v, before Retry-After", d)
	}
}

func TestRetriesBounded(t *testing.T) {
	reg := newFakeRegistry()
	reg.hook = failing(1000, http.StatusInternalServerError, "")
	c, sl := testClient(t, serve(t, reg).URL, Config{}, Options{Retries: 2})
	_, err := c.Manifest(context.Background(), "org/app", "v1")
	var e *Error
	if !errors.As(err, &e) || e.Status != 500 || !IsUnavailable(err) || errors.Is(err, ErrNotFound) {
		t.Fatalf("err = %v", err)
	}
	if n := len(reg.requests()); n != 3 || len(sl.all()) != 2 {
		t.Errorf("requests = %d, waits = %v; want 3 and 2", n, sl.all())
	}

	none, _ := testClient(t, serve(t, reg).URL, Config{}, Options{Retries: -1})
	before := len(reg.requests())
	none.Manifest(context.Background(), "org/app", "v1")
	if n := len(reg.requests()) - before; n != 1 {
		t.Errorf("Retries -1: requests = %d, want 1", n)
	}
}

func TestNoRetryOn4xx(t *testing.T) {
	for _, status := range []int{http.StatusBadRequest, http.StatusForbidden, http.StatusNotFound, http.StatusNotImplemented} {
		reg := newFakeRegistry()
		reg.hook = failing(1000, status, "1")
		c, sl := testClient(t, serve(t, reg).URL, Config{}, Options{})
		_, err := c.Manifest(context.Background(), "org/app", "v1")
		if err == nil || len(reg.requests()) != 1 || len(sl.all()) != 0 {
			t.Errorf("%d: err %v after %d requests", status, err, len(reg.requests()))
		}
	}
}

func TestConnectionRefusedRetried(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	c, sl := testClient(t, "http://"+addr, Config{}, Options{})
	_, err = c.Manifest(context.Background(), "library/alpine", "latest")
	if !IsUnavailable(err) || len(sl.all()) != DefaultRetries {
		t.Fatalf("err = %v after %d waits", err, len(sl.all()))
	}
	want := "upstream test.io (http://" + addr + "): GET manifest library/alpine:latest: dial tcp " + addr + ": connect: connection refused"
	if err.Error() != want {
		t.Errorf("err = %q\nwant  %q", err, want)
	}
}

func TestConnectionResetRetried(t *testing.T) {
	reg := newFakeRegistry()
	reg.addManifest("org/app", "v1", "", []byte(ociManifest))
	var n atomic.Int32
	reg.hook = func(w http.ResponseWriter, r *http.Request) bool {
		if n.Add(1) > 2 {
			return false
		}
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.(*net.TCPConn).SetLinger(0) // close with RST
			conn.Close()
		}
		return true
	}
	c, sl := testClient(t, serve(t, reg).URL, Config{}, Options{})
	if _, err := c.Manifest(context.Background(), "org/app", "v1"); err != nil {
		t.Fatal(err)
	}
	if len(sl.all()) < 1 {
		t.Errorf("no retry after resets")
	}
}

func TestResponseTimeout(t *testing.T) {
	reg := newFakeRegistry()
	reg.addManifest("org/app", "v1", "", []byte(ociManifest))
	var n atomic.Int32
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	reg.hook = func(w http.ResponseWriter, r *http.Request) bool {
		if n.Add(1) > 1 {
			return false
		}
		select { // no headers until the client gave up
		case <-r.Context().Done():
		case <-release:
		}
		return true
	}
	c, sl := testClient(t, serve(t, reg).URL, Config{Timeout: Duration(100 * time.Millisecond)}, Options{})
	if _, err := c.Manifest(context.Background(), "org/app", "v1"); err != nil {
		t.Fatal(err)
	}
	if len(sl.all()) != 1 {
		t.Errorf("waits = %v, want one retry after the timeout", sl.all())
	}

	reg.hook = func(w http.ResponseWriter, r *http.Request) bool {
		<-r.Context().Done()
		return true
	}
	_, err := c.Manifest(context.Background(), "org/app", "v1")
	var e *Error
	if !errors.As(err, &e) || !e.Timeout() || !IsUnavailable(err) || !strings.Contains(err.Error(), "no response within 100ms") {
		t.Errorf("err = %v", err)
	}
}

func TestContextCancellation(t *testing.T) {
	reg := newFakeRegistry()
	reg.hook = failing(1000, http.StatusServiceUnavailable, "30")
	url := serve(t, reg).URL

	// Cancelled while waiting to retry (the real sleep).
	c, err := New("test.io", Config{URL: url}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	_, err = c.Manifest(ctx, "org/app", "v1")
	if time.Since(start) > 5*time.Second || !errors.Is(err, context.Canceled) || IsUnavailable(err) {
		t.Errorf("cancel during backoff: err = %v after %v", err, time.Since(start))
	}

	// A deadline shorter than the wait: the upstream's error at once.
	ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start = time.Now()
	_, err = c.Manifest(ctx, "org/app", "v1")
	var e *Error
	if time.Since(start) > time.Second || !errors.As(err, &e) || e.Status != http.StatusServiceUnavailable {
		t.Errorf("deadline before Retry-After: err = %v after %v", err, time.Since(start))
	}

	// The caller's deadline passing during a request is reported as a timeout.
	reg.hook = func(w http.ResponseWriter, r *http.Request) bool {
		<-r.Context().Done()
		return true
	}
	ctx, cancel = context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = c.Manifest(ctx, "org/app", "v1")
	if !errors.As(err, &e) || !e.Timeout() || !errors.Is(err, context.DeadlineExceeded) || !IsUnavailable(err) {
		t.Errorf("caller's deadline: err = %v", err)
	}

	// Cancelled while the upstream is slow to answer: not the upstream's fault.
	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	_, err = c.Manifest(ctx, "org/app", "v1")
	if !errors.Is(err, context.Canceled) || IsUnavailable(err) {
		t.Errorf("cancel during request: err = %v (unavailable %v)", err, IsUnavailable(err))
	}
}

func TestBackoff(t *testing.T) {
	c := &Client{backoff: 250 * time.Millisecond}
	for try, max := range []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second} {
		for range 50 {
			if d := c.backoffFor(try); d < max/2 || d > max {
				t.Fatalf("backoffFor(%d) = %v, want within [%v, %v]", try, d, max/2, max)
			}
		}
	}
	for _, try := range []int{10, 63, 1000} {
		if d := c.backoffFor(try); d < maxBackoff/2 || d > maxBackoff {
			t.Errorf("backoffFor(%d) = %v, want capped at %v", try, d, maxBackoff)
		}
	}
}

func TestRetryable(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{&timeoutError{"x"}, true},
		{&net.OpError{Op: "read", Err: errors.New("connection reset by peer")}, false},
		{&net.DNSError{Err: "no such host", IsNotFound: true}, false},
		{&net.DNSError{Err: "server misbehaving", IsTemporary: true}, true},
		{context.Canceled, false},
		{errors.New("stream error: stream ID 3; INTERNAL_ERROR"), true},
		{errors.New("x509: certificate signed by unknown authority"), false},
	} {
		if got := retryable(tc.err); got != tc.want {
			t.Errorf("retryable(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
