package soloauth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/solo-one/caddy-solo-auth/internal/jwt"
	"github.com/solo-one/caddy-solo-auth/internal/keys"
)

// verifiers holds one Verifier per key configuration for the whole
// process. Directives whose secrets, key set, issuers, audiences, leeway
// and scope claims are the same share one verifier, and with it one token
// cache: the common Caddyfile (a global option, then a line per route)
// verifies and caches a token once, not once per line, and the cache's
// memory is bounded per key configuration, not per directive. Scopes are
// not part of it: each directive checks its own. A verifier survives a
// reload that keeps its key configuration, warm cache included.
var verifiers = caddy.NewUsagePool()

// poolKeySalt keys the hash that names a key configuration in the pool,
// so that the pool's keys say nothing about the secrets in them.
var poolKeySalt = func() []byte {
	salt := make([]byte, 32)
	_, _ = rand.Read(salt)
	return salt
}()

// keyConfig is what decides whether a token verifies and which identity
// it gives, every value resolved.
type keyConfig struct {
	secrets     [][]byte
	jwksURLs    []string // fetched key sets
	jwksFiles   []string // local key sets: path and digest of contents (keys.File.ID)
	issuers     []string
	audiences   []string
	scopeClaims []string
	leeway      time.Duration
}

// poolKey names the configuration in the pool: equal configurations get
// equal keys, and any difference in any field a different one.
func (k keyConfig) poolKey() string {
	h := hmac.New(sha256.New, poolKeySalt)
	writeList(h, k.secrets...)
	writeList(h, stringsAsBytes(k.jwksURLs)...)
	writeList(h, stringsAsBytes(k.jwksFiles)...)
	for _, list := range [][]string{k.issuers, k.audiences, k.scopeClaims} {
		writeList(h, stringsAsBytes(list)...)
	}
	writeList(h, binary.BigEndian.AppendUint64(nil, uint64(k.leeway)))
	return hex.EncodeToString(h.Sum(nil))
}

// writeList hashes a list so that no two lists write the same bytes:
// each length comes before its item, and the count before the list.
func writeList(h hash.Hash, items ...[]byte) {
	h.Write(binary.BigEndian.AppendUint64(nil, uint64(len(items))))
	for _, item := range items {
		h.Write(binary.BigEndian.AppendUint64(nil, uint64(len(item))))
		h.Write(item)
	}
}

func stringsAsBytes(list []string) [][]byte {
	out := make([][]byte, len(list))
	for i, s := range list {
		out[i] = []byte(s)
	}
	return out
}

// pooledVerifier is a Verifier as the pool holds it; a verifier owns
// nothing that needs stopping (the key set has its own pool).
type pooledVerifier struct{ v *jwt.Verifier }

func (pooledVerifier) Destruct() error { return nil }

// acquireVerifier returns the verifier of k, making it if no directive
// uses k yet; keys holds the key sets of k.jwksURLs and k.jwksFiles, nil
// without any. Every directive that holds a verifier also holds the key
// sets of its URLs, so the key sets a pooled verifier was made with
// outlive it; a file set is data that the verifier keeps alive. Each call must
// be paired with releaseVerifier(poolKey).
func acquireVerifier(k keyConfig, sources *keys.Sources) (v *jwt.Verifier, poolKey string, err error) {
	poolKey = k.poolKey()
	val, _, err := verifiers.LoadOrNew(poolKey, func() (caddy.Destructor, error) {
		v := &jwt.Verifier{
			Secrets:      k.secrets,
			Issuers:      k.issuers,
			Audiences:    k.audiences,
			Leeway:       k.leeway,
			ScopeClaims:  k.scopeClaims,
			ObserveCache: observeCache,
		}
		if sources != nil { // not a typed nil in the interface
			v.RSAKeys = sources
		}
		v.EnableCache(jwt.DefaultCacheEntries)
		return pooledVerifier{v}, nil
	})
	if err != nil {
		return nil, "", err
	}
	return val.(pooledVerifier).v, poolKey, nil
}

// releaseVerifier undoes one acquireVerifier.
func releaseVerifier(poolKey string) {
	_, _ = verifiers.Delete(poolKey)
}
