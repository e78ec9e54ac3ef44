package storage

import (
	"errors"
	"fmt"

	"github.com/opencontainers/go-digest"

	"github.com/shadowreg/shadowreg/storage/driver"
)

// The store's errors. The registry maps each to its OCI error code in one
// table; storage itself knows nothing of HTTP.
var (
	ErrBlobUnknown     = errors.New("blob unknown to the repository")
	ErrManifestUnknown = errors.New("manifest unknown to the repository")
	ErrNameUnknown     = errors.New("repository name not known")
	ErrUploadUnknown   = errors.New("upload unknown")
	ErrDigestMismatch  = errors.New("content does not match the digest")
	ErrDigestInvalid   = errors.New("digest invalid or of an unsupported algorithm")
	ErrSizeMismatch    = errors.New("content length does not match")
	ErrAreaInvalid     = errors.New("area name invalid")

	// ErrUnavailable: the storage backend is out of reach for now (the
	// driver's ErrUnavailable, re-exported so callers need not import the
	// driver package).
	ErrUnavailable = driver.ErrUnavailable
)

// OffsetError reports a chunk that does not continue an upload where it ends.
type OffsetError struct {
	Offset int64 // where the upload ends now
	Start  int64 // where the chunk said it starts
}

func (e *OffsetError) Error() string {
	return fmt.Sprintf("chunk starts at %d but the upload has %d bytes", e.Start, e.Offset)
}

// ManifestInvalidError says why a manifest was refused.
type ManifestInvalidError struct{ Reason string }

func (e *ManifestInvalidError) Error() string { return "manifest invalid: " + e.Reason }

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
