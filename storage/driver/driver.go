// Package driver defines the small, path-based interface that every storage
// backend of shadowreg implements (the filesystem here, S3-compatible object
// stores in driver/s3). It knows nothing of registries, digests or HTTP: the
// storage package builds the OCI content store on top of it.
//
// Paths are slash-separated, relative, and never contain "." or ".."
// components; the driver maps them onto its own namespace (a root folder, a
// bucket and key prefix). Every method takes a context and returns errors that
// wrap ErrNotFound when the path does not exist.
package driver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/shadowreg/shadowreg/internal/errcode"
)

// ErrNotFound is wrapped by every error about a path that does not exist.
var ErrNotFound = errors.New("path not found")

// ErrUnavailable is wrapped by errors that come from the backend being out
// of reach (an object store that refuses connections or answers 5xx) rather
// than from the request: the caller may retry later, and the registry answers
// 503 instead of an internal error.
var ErrUnavailable error = unavailable{}

// unavailable answers clients with 503 and Retry-After, and with no more:
// the cause (an object store's address, its error) is for the log.
type unavailable struct{}

func (unavailable) Error() string { return "storage backend unavailable" }

func (unavailable) OCIError() *errcode.Error {
	return errcode.New(errcode.Unavailable, "storage backend unavailable, retry later").WithHeader("Retry-After", errcode.RetryAfter)
}

// NotFound returns an error for path that wraps ErrNotFound.
func NotFound(driver, path string) error {
	return fmt.Errorf("%s: %s: %w", driver, path, ErrNotFound)
}

// Driver stores bytes at paths.
type Driver interface {
	// Name names the driver in logs and errors ("filesystem", "s3").
	Name() string

	// GetContent returns the whole content at path. Use it for small objects
	// only (metadata, manifests); blobs are read with Reader.
	GetContent(ctx context.Context, path string) ([]byte, error)

	// PutContent stores content at path atomically and durably: a reader sees
	// the old content or the new, never a mix, and a crash after PutContent
	// returns does not lose it.
	PutContent(ctx context.Context, path string, content []byte) error

	// Reader opens path for reading from offset. offset equal to the size gives
	// an empty reader; beyond the size is an error. The filesystem driver
	// returns an *os.File so that copying it into a socket uses sendfile.
	Reader(ctx context.Context, path string, offset int64) (io.ReadCloser, error)

	// Writer continues the content at path from offset: offset 0 starts new
	// content, discarding anything at path; offset N resumes content that an
	// earlier writer, possibly in another process (an upload continued on
	// another replica), checkpointed at size N, and discards whatever was
	// checkpointed after that. Bytes written need not be durable, nor
	// readable at the path, until Checkpoint (durable) or Commit (durable
	// and readable): the filesystem shows them at once, S3 only after
	// Commit. So content that must not be seen half-written is written
	// under a private path and moved into place (storage does so). A
	// writer ends at Checkpoint: each chunk of an upload opens a new one.
	Writer(ctx context.Context, path string, offset int64) (FileWriter, error)

	// Stat describes path: a file, or a "directory" (a prefix with content
	// under it). A missing path is an error wrapping ErrNotFound.
	Stat(ctx context.Context, path string) (FileInfo, error)

	// List returns the full paths of path's direct children, files and
	// directories, in lexical order. A missing path is ErrNotFound.
	List(ctx context.Context, path string) ([]string, error)

	// Walk calls fn for every file under path, recursively, in lexical order
	// of path. Directories are not reported. A missing path is not an error.
	// Returning SkipAll from fn stops the walk without an error.
	Walk(ctx context.Context, path string, fn func(FileInfo) error) error

	// Move renames the file src to dst, replacing dst, atomically: dst shows
	// the old content or the whole new content, never part of it. It is
	// durable when Move returns.
	Move(ctx context.Context, src, dst string) error

	// Delete removes path, a file or a directory with everything under it,
	// including content that writers have checkpointed but not committed (an
	// abandoned S3 multipart upload is aborted). A missing path is an error
	// wrapping ErrNotFound.
	Delete(ctx context.Context, path string) error
}

// ErrInvalidPath is wrapped by every error about a malformed path.
var ErrInvalidPath = errors.New("invalid path")

// ValidatePath checks that p is a driver path: relative, slash-separated,
// with no empty, "." or ".." component and no NUL byte, so that every path
// stays inside the driver's root and each piece of content has exactly one
// name (object stores reject such keys too). Drivers may add rules of their
// own.
func ValidatePath(driverName, p string) error {
	bad := func(why string) error {
		return fmt.Errorf("%s: %q: %w: %s", driverName, p, ErrInvalidPath, why)
	}
	switch {
	case p == "":
		return bad("empty")
	case strings.HasPrefix(p, "/"):
		return bad("absolute")
	case strings.IndexByte(p, 0) >= 0:
		return bad("contains a NUL byte")
	}
	for c := range strings.SplitSeq(p, "/") {
		if c == "" || c == "." || c == ".." {
			return bad(`empty, "." or ".." component`)
		}
	}
	return nil
}

// SkipAll, returned by a Walk callback, ends the walk early without an error.
var SkipAll = errors.New("skip everything and stop the walk")

// FileWriter writes content for Driver.Writer. After Checkpoint, Commit or
// Cancel the writer is done; Close is always safe to call.
type FileWriter interface {
	io.Writer

	// Size is the content's size so far: the starting offset plus the bytes
	// written.
	Size() int64

	// Checkpoint makes everything written durable and resumable: a later
	// Writer at offset Size() continues it. The content need not be readable
	// yet (an S3 multipart upload in progress is not). meta — small, opaque
	// bytes, or nil — is kept with this checkpoint, atomically with its
	// bytes, and handed back by the Writer that resumes at this size (Meta):
	// state that must match the bytes exactly, like a running hash, cannot
	// then be torn from them by two writers racing on separate replicas.
	Checkpoint(ctx context.Context, meta []byte) error

	// Meta is the meta of the checkpoint this writer resumed; nil for new
	// content or a checkpoint made without.
	Meta() []byte

	// Commit completes the content: durable, and readable at the path by
	// Reader, GetContent, Stat and Move. It can no longer be resumed.
	Commit(ctx context.Context) error

	// Cancel discards the writer and the content at its path.
	Cancel(ctx context.Context) error

	// Close releases the writer. Bytes written and not yet checkpointed or
	// committed are discarded.
	Close() error
}

// FileInfo describes a path.
type FileInfo struct {
	Path    string
	Size    int64 // bytes; 0 for directories
	ModTime time.Time
	IsDir   bool
}

// URLer is implemented by drivers that can hand clients a direct, temporary
// URL for reading a path (a presigned S3 URL), so blob reads skip the
// registry. Callers fall back to Reader when it returns an error.
type URLer interface {
	URLFor(ctx context.Context, path string, expiry time.Duration) (string, error)
}

// ListingLagger is implemented by drivers whose listings can lag behind
// writes: Swift's container listings are updated after an object PUT
// returns, normally at once, but queued when a container server is busy.
// ListingLag is how long, at most, a name just written may stay out of List
// and Walk (configured: the store cannot measure it). Reads of a named path
// never lag. The garbage collector waits for it before it trusts a listing
// of claims (storage/claims.go).
type ListingLagger interface {
	ListingLag() time.Duration
}

// Adopter is implemented by drivers that can take over a local file as the
// content at a path without copying it: the filesystem, by a rename within
// its own folder. The shadowing cache spools upstream blobs into a TempFile,
// verifies them while they stream, then adopts them.
type Adopter interface {
	// TempFile creates a file from which Adopt can take content cheaply.
	TempFile() (*os.File, error)
	// Adopt makes f's content the content at dst, atomically and durably,
	// and takes f away (it is closed; its name no longer exists).
	Adopt(ctx context.Context, f *os.File, dst string) error
}

// FileStater is implemented by drivers for which describing a path that
// can only be a file costs less than Stat: on an object store Stat of a
// missing key lists the prefix too (it may be a "directory"), StatFile is
// one HEAD. Storage probes links and blobs, which are always files, with it.
type FileStater interface {
	// StatFile describes the file at path. A missing file — or a path that
	// is only a directory — is an error wrapping ErrNotFound.
	StatFile(ctx context.Context, path string) (FileInfo, error)
}

// AtomicCommitter is implemented by drivers whose writers show nothing at
// the path until Commit, and then the whole content at once (an S3 PUT, or
// a multipart upload completed), replacing what was there: content already
// verified can then be written at its final path, with no copy after.
type AtomicCommitter interface {
	// CommitsAtomically is a marker; it does nothing.
	CommitsAtomically()
}

// TempSweeper is implemented by drivers whose writes can leave temporary
// files behind when the process dies mid-write (the filesystem: a PutContent
// or an adopted spool cut short by a crash). Object stores have nothing of
// the kind: a PUT is atomic, and abandoned multipart uploads go with Delete.
type TempSweeper interface {
	// SweepTemp removes (or, dry, only counts) the leftovers last modified
	// before before, which must lie far enough back that no live write can
	// be that idle. It reports how many files and bytes it found.
	SweepTemp(ctx context.Context, before time.Time, dryRun bool) (files int, bytes int64, err error)
}
