package auth

import (
	"encoding/json"
	"net/http"
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

// Write writes e as a registry error response: the challenge header and
// {"errors":[{"code":…,"message":…}]} (no body for HEAD).
func (e *Error) Write(w http.ResponseWriter, r *http.Request) {
	if e.Challenge != "" {
		w.Header().Set("WWW-Authenticate", e.Challenge)
	}
	writeJSON(w, r, e.Status, errorBody{Errors: []errorEntry{{Code: e.Code, Message: e.Message}}})
}

type errorEntry struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// errorBody is the registry error body; the token endpoint adds OAuth2's
// error and error_description (RFC 6749 section 5.2), which distribution's
// client prefers when present.
type errorBody struct {
	Errors           []errorEntry `json:"errors"`
	OAuthError       string       `json:"error,omitempty"`
	OAuthDescription string       `json:"error_description,omitempty"`
}

func writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store") // tokens and auth errors must not be cached (RFC 6749 5.1)
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_ = json.NewEncoder(w).Encode(v)
	}
}
