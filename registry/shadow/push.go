package shadow

import (
	"context"
	"errors"
	"fmt"

	"github.com/shadowreg/shadowreg/storage"
)

// PutManifest stores a pushed manifest in the local content. The local
// store checks what the manifest references itself, once, under its
// collection guard (storage.Repo.PutManifest); with an upstream, what the
// local areas do not link may come from the cache or the upstream, which
// is checked here first, outside that guard.
func (r *Repo) PutManifest(ctx context.Context, m *storage.Manifest, p *storage.Parsed, tags ...string) error {
	if !r.ns.fetching() {
		return r.local.PutManifest(ctx, m, p, tags...)
	}
	for _, b := range p.RequiredBlobs() {
		linked, err := r.local.BlobLinked(ctx, b.Digest)
		if err != nil {
			return fmt.Errorf("checking blob %s: %w", b.Digest, err)
		}
		if linked {
			continue
		}
		if _, err := r.BlobStat(ctx, b.Digest); err != nil {
			if errors.Is(err, storage.ErrBlobUnknown) {
				return &storage.ManifestBlobUnknownError{Digest: b.Digest, MediaType: b.MediaType}
			}
			return fmt.Errorf("checking blob %s: %w", b.Digest, err)
		}
	}
	for _, c := range p.Manifests {
		if _, err := r.ManifestStat(ctx, c.Digest.String()); err != nil {
			if errors.Is(err, storage.ErrManifestUnknown) {
				return &storage.ManifestBlobUnknownError{Digest: c.Digest, MediaType: c.MediaType}
			}
			return fmt.Errorf("checking manifest %s: %w", c.Digest, err)
		}
	}
	return r.local.PutManifest(ctx, m, p, tags...)
}
