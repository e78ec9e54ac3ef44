package storage

import (
	"context"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
)

// touchEvery is how often a cache hit renews its link's time, the cache's
// record of last use for LRU eviction: often enough to rank entries by the
// hour, rarely enough that reads do not turn into writes.
const touchEvery = time.Hour

// touchLog remembers when this process last renewed each link.
type touchLog struct {
	mu   sync.Mutex
	last map[string]time.Time
}

// TouchBlob records a use of blob d in the repository's write area, for
// least-recently-used eviction. Cheap when recently done.
func (r *Repo) TouchBlob(ctx context.Context, d digest.Digest) {
	p := blobLinkPath(r.writeArea(), r.name, d)
	if !r.s.touched.due(p, r.s.now()) {
		return
	}
	if err := r.s.d.PutContent(ctx, p, nil); err != nil {
		r.s.log.Debug("renewing a cache link failed", "path", p, "err", err)
	}
}

// TouchManifest records a use of manifest d, as TouchBlob does.
func (r *Repo) TouchManifest(ctx context.Context, d digest.Digest) {
	p := manifestLinkPath(r.writeArea(), r.name, d)
	if !r.s.touched.due(p, r.s.now()) {
		return
	}
	b, err := r.s.d.GetContent(ctx, p)
	if err == nil {
		err = r.s.d.PutContent(ctx, p, b)
	}
	if err != nil {
		r.s.log.Debug("renewing a cache link failed", "path", p, "err", err)
	}
}

func (t *touchLog) due(p string, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.last == nil {
		t.last = map[string]time.Time{}
	}
	if last, ok := t.last[p]; ok && now.Sub(last) < touchEvery {
		return false
	}
	if len(t.last) > 100000 { // bound the memory: forget and renew again
		clear(t.last)
	}
	t.last[p] = now
	return true
}
