package jwt

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	tu "github.com/solo-one/caddy-solo-auth/internal/testutil"
)

// clockAt is a settable clock for the verifier.
type clockAt struct{ t time.Time }

func (c *clockAt) now() time.Time { return c.t }

// TestCacheNeverChangesAnAnswer: for each situation, a verifier with a
// cache and one without must give the same answer, before and after the
// token is cached.
func TestCacheNeverChangesAnAnswer(t *testing.T) {
	clk := &clockAt{t: time.Now()}
	keys := staticKeys{"k1": &tu.RSAKey.PublicKey}
	cached := &Verifier{Secrets: [][]byte{[]byte(tu.SecretA)}, RSAKeys: keys, Leeway: 30 * time.Second, Now: clk.now}
	cached.EnableCache(100)
	var hits int
	cached.ObserveCache = func(hit bool) {
		if hit {
			hits++
		}
	}
	defer func() {
		if hits == 0 {
			t.Error("no cache hit: the subtests did not use the cache")
		}
	}()

	t.Run("expired while cached", func(t *testing.T) {
		tok := tu.HS256(tu.SecretA, tu.SDKClaims("a").With("exp", clk.t.Add(time.Minute).Unix()))
		mustCache(t, cached, tok)
		mustPass(t, cached, tok) // from the cache
		clk.t = clk.t.Add(time.Minute + 31*time.Second)
		mustRefuse(t, cached, tok, KindExpired)
		clk.t = time.Now()
	})
	t.Run("key removed while cached", func(t *testing.T) {
		tok := tu.RS256(tu.RSAKey, "k1", tu.SDKClaims("w"))
		mustCache(t, cached, tok)
		delete(keys, "k1")
		mustRefuse(t, cached, tok, KindInvalid)
		keys["k1"] = &tu.RSAKey.PublicKey
		mustPass(t, cached, tok)
	})
	t.Run("kid now names another key", func(t *testing.T) {
		tok := tu.RS256(tu.RSAKey, "k1", tu.SDKClaims("w2"))
		mustCache(t, cached, tok)
		keys["k1"] = &tu.RSAKey2.PublicKey
		mustRefuse(t, cached, tok, KindInvalid)
		keys["k1"] = &tu.RSAKey.PublicKey
	})
	t.Run("forged token sharing header and payload", func(t *testing.T) {
		tok := tu.HS256(tu.SecretA, tu.SDKClaims("admin", "admin"))
		mustCache(t, cached, tok)
		forged := tok[:strings.LastIndexByte(tok, '.')+1] + strings.Repeat("A", 43)
		mustRefuse(t, cached, forged, KindInvalid)
		mustRefuse(t, cached, tok+"A", KindInvalid)
		mustRefuse(t, cached, tok[:len(tok)-1], KindInvalid)
		mustRefuse(t, cached, nonCanonicalSig(tok), KindInvalid)
	})
	t.Run("another verifier (a reload with a new secret) has its own cache", func(t *testing.T) {
		tok := tu.HS256(tu.SecretA, tu.SDKClaims("r"))
		mustCache(t, cached, tok)
		reloaded := &Verifier{Secrets: [][]byte{[]byte(tu.SecretB)}, Leeway: 30 * time.Second}
		reloaded.EnableCache(100)
		mustRefuse(t, reloaded, tok, KindInvalid)
	})
}

func nonCanonicalSig(tok string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	i := strings.IndexByte(alphabet, tok[len(tok)-1])
	return tok[:len(tok)-1] + string(alphabet[i^1])
}

// mustCache verifies a token twice: the cache admits it on the second.
func mustCache(t *testing.T, v *Verifier, tok string) {
	t.Helper()
	mustPass(t, v, tok)
	mustPass(t, v, tok)
}

func mustPass(t *testing.T, v *Verifier, tok string) {
	t.Helper()
	if _, err := v.Verify(tok); err != nil {
		t.Fatalf("refused: %v", err)
	}
}

func mustRefuse(t *testing.T, v *Verifier, tok string, kind ErrorKind) {
	t.Helper()
	_, err := v.Verify(tok)
	verr, ok := err.(*VerifyError)
	if !ok || verr.Kind != kind {
		t.Fatalf("got %v, want refusal of kind %v", err, kind)
	}
}

func TestCacheBounded(t *testing.T) {
	c := newTokenCache(160)
	now := time.Now()
	id := &Identity{Subject: "s"}
	put := func(tok string) { // twice: the doorkeeper admits a token on its second sighting
		for range 2 {
			c.put(tok, c.hash(tok), cacheEntry{id: id, validUntil: now.Add(time.Hour)}, now)
		}
	}
	for i := range 10000 {
		put(fmt.Sprint("token-", i))
	}
	if n := c.len(); n > 160 || n == 0 {
		t.Fatalf("%d entries, bound 160", n)
	}
	long := strings.Repeat("x", maxCachedTokenSize+1)
	put(long)
	if _, ok := c.get(long, c.hash(long), now, nil); ok {
		t.Fatal("a token over the size bound was cached")
	}
}

// TestCacheAdmitsOnSecondSighting: a token verified once is not cached, so
// a flood of distinct tokens leaves the cache as it was.
func TestCacheAdmitsOnSecondSighting(t *testing.T) {
	c := newTokenCache(1000)
	now := time.Now()
	e := cacheEntry{id: &Identity{Subject: "s"}, validUntil: now.Add(time.Hour)}
	for i := range 5000 {
		tok := fmt.Sprint("distinct-", i)
		c.put(tok, c.hash(tok), e, now)
	}
	if n := c.len(); n != 0 {
		t.Fatalf("%d distinct tokens seen once were cached", n)
	}
	c.put("twice", c.hash("twice"), e, now)
	c.put("twice", c.hash("twice"), e, now)
	if _, ok := c.get("twice", c.hash("twice"), now, nil); !ok {
		t.Fatal("a token seen twice was not cached")
	}
}

// TestCacheConcurrent: many goroutines, a cache smaller than the token
// set (so entries are evicted and re-added), and every answer must be the
// identity of the token asked about.
func TestCacheConcurrent(t *testing.T) {
	v := &Verifier{Secrets: [][]byte{[]byte(tu.SecretA)}, RSAKeys: staticKeys{"k1": &tu.RSAKey.PublicKey}}
	v.EnableCache(64)
	var hits atomic.Int64
	v.ObserveCache = func(hit bool) {
		if hit {
			hits.Add(1)
		}
	}
	tokens := make([]string, 200)
	for i := range tokens {
		tokens[i] = tu.HS256(tu.SecretA, tu.SDKClaims(fmt.Sprint("user-", i)))
	}
	done := make(chan error)
	for g := range 8 {
		go func() {
			for i := range 2000 {
				n := (i*7 + g) % len(tokens)
				id, err := v.Verify(tokens[n])
				if err == nil && id.Subject != fmt.Sprint("user-", n) {
					err = fmt.Errorf("token %d answered with %q", n, id.Subject)
				}
				if err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if hits.Load() == 0 {
		t.Fatal("no cache hit: the test did not use the cache")
	}
}

// TestCacheKeepsTheTokenAlone: a token read out of a much longer string
// (a query or Cookie line) is cached as a copy of itself, so an entry
// never keeps the longer string alive.
func TestCacheKeepsTheTokenAlone(t *testing.T) {
	v := &Verifier{Secrets: [][]byte{[]byte(tu.SecretA)}}
	v.EnableCache(10)
	token := tu.HS256(tu.SecretA, tu.SDKClaims("alice"))
	line := "a=" + strings.Repeat("x", 1<<20) + "; tok=" + token // as a Cookie line
	fromLine := line[len(line)-len(token):]
	for range 2 { // cached on its second verification
		if _, err := v.Verify(fromLine); err != nil {
			t.Fatal(err)
		}
	}
	for i := range v.cache.shards {
		for key, e := range v.cache.shards[i].entries {
			if unsafe.StringData(key) == unsafe.StringData(fromLine) || unsafe.StringData(e.id.token) == unsafe.StringData(fromLine) {
				t.Fatal("the cache keeps a slice of the request's longer string")
			}
		}
	}
	if v.cache.len() != 1 {
		t.Fatalf("%d entries, want 1", v.cache.len())
	}
}
