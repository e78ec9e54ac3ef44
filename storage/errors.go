package storage

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/opencontainers/go-digest"
	"github.com/shadowreg/shadowreg/internal/errcode"

	"github.com/shadowreg/shadowreg/storage/driver"
)

// The store's errors. Each knows the OCI error a client is answered with
// (errcode.Coder); storage itself knows nothing of HTTP.
var (
	ErrBlobUnknown     error = coded(errcode.BlobUnknown, "blob unknown to the repository")
	ErrManifestUnknown error = coded(errcode.ManifestUnknown, "manifest unknown to the repository")
	ErrNameUnknown     error = coded(errcode.NameUnknown, "repository name not known to the registry")
	ErrUploadUnknown   error = coded(errcode.BlobUploadUnknown, "upload unknown: it finished, was cancelled or never existed")
	ErrDigestMismatch  error = coded(errcode.DigestInvalid, "the content does not match the digest given")
	ErrDigestInvalid   error = coded(errcode.DigestInvalid, "invalid digest or unsupported digest algorithm")
	ErrSizeMismatch    error = coded(errcode.SizeInvalid, "content length does not match")
	ErrAreaInvalid     error = coded(errcode.NameInvalid, "area name invalid")

	// ErrUnavailable: the storage backend is out of reach for now (the
	// driver's ErrUnavailable, re-exported so callers need not import the
	// driver package).
	ErrUnavailable = driver.ErrUnavailable
)

// codedError is a sentinel that knows its answer.
type codedError struct {
	code errcode.Code
	msg  string
}

func coded(code errcode.Code, msg string) *codedError { return &codedError{code, msg} }

func (e *codedError) Error() string            { return e.msg }
func (e *codedError) OCIError() *errcode.Error { return errcode.New(e.code, "%s", e.msg) }

// OffsetError reports a chunk that does not continue an upload where it ends.
type OffsetError struct {
	Offset int64 // where the upload ends now
	Start  int64 // where the chunk said it starts
}

func (e *OffsetError) Error() string {
	return fmt.Sprintf("chunk starts at %d but the upload has %d bytes", e.Start, e.Offset)
}

// OCIError: 416 with the Range the upload has, as the spec asks for a
// chunk out of order (the registry adds where the upload is).
func (e *OffsetError) OCIError() *errcode.Error {
	return errcode.New(errcode.BlobUploadInvalid, "%s", e.Error()).WithStatus(http.StatusRequestedRangeNotSatisfiable).
		WithHeader("Range", UploadRange(e.Offset))
}

// UploadRange is the Range header of an upload holding size bytes: the
// inclusive range received, "0-<size-1>". Empty uploads answer "0-0", as
// distribution does and clients expect.
func UploadRange(size int64) string {
	return "0-" + strconv.FormatInt(max(size-1, 0), 10)
}

// ManifestInvalidError says why a manifest was refused.
type ManifestInvalidError struct{ Reason string }

func (e *ManifestInvalidError) Error() string { return "manifest invalid: " + e.Reason }

func (e *ManifestInvalidError) OCIError() *errcode.Error {
	return errcode.New(errcode.ManifestInvalid, "%s", e.Reason)
}

func manifestInvalid(format string, args ...any) error {
	return &ManifestInvalidError{Reason: fmt.Sprintf(format, args...)}
}

// ManifestBlobUnknownError names content a manifest references that the
// repository does not hold.
type ManifestBlobUnknownError struct {
	Digest    digest.Digest
	MediaType string
}

func (e *ManifestBlobUnknownError) Error() string {
	return fmt.Sprintf("manifest references %s (%s), which the repository does not hold", e.Digest, e.MediaType)
}

func (e *ManifestBlobUnknownError) OCIError() *errcode.Error {
	return errcode.New(errcode.ManifestBlobUnknown, "%s", e.Error()).WithDetail(map[string]string{"digest": e.Digest.String()})
}
