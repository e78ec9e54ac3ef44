package cli

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/shadowreg/shadowreg/internal/client"
)

func TestExitCode(t *testing.T) {
	for _, c := range []struct {
		err  error
		want int
	}{
		{nil, exitOK},
		{errors.New("boom"), exitFailure},
		{usageErrorf("give DEST"), exitUsage},
		{fmt.Errorf("pulling: %w", &transport.Error{StatusCode: 404}), exitNotFound},
		{&transport.Error{StatusCode: 400, Errors: []transport.Diagnostic{{Code: transport.ManifestUnknownErrorCode}}}, exitNotFound},
		{&transport.Error{StatusCode: 401}, exitDenied},
		{&transport.Error{StatusCode: 403}, exitDenied},
		{fmt.Errorf("x: %w", &client.UnsafeEntryError{Name: "../a", Reason: "r"}), exitUnsafe},
		{&net.OpError{Op: "dial", Err: errors.New("connection refused")}, exitUnreachable},
		{fmt.Errorf("get: %w", x509.UnknownAuthorityError{}), exitUnreachable},
	} {
		if got := exitCode(c.err); got != c.want {
			t.Errorf("exitCode(%v) = %d, want %d", c.err, got, c.want)
		}
	}
}
