package auth

import (
	"encoding/json"
	"net/http"

	"github.com/shadowreg/shadowreg/internal/errcode"
)

// Error codes of the OCI distribution spec that this package answers with.
const (
	CodeUnauthorized = "UNAUTHORIZED"
	CodeDenied       = "DENIED"
)

// Error is why a request was refused. Status and Code always travel
// together: 401 UNAUTHORIZED (no, wrong or insufficient credentials: the
// client should authenticate, or fetch a token for Challenge) or 403 DENIED
// (the caller is known and may never do this).
type Error struct {
	Status  int
	Code    string
	Message string

	// Challenge is the value of the WWW-Authenticate header that must go
	// with a 401; empty for 403.
	Challenge string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// OCIError is the answer: the status, the code and, with a 401, the
// challenge.
func (e *Error) OCIError() *errcode.Error {
	a := errcode.New(errcode.Code(e.Code), "%s", e.Message).WithStatus(e.Status)
	if e.Challenge != "" {
		a.WithHeader("WWW-Authenticate", e.Challenge)
	}
	return a
}

// Write writes e as a registry error response (errcode.Write).
func (e *Error) Write(w http.ResponseWriter, r *http.Request) { errcode.Write(w, r, e.OCIError()) }

// writeJSON answers a token request with v (tokens and auth errors must not
// be cached, RFC 6749 5.1).
func writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_ = json.NewEncoder(w).Encode(v)
	}
}
