package soloauth

import (
	"crypto/rsa"
	"hash/maphash"
	"sync"
	"time"
)

// Bounds of the verified-token cache, per handler.
const (
	// DefaultCacheEntries bounds the tokens remembered by one handler.
	DefaultCacheEntries = 10000
	// maxCachedTokenSize: longer tokens are verified every time, so that
	// the cache's memory stays bounded by entries × this.
	maxCachedTokenSize = 4 << 10
	cacheShards        = 16
)

// tokenCache remembers tokens that verified, keyed by the token's exact
// bytes: a token that differs in any byte, a forged signature included,
// is a different key and is verified in full. An entry is used until the
// token's exp plus leeway, and an RS256 entry only while the key that
// verified it is still the one its kid names in the key set. Scopes are
// not cached: each route checks its own on every request.
type tokenCache struct {
	seed     maphash.Seed
	perShard int
	shards   [cacheShards]cacheShard
}

type cacheShard struct {
	mu      sync.RWMutex
	entries map[string]cacheEntry
}

type cacheEntry struct {
	id         *Identity
	validUntil time.Time      // exp + leeway
	key        *rsa.PublicKey // RS256: the key that verified it
}

func newTokenCache(entries int) *tokenCache {
	c := &tokenCache{seed: maphash.MakeSeed(), perShard: max(entries/cacheShards, 1)}
	for i := range c.shards {
		c.shards[i].entries = make(map[string]cacheEntry)
	}
	return c
}

func (c *tokenCache) shard(token string) *cacheShard {
	return &c.shards[maphash.String(c.seed, token)%cacheShards]
}

// get returns the identity of a cached token still valid at now. keys
// tells whether an RS256 entry's key is still in use.
func (c *tokenCache) get(token string, now time.Time, keys RSAKeySource) (*Identity, bool) {
	if len(token) > maxCachedTokenSize {
		return nil, false
	}
	s := c.shard(token)
	s.mu.RLock()
	e, ok := s.entries[token]
	s.mu.RUnlock()
	if !ok {
		return nil, false
	}
	if now.After(e.validUntil) || (e.key != nil && (keys == nil || keys.CurrentKey(e.id.KeyID) != e.key)) {
		s.mu.Lock()
		delete(s.entries, token)
		s.mu.Unlock()
		return nil, false
	}
	return e.id, true
}

// put remembers a verified token. A full shard first drops entries that
// have expired, and failing that one at random (Go randomizes map order).
func (c *tokenCache) put(token string, e cacheEntry, now time.Time) {
	if len(token) > maxCachedTokenSize {
		return
	}
	s := c.shard(token)
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.entries) >= c.perShard {
		evicted := false
		scanned := 0
		for k, old := range s.entries {
			if now.After(old.validUntil) {
				delete(s.entries, k)
				evicted = true
			}
			if scanned++; scanned >= 8 {
				break
			}
		}
		if !evicted {
			for k := range s.entries {
				delete(s.entries, k)
				break
			}
		}
	}
	s.entries[token] = e
}

// len is the number of entries, for tests and metrics.
func (c *tokenCache) len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		n += len(s.entries)
		s.mu.RUnlock()
	}
	return n
}
