package jwt

import (
	"crypto/rsa"
	"hash/maphash"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Bounds of the verified-token cache, per key configuration (one cache
// per pooled verifier, verifierpool.go).
const (
	// DefaultCacheEntries bounds the tokens remembered by one verifier.
	DefaultCacheEntries = 10000
	// maxCachedTokenSize: longer tokens are verified every time, so that
	// the cache's memory stays bounded by entries × this.
	maxCachedTokenSize = 4 << 10
	cacheShards        = 16
	// doorkeeperSlots remember the hashes of tokens verified once; a token
	// is cached on its second verification. A token never seen again (a
	// flood of distinct tokens) then costs the cache one word, not an
	// entry that pushes out a useful one and that the garbage collector
	// must trace.
	doorkeeperSlots = 1 << 14
)

// tokenCache remembers tokens that verified, keyed by the token's exact
// bytes: a token that differs in any byte, a forged signature included,
// is a different key and is verified in full. An entry is used until the
// token's exp plus leeway, and an RS256 entry only while the key that
// verified it is still published under its kid in one of the key sets.
// Scopes are not cached: each route checks its own on every request.
type tokenCache struct {
	seed       maphash.Seed
	perShard   int
	shards     [cacheShards]cacheShard
	doorkeeper [doorkeeperSlots]atomic.Uint64
}

type cacheShard struct {
	mu      sync.RWMutex
	entries map[string]cacheEntry
}

type cacheEntry struct {
	id         *Identity
	validUntil time.Time      // exp + leeway; expired from that instant on
	key        *rsa.PublicKey // RS256: the key that verified it
}

func newTokenCache(entries int) *tokenCache {
	c := &tokenCache{seed: maphash.MakeSeed(), perShard: max(entries/cacheShards, 1)}
	for i := range c.shards {
		c.shards[i].entries = make(map[string]cacheEntry)
	}
	return c
}

// hash is the token's key in the shards and the doorkeeper; 0 means the
// token is too long to be cached.
func (c *tokenCache) hash(token string) uint64 {
	if len(token) > maxCachedTokenSize {
		return 0
	}
	return maphash.String(c.seed, token) | 1
}

// get returns the identity of a cached token still valid at now. keys
// tells whether an RS256 entry's key is still in use.
func (c *tokenCache) get(token string, h uint64, now time.Time, keys RSAKeySource) (*Identity, bool) {
	if h == 0 {
		return nil, false
	}
	s := &c.shards[h%cacheShards]
	s.mu.RLock()
	e, ok := s.entries[token]
	s.mu.RUnlock()
	if !ok {
		return nil, false
	}
	if !now.Before(e.validUntil) || (e.key != nil && (keys == nil || !keys.KeyInUse(e.id.KeyID, e.key))) {
		s.mu.Lock()
		delete(s.entries, token)
		s.mu.Unlock()
		return nil, false
	}
	return e.id, true
}

// put remembers a verified token the second time it is verified (see
// doorkeeperSlots). A full shard first drops entries that have expired
// among a few it looks at, and failing that the first of them (Go
// randomizes map order).
func (c *tokenCache) put(token string, h uint64, e cacheEntry, now time.Time) {
	if h == 0 {
		return
	}
	slot := &c.doorkeeper[(h>>8)%doorkeeperSlots]
	if slot.Load() != h {
		slot.Store(h)
		return
	}
	// The request's token may be a slice of a much longer string (a query
	// or Cookie line, a padded header value) that an entry must not keep
	// alive: the memory bound counts the token alone. Cloned only here,
	// once per cached token.
	token = strings.Clone(token)
	e.id.token = token
	s := &c.shards[h%cacheShards]
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.entries) >= c.perShard {
		c.evictLocked(s, now)
	}
	s.entries[token] = e
}

func (c *tokenCache) evictLocked(s *cacheShard, now time.Time) {
	var first string
	scanned, evicted := 0, false
	for k, old := range s.entries {
		if scanned == 0 {
			first = k
		}
		if !now.Before(old.validUntil) {
			delete(s.entries, k)
			evicted = true
		}
		if scanned++; scanned >= 8 {
			break
		}
	}
	if !evicted {
		delete(s.entries, first)
	}
}

// len is the number of entries, for tests.
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
