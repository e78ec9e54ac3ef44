package shadow

import (
	"context"
	"errors"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/shadowreg/shadowreg/registry/upstream"
	"github.com/shadowreg/shadowreg/storage"
)

// ManifestStat resolves ref without reading the manifest where it can. A
// miss reads the manifest from upstream anyway (and caches it): the client's
// next request is almost always the GET.
func (r *Repo) ManifestStat(ctx context.Context, ref string) (ocispec.Descriptor, error) {
	desc, err := r.local.ManifestStat(ctx, ref)
	if !errors.Is(err, storage.ErrManifestUnknown) {
		if err == nil {
			r.ns.served("manifest", fromLocal)
		}
		return desc, err
	}
	m, err := r.remote(ctx, ref)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	r.ns.served("manifest", m.from)
	return m.Descriptor(), nil
}

// Manifest: local content wins; then the cache (a tag revalidated once its
// TTL has passed); then the upstream.
func (r *Repo) Manifest(ctx context.Context, ref string) (*storage.Manifest, error) {
	m, err := r.local.Manifest(ctx, ref)
	if !errors.Is(err, storage.ErrManifestUnknown) {
		if err == nil {
			r.ns.served("manifest", fromLocal)
		}
		return m, err
	}
	sm, err := r.remote(ctx, ref)
	if err != nil {
		return nil, err
	}
	r.ns.served("manifest", sm.from)
	return sm.Manifest, nil
}

// sourced is a manifest and where it came from (fromCache, fromUpstream),
// for the served-from metric.
type sourced struct {
	*storage.Manifest
	from string
}

func (r *Repo) remote(ctx context.Context, ref string) (sourced, error) {
	if !r.ns.fetching() {
		return sourced{}, r.ns.miss(storage.ErrManifestUnknown)
	}
	if _, err := digest.Parse(ref); err == nil {
		if r.cache != nil {
			if m, err := r.cache.Manifest(ctx, ref); !errors.Is(err, storage.ErrManifestUnknown) {
				if err == nil {
					r.cache.TouchManifest(ctx, m.Digest)
				}
				return sourced{m, fromCache}, err
			}
		}
		return r.fetchManifest(ctx, ref)
	}
	if r.cache == nil {
		return r.fetchManifest(ctx, ref)
	}
	desc, updated, err := r.cache.TagStat(ctx, ref)
	if errors.Is(err, storage.ErrManifestUnknown) {
		return r.fetchManifest(ctx, ref)
	}
	if err != nil {
		return sourced{}, err
	}
	if r.ns.opts.Now().Sub(updated) < r.ns.opts.TagTTL {
		return r.cachedManifest(ctx, desc)
	}
	return r.revalidate(ctx, ref, desc)
}

func (r *Repo) cachedManifest(ctx context.Context, desc ocispec.Descriptor) (sourced, error) {
	m, err := r.cache.Manifest(ctx, desc.Digest.String())
	if errors.Is(err, storage.ErrManifestUnknown) {
		// The tag outlived its manifest (evicted): fetch it again.
		return r.fetchManifest(ctx, desc.Digest.String())
	}
	if err == nil {
		r.cache.TouchManifest(ctx, m.Digest)
	}
	return sourced{m, fromCache}, err
}

// fetchManifest asks the upstream, once for all concurrent callers, and
// caches the answer under ref.
func (r *Repo) fetchManifest(ctx context.Context, ref string) (sourced, error) {
	v, err := r.ns.do(ctx, "manifest "+r.path+":"+ref, func(ctx context.Context) (any, error) {
		// A flight that ended just before this one began has cached what
		// it fetched: look again rather than ask the upstream twice.
		if m, ok := r.cachedFresh(ctx, ref); ok {
			return sourced{m, fromCache}, nil
		}
		um, err := r.ns.up.Manifest(ctx, r.path, ref)
		if err != nil {
			return nil, err
		}
		m := &storage.Manifest{Digest: um.Digest, MediaType: um.MediaType, Data: um.Data}
		r.keep(ctx, m, ref)
		return sourced{m, fromUpstream}, nil
	})
	if err != nil {
		return sourced{}, r.ns.fromUpstream(err, storage.ErrManifestUnknown)
	}
	return v.(sourced), nil
}

// cachedFresh returns ref from the cache when it is there and, for a tag,
// still within its TTL.
func (r *Repo) cachedFresh(ctx context.Context, ref string) (*storage.Manifest, bool) {
	if r.cache == nil {
		return nil, false
	}
	if _, err := digest.Parse(ref); err == nil {
		m, err := r.cache.Manifest(ctx, ref)
		return m, err == nil
	}
	desc, updated, err := r.cache.TagStat(ctx, ref)
	if err != nil || r.ns.opts.Now().Sub(updated) >= r.ns.opts.TagTTL {
		return nil, false
	}
	m, err := r.cache.Manifest(ctx, desc.Digest.String())
	return m, err == nil
}

// keep caches m, tagged ref when ref is a tag. Manifests shadowreg cannot
// parse (Docker schema 1) are served but not kept.
func (r *Repo) keep(ctx context.Context, m *storage.Manifest, ref string) {
	if r.cache == nil {
		return
	}
	p, err := storage.ParseManifest(m.MediaType, m.Data)
	if err != nil {
		r.ns.log.Info("not caching an upstream manifest shadowreg cannot parse", "repo", r.path, "ref", ref, "err", err)
		return
	}
	var tags []string
	if _, err := digest.Parse(ref); err != nil {
		tags = append(tags, ref)
	}
	if err := r.cache.PutManifest(ctx, m, p, tags...); err != nil {
		r.ns.log.Warn("caching a manifest failed", "repo", r.path, "ref", ref, "err", err)
	}
}

// revalidate checks a cached tag against the upstream with a HEAD: the same
// digest renews it, another fetches the new manifest, a 404 drops it, and an
// unreachable upstream leaves the cached one served, stale.
func (r *Repo) revalidate(ctx context.Context, tag string, cached ocispec.Descriptor) (sourced, error) {
	v, err := r.ns.do(ctx, "revalidate "+r.path+":"+tag, func(ctx context.Context) (any, error) {
		head, err := r.ns.up.ManifestHead(ctx, r.path, tag)
		switch {
		case err == nil && head.Digest == cached.Digest:
			if err := r.cache.Tag(ctx, tag, cached); err != nil {
				r.ns.log.Warn("renewing a cached tag failed", "repo", r.path, "tag", tag, "err", err)
			}
			return r.cachedManifest(ctx, cached)
		case err == nil:
			return r.fetchManifest(ctx, tag)
		case errors.Is(err, upstream.ErrNotFound):
			if err := r.cache.DeleteTag(ctx, tag); err != nil && !errors.Is(err, storage.ErrManifestUnknown) {
				r.ns.log.Warn("dropping a cached tag failed", "repo", r.path, "tag", tag, "err", err)
			}
			return nil, r.ns.fromUpstream(err, storage.ErrManifestUnknown)
		case errors.Is(err, context.Canceled):
			return nil, err
		}
		r.ns.log.Warn("upstream unreachable: serving the cached tag stale", "repo", r.path, "tag", tag,
			"digest", cached.Digest, "err", err)
		return r.cachedManifest(ctx, cached)
	})
	if err != nil {
		var miss *missError
		if errors.As(err, &miss) {
			return sourced{}, err
		}
		return sourced{}, r.ns.fromUpstream(err, storage.ErrManifestUnknown)
	}
	return v.(sourced), nil
}
