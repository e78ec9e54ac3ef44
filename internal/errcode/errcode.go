// Package errcode is shadowreg's one error vocabulary: the OCI distribution
// error codes with the HTTP status each is answered with (one table), the
// Error a client is answered with, the Coder interface through which an
// error of any package says what to answer, and Write, the one place an
// error body is written.
//
// Errors reach HTTP one way: From(err). An *Error anywhere in the chain is
// answered as it is; else the first Coder in the chain says what to answer;
// a cancelled request, a full disk and everything else have fixed answers.
// The error itself (its chain, with addresses and paths) is the Cause: it
// goes to the log, never to the client.
//
// The package is a leaf, like distribution's errcode: it imports nothing of
// shadowreg.
package errcode

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"syscall"
)

// Code is an OCI error code (distribution-spec, "Error Codes"), or one of
// the few shadowreg adds.
type Code string

// The codes shadowreg answers with.
const (
	BlobUnknown         Code = "BLOB_UNKNOWN"
	BlobUploadInvalid   Code = "BLOB_UPLOAD_INVALID"
	BlobUploadUnknown   Code = "BLOB_UPLOAD_UNKNOWN"
	DigestInvalid       Code = "DIGEST_INVALID"
	ManifestBlobUnknown Code = "MANIFEST_BLOB_UNKNOWN"
	ManifestInvalid     Code = "MANIFEST_INVALID"
	ManifestUnknown     Code = "MANIFEST_UNKNOWN"
	NameInvalid         Code = "NAME_INVALID"
	NameUnknown         Code = "NAME_UNKNOWN"
	SizeInvalid         Code = "SIZE_INVALID"
	TagInvalid          Code = "TAG_INVALID"
	PaginationInvalid   Code = "PAGINATION_NUMBER_INVALID"
	RangeInvalid        Code = "RANGE_INVALID"
	Unauthorized        Code = "UNAUTHORIZED"
	Denied              Code = "DENIED"
	Unsupported         Code = "UNSUPPORTED"
	NotFound            Code = "NOT_FOUND"
	TooManyRequests     Code = "TOOMANYREQUESTS"
	Unavailable         Code = "UNAVAILABLE"
	Unknown             Code = "UNKNOWN"
)

// statuses is the table: every code's HTTP status. A code never travels
// without its status (handlers that write statuses inline drift).
var statuses = map[Code]int{
	BlobUnknown:         http.StatusNotFound,
	BlobUploadInvalid:   http.StatusBadRequest,
	BlobUploadUnknown:   http.StatusNotFound,
	DigestInvalid:       http.StatusBadRequest,
	ManifestBlobUnknown: http.StatusBadRequest,
	ManifestInvalid:     http.StatusBadRequest,
	ManifestUnknown:     http.StatusNotFound,
	NameInvalid:         http.StatusBadRequest,
	NameUnknown:         http.StatusNotFound,
	SizeInvalid:         http.StatusBadRequest,
	TagInvalid:          http.StatusBadRequest,
	PaginationInvalid:   http.StatusBadRequest,
	RangeInvalid:        http.StatusRequestedRangeNotSatisfiable,
	Unauthorized:        http.StatusUnauthorized,
	Denied:              http.StatusForbidden,
	Unsupported:         http.StatusMethodNotAllowed,
	NotFound:            http.StatusNotFound,
	TooManyRequests:     http.StatusTooManyRequests,
	Unavailable:         http.StatusServiceUnavailable,
	Unknown:             http.StatusInternalServerError,
}

// Status is the code's HTTP status; an unknown code is a programming error
// answered as 500.
func (c Code) Status() int {
	if s, ok := statuses[c]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// Codes lists the table's codes, sorted.
func Codes() []Code { return slices.Sorted(maps.Keys(statuses)) }

// Known reports whether c is in the table.
func (c Code) Known() bool { _, ok := statuses[c]; return ok }

// Error is what a client is answered with.
type Error struct {
	Code    Code
	Message string
	Detail  any
	// Status overrides the code's where the spec asks for another one for
	// the same code (416 for an upload chunk out of order, 413 for a
	// manifest too large, 502 for an upstream that failed); 0: the code's.
	Status int
	// Header holds headers that go with the answer: WWW-Authenticate,
	// Retry-After, Range, Location.
	Header http.Header
	// OAuth is RFC 6749's error code, for the token endpoint's POST
	// answers (with Message as error_description); "" elsewhere.
	OAuth string
	// Cause is what went wrong, for the log; never sent.
	Cause error
}

// New makes an Error with code and a message.
func New(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }

// Unwrap is the cause, so that errors.Is sees through an answer to what
// went wrong.
func (e *Error) Unwrap() error { return e.Cause }

// HTTPStatus is the status the answer has.
func (e *Error) HTTPStatus() int {
	if e.Status != 0 {
		return e.Status
	}
	return e.Code.Status()
}

// WithStatus sets a status other than the code's.
func (e *Error) WithStatus(status int) *Error { e.Status = status; return e }

// WithDetail sets the detail member of the error body.
func (e *Error) WithDetail(detail any) *Error { e.Detail = detail; return e }

// WithHeader adds a header to the answer.
func (e *Error) WithHeader(key, value string) *Error {
	if e.Header == nil {
		e.Header = http.Header{}
	}
	e.Header.Set(key, value)
	return e
}

// WithCause records what went wrong, for the log.
func (e *Error) WithCause(err error) *Error { e.Cause = err; return e }

// Coder is implemented by errors that say what a client is answered with:
// storage's misses, an upstream's failure, a refused credential. The answer
// carries only what a client may know; the error itself is the cause.
type Coder interface {
	OCIError() *Error
}

// RetryAfter is what Retry-After says for an unavailable backend: clients
// (docker, containerd) back off and retry on 503.
const RetryAfter = "5"

// From turns any error into the answer to a client: the outermost *Error
// in its chain, else the first Coder's answer, else a fixed answer. The
// answer is a copy (callers may add headers) whose Cause is err.
func From(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		c := *e
		c.Header = e.Header.Clone()
		if c.Cause == nil && err != error(e) {
			c.Cause = err
		}
		return &c
	}
	var coder Coder
	if errors.As(err, &coder) {
		c := coder.OCIError()
		c.Cause = err
		return c
	}
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return &Error{Code: Unavailable, Message: "request cancelled or timed out", Cause: err}
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		// The client retries; the registry serves again once space is
		// freed (by an operator, or a garbage collection).
		return (&Error{Code: Unavailable, Message: "the registry's storage is full; retry once space is freed", Cause: err}).
			WithStatus(http.StatusInsufficientStorage).WithHeader("Retry-After", "60")
	}
	return &Error{Code: Unknown, Message: "internal error", Cause: err}
}

// Write answers with e's status, headers and the OCI error body
// {"errors":[{"code","message","detail"}]} (plus OAuth2's error fields when
// set). Headers set for a success that did not happen go. A HEAD answer
// carries the status and headers only.
func Write(w http.ResponseWriter, r *http.Request, e *Error) {
	h := w.Header()
	for _, k := range []string{"Content-Length", "Docker-Content-Digest", "Content-Range", "ETag", "Cache-Control", "Accept-Ranges"} {
		h.Del(k)
	}
	for k, vs := range e.Header {
		h[k] = vs
	}
	type item struct {
		Code    Code   `json:"code"`
		Message string `json:"message"`
		Detail  any    `json:"detail,omitempty"`
	}
	body, _ := json.Marshal(struct {
		Errors           []item `json:"errors"`
		OAuth            string `json:"error,omitempty"`
		OAuthDescription string `json:"error_description,omitempty"`
	}{Errors: []item{{e.Code, e.Message, e.Detail}}, OAuth: e.OAuth, OAuthDescription: oauthDescription(e)})
	h.Set("Content-Type", "application/json")
	if r.Method == http.MethodHead {
		w.WriteHeader(e.HTTPStatus())
		return
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(e.HTTPStatus())
	w.Write(body)
}

func oauthDescription(e *Error) string {
	if e.OAuth == "" {
		return ""
	}
	return e.Message
}
