package shadow

import (
	"context"
	"errors"
	"slices"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/shadowreg/shadowreg/registry/upstream"
	"github.com/shadowreg/shadowreg/storage"
)

// Repo is a repository whose local content shadows its upstream. It has the
// method set of registry.Repository; writes go to Local().
type Repo struct {
	ns    *Namespace
	local *storage.Repo
	cache *storage.Repo // nil when the namespace does not cache
	path  string        // the repository's path in the upstream
}

// Local is where pushes go.
func (r *Repo) Local() *storage.Repo { return r.local }

// BlobStat: local, then the cache, then a HEAD to the upstream.
func (r *Repo) BlobStat(ctx context.Context, d digest.Digest) (ocispec.Descriptor, error) {
	desc, err := r.local.BlobStat(ctx, d)
	if !errors.Is(err, storage.ErrBlobUnknown) {
		return desc, err
	}
	if r.cache != nil {
		if desc, err := r.cache.BlobStat(ctx, d); !errors.Is(err, storage.ErrBlobUnknown) {
			if err == nil {
				r.cache.TouchBlob(ctx, d)
			}
			return desc, err
		}
	}
	if !r.ns.fetching() {
		return desc, r.ns.miss(storage.ErrBlobUnknown)
	}
	if f := r.ns.inflight(r.path, d); f != nil && f.sizeKnown() {
		return blobDescriptor(d, f.size), nil
	}
	v, err := r.ns.do(ctx, "blob-head "+r.path+"@"+d.String(), func(ctx context.Context) (any, error) {
		return r.ns.up.BlobHead(ctx, r.path, d)
	})
	if err != nil {
		return ocispec.Descriptor{}, r.ns.fromUpstream(err, storage.ErrBlobUnknown)
	}
	return blobDescriptor(d, v.(int64)), nil
}

// BlobOpen: local, then the cache, then the one fetch from upstream.
func (r *Repo) BlobOpen(ctx context.Context, d digest.Digest) (storage.Blob, error) {
	b, from, err := r.openBlob(ctx, d)
	if err == nil {
		r.ns.served("blob", from)
	}
	return b, err
}

// openBlob is BlobOpen, saying where the blob came from.
func (r *Repo) openBlob(ctx context.Context, d digest.Digest) (storage.Blob, string, error) {
	b, err := r.local.BlobOpen(ctx, d)
	if !errors.Is(err, storage.ErrBlobUnknown) {
		return b, fromLocal, err
	}
	if r.cache != nil {
		if b, err := r.cache.BlobOpen(ctx, d); !errors.Is(err, storage.ErrBlobUnknown) {
			if err == nil {
				r.cache.TouchBlob(ctx, d)
			}
			return b, fromCache, err
		}
	}
	if !r.ns.fetching() {
		return nil, "", r.ns.miss(storage.ErrBlobUnknown)
	}
	return r.ns.fetchBlob(ctx, r, d)
}

func blobDescriptor(d digest.Digest, size int64) ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: "application/octet-stream", Digest: d, Size: size}
}

// Tags is the union of the local tags and the upstream's (or, while the
// upstream is down, the cached ones).
func (r *Repo) Tags(ctx context.Context) ([]string, error) {
	local, lerr := r.local.Tags(ctx)
	if lerr != nil && !errors.Is(lerr, storage.ErrNameUnknown) {
		return nil, lerr
	}
	if !r.ns.fetching() {
		if lerr != nil {
			return nil, r.ns.miss(storage.ErrNameUnknown)
		}
		return local, nil
	}
	v, err := r.ns.do(ctx, "tags "+r.path, func(ctx context.Context) (any, error) {
		return r.ns.up.Tags(ctx, r.path)
	})
	var remote []string
	switch {
	case err == nil:
		remote = v.([]string)
	case errors.Is(err, upstream.ErrNotFound), errors.Is(err, upstream.ErrUnauthorized):
		if lerr != nil {
			return nil, r.ns.fromUpstream(err, storage.ErrNameUnknown)
		}
	default:
		r.ns.log.Warn("upstream tag list failed; listing local and cached tags only", "repo", r.path, "err", err)
		if r.cache != nil {
			remote, _ = r.cache.Tags(ctx)
		}
		if lerr != nil && len(remote) == 0 {
			return nil, r.ns.fromUpstream(err, storage.ErrNameUnknown)
		}
	}
	all := append(slices.Clone(local), remote...)
	slices.Sort(all)
	return slices.Compact(all), nil
}

// Referrers lists the local referrers, then those cached from the upstream,
// then the upstream's own (its referrers API or tag schema; see
// upstreamReferrers). While the upstream is down the local and cached ones
// still come.
func (r *Repo) Referrers(ctx context.Context, subject digest.Digest) ([]ocispec.Descriptor, error) {
	descs, err := r.local.Referrers(ctx, subject)
	if err != nil && !errors.Is(err, storage.ErrNameUnknown) {
		return nil, err
	}
	seen := map[digest.Digest]bool{}
	add := func(more []ocispec.Descriptor) {
		for _, d := range more {
			if !seen[d.Digest] {
				seen[d.Digest] = true
				descs = append(descs, d)
			}
		}
	}
	for _, d := range descs {
		seen[d.Digest] = true
	}
	if r.cache != nil {
		cached, err := r.cache.Referrers(ctx, subject)
		if err != nil && !errors.Is(err, storage.ErrNameUnknown) {
			return nil, err
		}
		add(cached)
	}
	if !r.ns.fetching() {
		return descs, nil
	}
	add(r.upstreamReferrers(ctx, subject))
	return descs, nil
}
