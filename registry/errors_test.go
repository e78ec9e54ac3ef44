package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"

	"github.com/opencontainers/go-digest"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/shadowreg/shadowreg/internal/errcode"
	"github.com/shadowreg/shadowreg/internal/ref"
	"github.com/shadowreg/shadowreg/registry/auth"
	"github.com/shadowreg/shadowreg/registry/buildset"
	"github.com/shadowreg/shadowreg/storage"
)

type codedError struct{}

func (codedError) Error() string { return "upstream quay.io is down" }
func (codedError) OCIError() *errcode.Error {
	return errcode.New(errcode.Unavailable, "upstream quay.io is down").WithStatus(http.StatusBadGateway)
}

// Every error from below becomes one OCI code with its status, wrapped or
// not.
func TestAsError(t *testing.T) {
	t.Parallel()
	d := digest.FromString("x")
	tests := []struct {
		err    error
		code   string
		status int
		header http.Header
	}{
		{storage.ErrBlobUnknown, "BLOB_UNKNOWN", 404, nil},
		{storage.ErrManifestUnknown, "MANIFEST_UNKNOWN", 404, nil},
		{storage.ErrNameUnknown, "NAME_UNKNOWN", 404, nil},
		{storage.ErrUploadUnknown, "BLOB_UPLOAD_UNKNOWN", 404, nil},
		{storage.ErrDigestMismatch, "DIGEST_INVALID", 400, nil},
		{storage.ErrDigestInvalid, "DIGEST_INVALID", 400, nil},
		{storage.ErrSizeMismatch, "SIZE_INVALID", 400, nil},
		{&storage.OffsetError{Offset: 10, Start: 20}, "BLOB_UPLOAD_INVALID", 416, http.Header{"Range": {"0-9"}}},
		{&storage.OffsetError{Offset: 0, Start: 5}, "BLOB_UPLOAD_INVALID", 416, http.Header{"Range": {"0-0"}}},
		{&storage.ManifestInvalidError{Reason: "bad"}, "MANIFEST_INVALID", 400, nil},
		{&storage.ManifestBlobUnknownError{Digest: d}, "MANIFEST_BLOB_UNKNOWN", 400, nil},
		{codedError{}, "UNAVAILABLE", 502, nil},
		{context.Canceled, "UNAVAILABLE", 503, nil},
		{context.DeadlineExceeded, "UNAVAILABLE", 503, nil},
		{errors.New("disk on fire"), "UNKNOWN", 500, nil},
		{fmt.Errorf("s3: get x: %w: dial tcp 127.0.0.1:9000: connection refused", storage.ErrUnavailable), "UNAVAILABLE", 503, http.Header{"Retry-After": {"5"}}},
		{errorf("TAG_INVALID", "x"), "TAG_INVALID", 400, nil},
		{errorf("SIZE_INVALID", "x").WithStatus(413), "SIZE_INVALID", 413, nil},
		{&storage.QuotaExceededError{Used: 1, Allowed: 2, Adding: 3}, "DENIED", 403, nil},
		{&ref.Error{Name: "A", Reason: "upper case"}, "NAME_INVALID", 400, nil},
		{buildset.ErrNotFound, "NAME_UNKNOWN", 404, nil},
		{buildset.ErrExists, "NAME_INVALID", 409, nil},
		{&auth.Error{Status: 401, Code: "UNAUTHORIZED", Message: "no", Challenge: "Bearer realm=x"}, "UNAUTHORIZED", 401, http.Header{"Www-Authenticate": {"Bearer realm=x"}}},
		{fmt.Errorf("write uploads/x/data: %w", syscall.ENOSPC), "UNAVAILABLE", 507, http.Header{"Retry-After": {"60"}}},
	}
	for _, tt := range tests {
		for _, err := range []error{tt.err, fmt.Errorf("while doing something: %w", tt.err)} {
			e := asError(err)
			if string(e.Code) != tt.code || e.HTTPStatus() != tt.status || e.Message == "" {
				t.Errorf("asError(%v) = %s %d %q; want %s %d", err, e.Code, e.HTTPStatus(), e.Message, tt.code, tt.status)
			}
			if _, answer := err.(*errcode.Error); e.Cause == nil && !answer {
				t.Errorf("asError(%v) kept no cause for the log", err)
			}
			for k, v := range tt.header {
				if got := e.Header.Get(k); got != v[0] {
					t.Errorf("asError(%v): header %s = %q, want %q", err, k, got, v[0])
				}
			}
		}
	}
	if e := asError(&storage.ManifestBlobUnknownError{Digest: d}); fmt.Sprint(e.Detail) != fmt.Sprint(map[string]string{"digest": d.String()}) {
		t.Errorf("MANIFEST_BLOB_UNKNOWN detail = %v", e.Detail)
	}
	if e := asError(fmt.Errorf("s3: get x: %w: dial tcp 10.1.2.3:9000", storage.ErrUnavailable)); strings.Contains(e.Message, "10.1.2.3") {
		t.Errorf("an unavailable storage backend's address reached the client: %q", e.Message)
	}
	if e := asError(codedError{}); e.Message != "upstream quay.io is down" {
		t.Errorf("a self-explaining error lost its message: %q", e.Message)
	}
	if e := asError(errors.New("open /var/lib/shadowreg/blobs/x: permission denied")); strings.Contains(e.Message, "/var/lib") {
		t.Errorf("an internal error's details reached the client: %q", e.Message)
	}
}

func TestErrorCodes(t *testing.T) {
	t.Parallel()
	for _, code := range errcode.Codes() {
		status := code.Status()
		if e := errorf(code, "m %d", 1); e.HTTPStatus() != status || e.Message != "m 1" || e.Error() != string(code)+": m 1" {
			t.Errorf("errorf(%s) = %+v", code, e)
		}
		if status < 400 || status > 599 {
			t.Errorf("%s has status %d", code, status)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("errorf with an unknown code did not panic")
		}
	}()
	errorf("NOT_A_CODE", "x")
}

// writeError: the body, and the headers the error carries (a 416 says
// where an upload ends, or how large the blob is), but never the headers
// of the content the request was about to serve.
func TestWriteError(t *testing.T) {
	t.Parallel()
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		rec := httptest.NewRecorder()
		rec.Header().Set("Docker-Content-Digest", "sha256:abc")
		rec.Header().Set("Content-Length", "2048")
		e := errorf("RANGE_INVALID", "no such range").
			WithHeader("Content-Range", "bytes */2048").WithHeader("Location", "/v2/x/blobs/uploads/1")
		writeError(rec, httptest.NewRequest(method, "/v2/x/blobs/y", nil), e)
		res := rec.Result()
		body, _ := io.ReadAll(res.Body)
		if res.StatusCode != 416 || res.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s: %d %q", method, res.StatusCode, res.Header.Get("Content-Type"))
		}
		if res.Header.Get("Docker-Content-Digest") != "" {
			t.Errorf("%s: the error kept the content's Docker-Content-Digest", method)
		}
		if got := res.Header.Get("Location"); got != "/v2/x/blobs/uploads/1" {
			t.Errorf("%s: Location = %q", method, got)
		}
		if got := res.Header.Get("Content-Range"); got != "bytes */2048" {
			t.Errorf("%s: the error's own Content-Range was dropped: %q, want \"bytes */2048\"", method, got)
		}
		if method == http.MethodHead {
			if len(body) != 0 {
				t.Errorf("HEAD error has a body: %q", body)
			}
			continue
		}
		var b struct {
			Errors []struct{ Code, Message string } `json:"errors"`
		}
		if err := json.Unmarshal(body, &b); err != nil || len(b.Errors) != 1 || b.Errors[0].Code != "RANGE_INVALID" || b.Errors[0].Message != "no such range" {
			t.Errorf("body %s: %v", body, err)
		}
		if res.Header.Get("Content-Length") != fmt.Sprint(len(body)) {
			t.Errorf("Content-Length %q for a body of %d", res.Header.Get("Content-Length"), len(body))
		}
	}
}

// With a metrics registry, every request is counted by method, route and
// status, and the registry is served at /metrics.
func TestMetrics(t *testing.T) {
	t.Parallel()
	reg := newTestRegistry(t, nil, Options{Metrics: prometheus.NewRegistry()})
	seed(t, reg.store)
	for _, p := range []string{"/v2/", "/v2/seed/img/manifests/v1", "/v2/seed/img/manifests/v1", "/v2/seed/img/manifests/nope", "/v2/seed/img/blobs/" + layerBlob.d.String()} {
		resp, err := http.Get(reg.srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	resp, err := http.Get(reg.srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`shadowreg_http_requests_total{method="GET",route="base",status="200"} 1`,
		`shadowreg_http_requests_total{method="GET",route="manifest",status="200"} 2`,
		`shadowreg_http_requests_total{method="GET",route="manifest",status="404"} 1`,
		`shadowreg_http_requests_total{method="GET",route="blob",status="200"} 1`,
		`shadowreg_http_response_bytes_total{route="blob"} 2048`,
		`shadowreg_http_request_duration_seconds_count{method="GET",route="manifest"} 3`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	// Without a registry there is no /metrics.
	plain := newTestRegistry(t, nil, Options{})
	resp, err = http.Get(plain.srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("/metrics without metrics: %d", resp.StatusCode)
	}
}
