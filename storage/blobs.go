package storage

import (
	"context"
	"io"
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
	for _, a := range r.areas {
		_, err := r.s.d.Stat(ctx, blobLinkPath(a, r.name, d))
		if isNotFound(err) {
			continue
		}
		if err != nil {
			return ocispec.Descriptor{}, err
		}
		return r.s.blobStat(ctx, d)
	}
	return ocispec.Descriptor{}, ErrBlobUnknown
}

func (s *Store) blobStat(ctx context.Context, d digest.Digest) (ocispec.Descriptor, error) {
	fi, err := s.d.Stat(ctx, blobPath(d))
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

// BlobReader opens blob d from offset. Call BlobStat first: it checks that the
// repository holds the blob; BlobReader only opens the content. For the
// filesystem driver the reader is an *os.File (sendfile).
func (r *Repo) BlobReader(ctx context.Context, d digest.Digest, offset int64) (io.ReadCloser, error) {
	rc, err := r.s.d.Reader(ctx, blobPath(d), offset)
	if isNotFound(err) {
		return nil, ErrBlobUnknown
	}
	return rc, err
}

// BlobURL returns a direct, temporary URL for blob d when the driver offers
// them (presigned S3 URLs); ok is false otherwise.
func (r *Repo) BlobURL(ctx context.Context, d digest.Digest, expiry time.Duration) (string, bool) {
	u, isURLer := r.s.d.(driver.URLer)
	if !isURLer {
		return "", false
	}
	url, err := u.URLFor(ctx, blobPath(d), expiry)
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
	if err := r.linkBlob(ctx, d); err != nil {
		return ocispec.Descriptor{}, err
	}
	return desc, nil
}

// linkBlob records that the repository holds blob d.
func (r *Repo) linkBlob(ctx context.Context, d digest.Digest) error {
	return r.s.d.PutContent(ctx, blobLinkPath(r.writeArea(), r.name, d), nil)
}
