package storage

import (
	"bytes"
	"fmt"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"
)

func TestManifestCache(t *testing.T) {
	t.Parallel()
	entry := func(i int) (digest.Digest, []byte) {
		b := bytes.Repeat([]byte{byte('a' + i)}, 100)
		return digest.FromBytes(b), b
	}
	c := newManifestCache(400) // four entries of 100 bytes; at most 100 per entry
	for i := range 4 {
		d, b := entry(i)
		c.put(d, b)
	}
	for i := range 4 {
		d, b := entry(i)
		if got, ok := c.get(d); !ok || !bytes.Equal(got, b) {
			t.Errorf("entry %d: %q, %v", i, got, ok)
		}
	}
	// Entry 0 was used last but three: touch it, then add a fifth; entry 1
	// is the least recently used and goes.
	d0, _ := entry(0)
	c.get(d0)
	d4, b4 := entry(4)
	c.put(d4, b4)
	d1, _ := entry(1)
	if _, ok := c.get(d1); ok {
		t.Error("the least recently used entry was kept")
	}
	for _, i := range []int{0, 2, 3, 4} {
		if d, _ := entry(i); !has(c, d) {
			t.Errorf("entry %d was evicted", i)
		}
	}
	if c.size != 400 {
		t.Errorf("size = %d, want 400", c.size)
	}
	// Putting an entry again changes nothing.
	c.put(d4, b4)
	if c.size != 400 || c.order.Len() != 4 {
		t.Errorf("after a repeated put: size %d, %d entries", c.size, c.order.Len())
	}
	// Entries over a quarter of the cache are not kept.
	big := bytes.Repeat([]byte("x"), 101)
	c.put(digest.FromBytes(big), big)
	if has(c, digest.FromBytes(big)) {
		t.Error("an entry larger than a quarter of the cache was kept")
	}

	// A cache of size <= 0 keeps nothing.
	for _, max := range []int64{0, -1} {
		off := newManifestCache(max)
		d, b := entry(0)
		off.put(d, b)
		if has(off, d) {
			t.Errorf("a cache of %d kept an entry", max)
		}
	}
}

func has(c *manifestCache, d digest.Digest) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.byKey[d]
	return ok
}

func TestManifestCacheConcurrent(t *testing.T) {
	t.Parallel()
	c := newManifestCache(10_000)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				b := []byte(fmt.Sprintf("%d-%d-%0100d", g, i%50, 0))
				d := digest.FromBytes(b)
				c.put(d, b)
				if got, ok := c.get(d); ok && !bytes.Equal(got, b) {
					t.Errorf("got other bytes for %s", d)
				}
			}
		}()
	}
	wg.Wait()
	if c.size > 10_000 || int(c.size) != sumSizes(c) {
		t.Errorf("size %d, entries hold %d", c.size, sumSizes(c))
	}
}

func sumSizes(c *manifestCache) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for e := c.order.Front(); e != nil; e = e.Next() {
		n += len(e.Value.(*cacheEntry).data)
	}
	return n
}
