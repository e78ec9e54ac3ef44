package registry

import (
	"net/http"

	"github.com/shadowreg/shadowreg/internal/errcode"
)

// errorf makes an OCI error with code's status (internal/errcode holds the
// table). An unknown code is a programming error, caught by tests.
func errorf(code errcode.Code, format string, args ...any) *errcode.Error {
	if !code.Known() {
		panic("registry: unknown error code " + string(code))
	}
	return errcode.New(code, format, args...)
}

// asError turns any error from the layers below into what the client is
// answered with: errcode.From, the one way errors reach HTTP.
func asError(err error) *errcode.Error { return errcode.From(err) }

// writeError answers with the OCI error body (errcode.Write).
func writeError(w http.ResponseWriter, r *http.Request, e *errcode.Error) { errcode.Write(w, r, e) }
