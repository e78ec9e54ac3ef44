package storage

import (
	"container/list"
	"sync"

	"github.com/opencontainers/go-digest"
)

// manifestCache keeps recently read manifest bytes by digest. Content behind
// a digest never changes, so a hit is always correct; whether a repository
// still holds the manifest is checked against storage on every request (the
// link or tag), so deletes take effect at once, even across replicas.
type manifestCache struct {
	mu    sync.Mutex
	max   int64
	size  int64
	order *list.List // front = most recent; values are *cacheEntry
	byKey map[digest.Digest]*list.Element
}

type cacheEntry struct {
	d    digest.Digest
	data []byte
}

func newManifestCache(max int64) *manifestCache {
	return &manifestCache{max: max, order: list.New(), byKey: map[digest.Digest]*list.Element{}}
}

func (c *manifestCache) get(d digest.Digest) ([]byte, bool) {
	if c.max <= 0 {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.byKey[d]
	if !ok {
		return nil, false
	}
	c.order.MoveToFront(e)
	return e.Value.(*cacheEntry).data, true
}

func (c *manifestCache) put(d digest.Digest, data []byte) {
	n := int64(len(data))
	if c.max <= 0 || n > c.max/4 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.byKey[d]; ok {
		return
	}
	c.byKey[d] = c.order.PushFront(&cacheEntry{d: d, data: data})
	c.size += n
	for c.size > c.max {
		last := c.order.Back()
		ent := last.Value.(*cacheEntry)
		c.order.Remove(last)
		delete(c.byKey, ent.d)
		c.size -= int64(len(ent.data))
	}
}
