package upstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
)

func TestIsUnavailable(t *testing.T) {
	e := func(status int, err error) error { return &Error{Upstream: "u", Op: "GET x", Status: status, Err: err} }
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{errors.New("invalid name"), false},
		{e(0, errors.New("connection refused")), true},
		{e(0, &timeoutError{"slow"}), true},
		{e(0, context.DeadlineExceeded), true},
		{e(0, context.Canceled), false},
		{e(500, newStatusError(500, nil, false)), true},
		{e(429, newStatusError(429, nil, false)), true},
		{e(401, newStatusError(401, nil, false)), true},
		{e(404, newStatusError(404, nil, false)), false},
		{e(400, newStatusError(400, []byte(`{"errors":[{"code":"NAME_UNKNOWN"}]}`), false)), false},
		{e(400, newStatusError(400, nil, false)), false},
		{fmt.Errorf("wrapped: %w", e(503, nil)), true},
	} {
		if got := IsUnavailable(tc.err); got != tc.want {
			t.Errorf("IsUnavailable(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

func TestStatusError(t *testing.T) {
	body := []byte(`{"errors":[{"code":"DENIED","message":"requested access to the resource is denied\n\u001b[31mx"}]}`)
	err := newStatusError(http.StatusForbidden, body, false)
	if !errors.Is(err, ErrUnauthorized) || err.Error() != "403 Forbidden: DENIED: requested access to the resource is denied  [31mx" {
		t.Errorf("err = %q", err)
	}
	// A token endpoint's 404 is a broken auth setup, not a missing image.
	if err := newStatusError(http.StatusNotFound, nil, true); errors.Is(err, ErrNotFound) {
		t.Errorf("token 404 is ErrNotFound")
	}
	if err := newStatusError(http.StatusOK, []byte(strings.Repeat("x", 10)), false); err.Error() != "200 OK" {
		t.Errorf("non-JSON body: %q", err)
	}
}

func TestBlobSizeChanged(t *testing.T) {
	data := randomBytes(t, 10000)
	reg := newFakeRegistry()
	d := reg.addBlob(data)
	first := true
	reg.hook = func(w http.ResponseWriter, r *http.Request) bool {
		if first {
			first = false
			return cutBlob(data, 1, 100, false)(w, r)
		}
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", rangeStart(r), len(data), len(data)+1))
		w.WriteHeader(http.StatusPartialContent)
		w.Write(append(data[rangeStart(r):], 'x'))
		return true
	}
	c, _ := testClient(t, serve(t, reg).URL, Config{}, Options{})
	_, _, err := readBlob(t, c, d, 0)
	if err == nil || !strings.Contains(err.Error(), "size changed") || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("err = %v", err)
	}
}

func TestRedirectLoop(t *testing.T) {
	reg := newFakeRegistry()
	reg.hook = func(w http.ResponseWriter, r *http.Request) bool {
		http.Redirect(w, r, r.URL.String(), http.StatusFound)
		return true
	}
	c, sl := testClient(t, serve(t, reg).URL, Config{}, Options{})
	_, _, err := c.Blob(context.Background(), "org/app", digest.Digest("sha256:"+strings.Repeat("a", 64)), 0)
	if err == nil || !strings.Contains(err.Error(), "stopped after 10 redirects") || len(sl.all()) != 0 {
		t.Fatalf("err = %v, waits %v", err, sl.all())
	}
}
