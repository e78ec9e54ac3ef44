package storage

import (
	"context"
	"io"
	"os"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/shadowreg/shadowreg/storage/driver"
)

// BlobStat describes blob d if the repository holds it in any of its areas.
func (r *Repo) BlobStat(ctx context.Context, d digest.Digest) (ocispec.Descriptor, error) {
	if err := d.Validate(); err != nil {
		return ocispec.Descriptor{}, ErrDigestInvalid
	}
	in, err := r.blobLinkArea(ctx, d)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	if in < 0 {
		return ocispec.Descriptor{}, ErrBlobUnknown
	}
	return r.s.blobStat(ctx, d)
}

// BlobLinked reports whether one of the repository's areas links blob d:
// the repository may serve it (the content itself is not looked at).
func (r *Repo) BlobLinked(ctx context.Context, d digest.Digest) (bool, error) {
	if err := d.Validate(); err != nil {
		return false, ErrDigestInvalid
	}
	in, err := r.blobLinkArea(ctx, d)
	return in >= 0, err
}

// blobLinkArea returns the index of the first of the repository's areas
// that links blob d, or -1: one request per area probed.
func (r *Repo) blobLinkArea(ctx context.Context, d digest.Digest) (int, error) {
	for i, a := range r.areas {
		_, err := r.s.statFile(ctx, blobLinkPath(a, r.name, d))
		if isNotFound(err) {
			continue
		}
		if err != nil {
			return -1, err
		}
		return i, nil
	}
	return -1, nil
}

func (s *Store) blobStat(ctx context.Context, d digest.Digest) (ocispec.Descriptor, error) {
	fi, err := s.statFile(ctx, blobPath(d))
	if isNotFound(err) {
		// Linked but gone: only a bug or a hand-edited store gets here;
		// answer as a miss rather than an internal error.
		return ocispec.Descriptor{}, ErrBlobUnknown
	}
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	return ocispec.Descriptor{MediaType: "application/octet-stream", Digest: d, Size: fi.Size}, nil
}

// Blob is an opened blob: its descriptor, and its bytes from any offset.
// Shadowing repositories return blobs still being fetched from upstream,
// which hold a file open from the moment they are opened: every Blob is
// closed by whoever opened it, on every path, read or not (a 304, a 416 or
// a HEAD reads nothing).
type Blob interface {
	Descriptor() ocispec.Descriptor
	// Reader reads the blob from offset. The filesystem's reader is an
	// *os.File, so copying it into a response uses sendfile. Readers are
	// closed on their own; closing one does not close the Blob.
	Reader(ctx context.Context, offset int64) (io.ReadCloser, error)
	// Close releases what the blob holds. It is safe to call more than once.
	Close() error
}

// RangeReader is implemented by blobs whose bytes are not all verified
// yet (a fetch from upstream in progress): RangeReader reads [offset, end)
// and holds the range's last byte back until the whole blob has been
// verified, failing instead when it does not verify. end -1 is the blob's
// end.
type RangeReader interface {
	RangeReader(ctx context.Context, offset, end int64) (io.ReadCloser, error)
}

// ReadRange reads b from offset up to end (exclusive; -1 for the blob's
// end): through RangeReader where b has one, so that no range completes
// with unverified bytes; stored blobs are verified already and read from
// offset (the caller stops at end).
func ReadRange(ctx context.Context, b Blob, offset, end int64) (io.ReadCloser, error) {
	if rr, ok := b.(RangeReader); ok {
		return rr.RangeReader(ctx, offset, end)
	}
	return b.Reader(ctx, offset)
}

// Redirecter is implemented by blobs that clients can read straight from
// the storage (a presigned S3 URL): stored, verified content, wherever it
// was found — the shared area, a buildset, the cache.
type Redirecter interface {
	URL(ctx context.Context, expiry time.Duration) (string, bool)
}

// BlobOpen opens blob d if the repository holds it.
func (r *Repo) BlobOpen(ctx context.Context, d digest.Digest) (Blob, error) {
	desc, err := r.BlobStat(ctx, d)
	if err != nil {
		return nil, err
	}
	return &storedBlob{s: r.s, desc: desc}, nil
}

type storedBlob struct {
	s    *Store
	desc ocispec.Descriptor
}

func (b *storedBlob) Descriptor() ocispec.Descriptor { return b.desc }

func (b *storedBlob) Reader(ctx context.Context, offset int64) (io.ReadCloser, error) {
	rc, err := b.s.d.Reader(ctx, blobPath(b.desc.Digest), offset)
	if isNotFound(err) {
		return nil, ErrBlobUnknown
	}
	return rc, err
}

// Close: a stored blob holds nothing until a Reader is opened.
func (b *storedBlob) Close() error { return nil }

// URL is Redirecter: a direct, temporary URL for the blob when the driver
// offers them (presigned S3 URLs).
func (b *storedBlob) URL(ctx context.Context, expiry time.Duration) (string, bool) {
	u, isURLer := b.s.d.(driver.URLer)
	if !isURLer {
		return "", false
	}
	url, err := u.URLFor(ctx, blobPath(b.desc.Digest), expiry)
	return url, err == nil
}

// BlobDelete removes blob d from the repository's write area. The content
// itself stays until garbage collection finds nothing referring to it.
func (r *Repo) BlobDelete(ctx context.Context, d digest.Digest) error {
	if err := d.Validate(); err != nil {
		return ErrDigestInvalid
	}
	err := r.s.d.Delete(ctx, blobLinkPath(r.writeArea(), r.name, d))
	if isNotFound(err) {
		return ErrBlobUnknown
	}
	return err
}

// BlobMount links blob d into the repository (a cross-repository mount)
// when from holds it. With from nil, any content the store holds under d is
// linked: content is addressed by its digest, so knowing the digest is
// knowing the content. ErrBlobUnknown means there is nothing to mount.
func (r *Repo) BlobMount(ctx context.Context, d digest.Digest, from *Repo) (ocispec.Descriptor, error) {
	if err := d.Validate(); err != nil {
		return ocispec.Descriptor{}, ErrDigestInvalid
	}
	var desc ocispec.Descriptor
	var err error
	if from != nil {
		desc, err = from.BlobStat(ctx, d)
	} else {
		desc, err = r.s.blobStat(ctx, d)
	}
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	if err := r.s.admit(ctx, r.writeArea(), r.name, d, desc.Size); err != nil {
		return ocispec.Descriptor{}, err
	}
	release := r.s.guard.hold()
	defer release()
	if err := r.s.guard.note(ctx, d); err != nil {
		return ocispec.Descriptor{}, err
	}
	if err := r.s.claim(ctx, d); err != nil {
		return ocispec.Descriptor{}, err
	}
	// Under the guard (and the claim), make sure the content is still
	// there: a collection may have swept it between the stat and now.
	if ok, err := r.s.BlobExists(ctx, d); err != nil || !ok {
		if err == nil {
			err = ErrBlobUnknown
		}
		return ocispec.Descriptor{}, err
	}
	if err := r.linkBlob(ctx, d); err != nil {
		return ocispec.Descriptor{}, err
	}
	return desc, nil
}

// ImportBlob adds content the caller has already verified against d — the
// shadowing cache verifies upstream bytes while it streams them — from the
// local file f, and links it into the repository's write area. Drivers that
// can adopt a local file take it over without a copy (a rename on the
// filesystem); drivers whose writes appear whole on commit (S3) get it
// written at its final path; others get it written aside and moved.
func (r *Repo) ImportBlob(ctx context.Context, d digest.Digest, f *os.File) (ocispec.Descriptor, error) {
	if err := d.Validate(); err != nil {
		return ocispec.Descriptor{}, ErrDigestInvalid
	}
	fi, err := f.Stat()
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	release := r.s.guard.hold()
	defer release()
	if err := r.s.guard.note(ctx, d); err != nil {
		return ocispec.Descriptor{}, err
	}
	if err := r.s.claim(ctx, d); err != nil {
		return ocispec.Descriptor{}, err
	}
	switch drv := r.s.d.(type) {
	case driver.Adopter:
		err = drv.Adopt(ctx, f, blobPath(d))
	case driver.AtomicCommitter:
		// Verified already, and invisible until committed: written at its
		// final path, not copied there after.
		err = r.s.writeFile(ctx, f, blobPath(d))
	default:
		err = r.s.copyIn(ctx, f, blobPath(d))
	}
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	if err := r.linkBlob(ctx, d); err != nil {
		return ocispec.Descriptor{}, err
	}
	return ocispec.Descriptor{MediaType: "application/octet-stream", Digest: d, Size: fi.Size()}, nil
}

// copyIn writes a local file to dst through the driver: under uploads/
// first, so that dst only ever shows complete content.
func (s *Store) copyIn(ctx context.Context, f *os.File, dst string) error {
	id, err := newID()
	if err != nil {
		return err
	}
	tmp := uploadDataPath(id)
	defer s.d.Delete(context.WithoutCancel(ctx), uploadDir(id))
	if err := s.writeFile(ctx, f, tmp); err != nil {
		return err
	}
	return s.d.Move(ctx, tmp, dst)
}

// writeFile writes a local file, from its start, to p through the driver.
func (s *Store) writeFile(ctx context.Context, f *os.File, p string) error {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	w, err := s.d.Writer(ctx, p, 0)
	if err != nil {
		return err
	}
	defer w.Close()
	if _, err := copyCtx(ctx, w, f); err != nil {
		return err
	}
	return w.Commit(ctx)
}

// linkBlob records that the repository holds blob d. Callers hold the
// collection guard (gcGuard) and noted d before they checked for it.
func (r *Repo) linkBlob(ctx context.Context, d digest.Digest) error {
	return r.s.d.PutContent(ctx, blobLinkPath(r.writeArea(), r.name, d), nil)
}
