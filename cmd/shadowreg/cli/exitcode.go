package cli

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/shadowreg/shadowreg/internal/client"
	"github.com/spf13/cobra"
)

// Exit codes, documented in the README: scripts tell failures apart by
// them.
const (
	exitOK          = 0
	exitFailure     = 1 // anything not below
	exitUsage       = 2 // bad arguments or flags
	exitNotFound    = 3 // no such repository, tag, manifest or blob
	exitDenied      = 4 // the registry refused the credentials or the access
	exitUnsafe      = 5 // --unpack refused an entry (nothing written outside)
	exitUnreachable = 6 // no connection, DNS or TLS failure
)

type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usageErrorf(format string, args ...any) error {
	return &usageError{fmt.Sprintf(format, args...)}
}

// exitCode classifies err.
func exitCode(err error) int {
	var te *transport.Error
	var ue *client.UnsafeEntryError
	var us *usageError
	var ne net.Error
	var op *net.OpError
	var tlsErr *tls.CertificateVerificationError
	var authority x509.UnknownAuthorityError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &us):
		return exitUsage
	case errors.As(err, &ue):
		return exitUnsafe
	// Before registry errors: go-containerregistry retries 127.0.0.1 over
	// plain HTTP after a TLS failure and joins both errors into one.
	case errors.As(err, &tlsErr), errors.As(err, &authority), strings.Contains(err.Error(), "tls: failed to verify"),
		strings.Contains(err.Error(), "x509: "):
		return exitUnreachable
	case errors.As(err, &te):
		switch te.StatusCode {
		case http.StatusUnauthorized, http.StatusForbidden:
			return exitDenied
		case http.StatusNotFound:
			return exitNotFound
		}
		for _, d := range te.Errors {
			switch d.Code {
			case transport.UnauthorizedErrorCode, transport.DeniedErrorCode:
				return exitDenied
			case transport.ManifestUnknownErrorCode, transport.BlobUnknownErrorCode, transport.NameUnknownErrorCode:
				return exitNotFound
			}
		}
	case errors.As(err, &op), errors.As(err, &ne):
		return exitUnreachable
	}
	return exitFailure
}

// exactArgs is cobra.ExactArgs whose refusal exits with exitUsage.
func exactArgs(n int, what string) func(*cobra.Command, []string) error {
	return func(_ *cobra.Command, args []string) error {
		if len(args) != n {
			return usageErrorf("give %s (%d arguments, not %d)", what, n, len(args))
		}
		return nil
	}
}

func rangeArgs(lo, hi int, what string) func(*cobra.Command, []string) error {
	return func(_ *cobra.Command, args []string) error {
		if len(args) < lo || len(args) > hi {
			return usageErrorf("give %s", what)
		}
		return nil
	}
}

// hint is what to do about a failure of kind code, for the error line.
func hint(code int, msg string) string {
	switch {
	case code == exitDenied:
		return " — log in (shadowreg login --username U, password in SHADOWREG_PASSWORD) or check the user's access"
	case code == exitUnreachable && (strings.Contains(msg, "x509:") || strings.Contains(msg, "tls:")):
		return " — trust the registry's CA with --ca-file FILE (or skip verification with --insecure)"
	case code == exitUnreachable:
		return " — check --server (or SHADOWREG_SERVER) and that the registry is up"
	}
	return ""
}
