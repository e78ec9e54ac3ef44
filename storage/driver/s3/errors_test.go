package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"syscall"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/shadowreg/shadowreg/storage/driver"
)

// TestWrapClassifies: outages of the object store wrap driver.ErrUnavailable
// (the registry answers 503 and clients retry), missing keys wrap
// ErrNotFound, and refusals of the request itself wrap neither.
func TestWrapClassifies(t *testing.T) {
	t.Parallel()
	refused := &url.Error{Op: "Get", URL: "http://127.0.0.1:9/b/k", Err: &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}}
	tests := []struct {
		name        string
		err         error
		unavailable bool
		notFound    bool
	}{
		{"connection refused", refused, true, false},
		{"connection reset", fmt.Errorf("read: %w", syscall.ECONNRESET), true, false},
		{"body cut short", io.ErrUnexpectedEOF, true, false},
		{"503", minio.ErrorResponse{Code: "ServiceUnavailable", StatusCode: 503}, true, false},
		{"SlowDown", minio.ErrorResponse{Code: "SlowDown", StatusCode: 503}, true, false},
		{"500", minio.ErrorResponse{Code: "InternalError", StatusCode: 500}, true, false},
		{"NoSuchKey", minio.ErrorResponse{Code: "NoSuchKey", StatusCode: 404}, false, true},
		{"AccessDenied", minio.ErrorResponse{Code: "AccessDenied", StatusCode: 403}, false, false},
		{"NoSuchBucket", minio.ErrorResponse{Code: "NoSuchBucket", StatusCode: 404}, false, false},
		{"caller cancelled", &url.Error{Op: "Get", URL: "http://x", Err: context.Canceled}, false, false},
		{"caller's deadline", context.DeadlineExceeded, false, false},
	}
	d := &Driver{}
	for _, tt := range tests {
		err := d.wrap("get", "a/b", tt.err)
		if got := errors.Is(err, driver.ErrUnavailable); got != tt.unavailable {
			t.Errorf("%s: wraps ErrUnavailable = %v, want %v (%v)", tt.name, got, tt.unavailable, err)
		}
		if got := errors.Is(err, driver.ErrNotFound); got != tt.notFound {
			t.Errorf("%s: wraps ErrNotFound = %v, want %v (%v)", tt.name, got, tt.notFound, err)
		}
		if !tt.notFound && !errors.Is(err, tt.err) {
			t.Errorf("%s: the cause is lost: %v", tt.name, err)
		}
	}
}
