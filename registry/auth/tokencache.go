package auth

import (
	"crypto/sha256"
	"sync"
	"time"
)

// tokenCacheSize bounds the verified tokens kept: a client reuses its
// token for every request until it expires, so a few thousand cover
// thousands of concurrent clients.
const tokenCacheSize = 4096

// tokenCache keeps the claims of tokens already verified, until they
// expire, so that a client's every request does not check the signature
// again (an RSA or ECDSA verification costs more than the request).
// Entries are keyed by the SHA-256 of the whole token: a token that differs
// in any byte (a tampered payload, another signature) misses and is
// verified in full. What a token's claims are worth now — whether the
// subject still exists and what it may do — is decided on every request
// after the lookup (authenticateToken), not cached here.
type tokenCache struct {
	mu      sync.Mutex
	entries map[[sha256.Size]byte]*claims
}

func newTokenCache() *tokenCache {
	return &tokenCache{entries: map[[sha256.Size]byte]*claims{}}
}

// get returns the verified claims of raw while they are unexpired at now
// (with the leeway the parser allows), and drops expired ones.
func (c *tokenCache) get(raw string, now time.Time) (*claims, bool) {
	key := sha256.Sum256([]byte(raw))
	c.mu.Lock()
	defer c.mu.Unlock()
	cl, ok := c.entries[key]
	if !ok {
		return nil, false
	}
	if !now.Before(cl.ExpiresAt.Add(leeway)) {
		delete(c.entries, key)
		return nil, false
	}
	return cl, true
}

// put keeps cl, verified claims of raw. When the cache is full it drops
// the expired entries, and if none had, an arbitrary one.
func (c *tokenCache) put(raw string, cl *claims, now time.Time) {
	if cl.ExpiresAt == nil {
		return // the parser requires exp; never cache a token without
	}
	key := sha256.Sum256([]byte(raw))
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= tokenCacheSize {
		for k, e := range c.entries {
			if !now.Before(e.ExpiresAt.Add(leeway)) {
				delete(c.entries, k)
			}
		}
		for k := range c.entries {
			if len(c.entries) < tokenCacheSize {
				break
			}
			delete(c.entries, k)
		}
	}
	c.entries[key] = cl
}

func (c *tokenCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
