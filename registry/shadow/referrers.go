package shadow

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/shadowreg/shadowreg/registry/upstream"
)

// maxReferrerEntries bounds the memory the upstream referrers cache takes:
// past it, the oldest entries go.
const maxReferrerEntries = 4096

// referrersCache keeps the upstream's referrers lists for the tag TTL: a
// list changes when someone attaches an artifact upstream, which is no more
// urgent to see than a moved tag. While the upstream is down a list is
// served stale, as tags are.
type referrersCache struct {
	mu      sync.Mutex
	entries map[string]referrersEntry
}

type referrersEntry struct {
	descs []ocispec.Descriptor
	at    time.Time
}

func (c *referrersCache) get(key string) (referrersEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	return e, ok
}

func (c *referrersCache) put(key string, e referrersEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = map[string]referrersEntry{}
	}
	if _, ok := c.entries[key]; !ok && len(c.entries) >= maxReferrerEntries {
		var oldest string
		for k, v := range c.entries { // rare: a linear scan is fine
			if oldest == "" || v.at.Before(c.entries[oldest].at) {
				oldest = k
			}
		}
		delete(c.entries, oldest)
	}
	c.entries[key] = e
}

// upstreamReferrers returns the upstream's referrers of subject in the
// repository: cached within the tag TTL, else asked once for all
// concurrent callers; stale while the upstream is unreachable. A missing
// repository (or Docker Hub's 401 for one) has none.
func (r *Repo) upstreamReferrers(ctx context.Context, subject digest.Digest) []ocispec.Descriptor {
	key := r.path + "@" + subject.String()
	cached, ok := r.ns.referrers.get(key)
	if ok && r.ns.opts.Now().Sub(cached.at) < r.ns.opts.TagTTL {
		return cached.descs
	}
	v, err := r.ns.do(ctx, "referrers "+key, func(ctx context.Context) (any, error) {
		return r.ns.up.Referrers(ctx, r.path, subject)
	})
	switch {
	case err == nil:
		descs := v.([]ocispec.Descriptor)
		r.ns.referrers.put(key, referrersEntry{descs: descs, at: r.ns.opts.Now()})
		return descs
	case errors.Is(err, upstream.ErrNotFound), errors.Is(err, upstream.ErrUnauthorized):
		return nil
	}
	if ok {
		r.ns.log.Warn("upstream referrers failed; serving the cached list stale", "repo", r.path, "subject", subject, "err", err)
		return cached.descs
	}
	r.ns.log.Warn("upstream referrers failed; listing local and cached referrers only", "repo", r.path, "subject", subject, "err", err)
	return nil
}
