package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/shadowreg/shadowreg/internal/ref"
	"github.com/shadowreg/shadowreg/registry/auth"
	"github.com/shadowreg/shadowreg/storage"
)

// Error is an OCI distribution error. Its HTTP status comes from the code
// table below, so a code never travels without its status (distribution's
// errcode does the same; handlers that write statuses inline drift).
type Error struct {
	Code    string
	Status  int
	Message string
	Detail  any
	Header  http.Header // extra response headers: WWW-Authenticate, Range
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// codes maps every error code shadowreg answers to its HTTP status.
var codes = map[string]int{
	"BLOB_UNKNOWN":              http.StatusNotFound,
	"BLOB_UPLOAD_INVALID":       http.StatusBadRequest,
	"BLOB_UPLOAD_UNKNOWN":       http.StatusNotFound,
	"DIGEST_INVALID":            http.StatusBadRequest,
	"MANIFEST_BLOB_UNKNOWN":     http.StatusBadRequest,
	"MANIFEST_INVALID":          http.StatusBadRequest,
	"MANIFEST_UNKNOWN":          http.StatusNotFound,
	"NAME_INVALID":              http.StatusBadRequest,
	"NAME_UNKNOWN":              http.StatusNotFound,
	"SIZE_INVALID":              http.StatusBadRequest,
	"TAG_INVALID":               http.StatusBadRequest,
	"PAGINATION_NUMBER_INVALID": http.StatusBadRequest,
	"RANGE_INVALID":             http.StatusRequestedRangeNotSatisfiable,
	"UNAUTHORIZED":              http.StatusUnauthorized,
	"DENIED":                    http.StatusForbidden,
	"UNSUPPORTED":               http.StatusMethodNotAllowed,
	"NOT_FOUND":                 http.StatusNotFound,
	"TOOMANYREQUESTS":           http.StatusTooManyRequests,
	"UNAVAILABLE":               http.StatusServiceUnavailable,
	"UNKNOWN":                   http.StatusInternalServerError,
}

// errorf makes an Error with code's status.
func errorf(code, format string, args ...any) *Error {
	status, ok := codes[code]
	if !ok {
		panic("registry: unknown error code " + code) // a programming error, caught by tests
	}
	return &Error{Code: code, Status: status, Message: fmt.Sprintf(format, args...)}
}

// withStatus overrides the table's status where the spec asks for another
// one for the same code (416 for an upload chunk out of order, 413 for a
// manifest too large, 502 for an upstream failure).
func (e *Error) withStatus(status int) *Error { e.Status = status; return e }

func (e *Error) withDetail(detail any) *Error { e.Detail = detail; return e }

func (e *Error) withHeader(key, value string) *Error {
	if e.Header == nil {
		e.Header = http.Header{}
	}
	e.Header.Set(key, value)
	return e
}

// asError turns any error from the layers below into an OCI error: the one
// place where storage (and later upstream) errors meet OCI codes.
func asError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	var off *storage.OffsetError
	var inv *storage.ManifestInvalidError
	var mbu *storage.ManifestBlobUnknownError
	var coded interface{ OCIError() (int, string, string) }
	var denied *auth.Error
	var quota *storage.QuotaExceededError
	var badName *ref.Error
	switch {
	case errors.As(err, &denied):
		e := errorf(denied.Code, "%s", denied.Message)
		e.Status = denied.Status
		if denied.Challenge != "" {
			e.withHeader("WWW-Authenticate", denied.Challenge)
		}
		return e
	case errors.As(err, &coded):
		// Errors that explain themselves (a miss that names the upstream,
		// an upstream failure) keep their own code, status and message.
		status, code, msg := coded.OCIError()
		e := errorf(code, "%s", msg)
		e.Status = status
		return e
	case errors.As(err, &badName):
		return errorf("NAME_INVALID", "%v", badName)
	case errors.As(err, &quota):
		return errorf("DENIED", "%v", quota).withDetail(map[string]int64{
			"used": quota.Used, "allowed": quota.Allowed, "adding": quota.Adding})
	case errors.Is(err, storage.ErrBlobUnknown):
		return errorf("BLOB_UNKNOWN", "blob unknown to the repository")
	case errors.Is(err, storage.ErrManifestUnknown):
		return errorf("MANIFEST_UNKNOWN", "manifest unknown to the repository")
	case errors.Is(err, storage.ErrNameUnknown):
		return errorf("NAME_UNKNOWN", "repository name not known to the registry")
	case errors.Is(err, storage.ErrUploadUnknown):
		return errorf("BLOB_UPLOAD_UNKNOWN", "upload unknown: it finished, was cancelled or never existed")
	case errors.Is(err, storage.ErrDigestMismatch):
		return errorf("DIGEST_INVALID", "the content does not match the digest given")
	case errors.Is(err, storage.ErrDigestInvalid):
		return errorf("DIGEST_INVALID", "invalid digest or unsupported digest algorithm")
	case errors.Is(err, storage.ErrSizeMismatch):
		return errorf("SIZE_INVALID", "%v", err)
	case errors.As(err, &off):
		return errorf("BLOB_UPLOAD_INVALID", "%v", off).withStatus(http.StatusRequestedRangeNotSatisfiable).
			withHeader("Range", uploadRange(off.Offset))
	case errors.As(err, &inv):
		return errorf("MANIFEST_INVALID", "%s", inv.Reason)
	case errors.As(err, &mbu):
		return errorf("MANIFEST_BLOB_UNKNOWN", "%v", mbu).withDetail(map[string]string{"digest": mbu.Digest.String()})
	case errors.Is(err, storage.ErrUnavailable):
		// The cause (an object store's address, its error) goes to the log
		// line that Server.fail writes, not to clients; they get a status
		// they retry on (docker and containerd back off on 503).
		return errorf("UNAVAILABLE", "storage backend unavailable, retry later").withHeader("Retry-After", "5")
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return errorf("UNAVAILABLE", "request cancelled: %v", err)
	}
	return errorf("UNKNOWN", "internal error: %v", err)
}

// writeError answers with the OCI error body. HEAD responses carry the
// status and headers only.
func writeError(w http.ResponseWriter, r *http.Request, e *Error) {
	h := w.Header()
	// Headers set for a success that did not happen go; the error's own
	// (a 416's Content-Range, a 401's challenge) stay.
	for _, k := range []string{"Content-Length", "Docker-Content-Digest", "Content-Range", "ETag", "Cache-Control", "Accept-Ranges"} {
		h.Del(k)
	}
	for k, vs := range e.Header {
		h[k] = vs
	}
	type item struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Detail  any    `json:"detail,omitempty"`
	}
	body, _ := json.Marshal(struct {
		Errors []item `json:"errors"`
	}{[]item{{e.Code, e.Message, e.Detail}}})
	h.Set("Content-Type", "application/json")
	if r.Method == http.MethodHead {
		w.WriteHeader(e.Status)
		return
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(e.Status)
	w.Write(body)
}
