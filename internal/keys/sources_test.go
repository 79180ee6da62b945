package keys

import (
	"context"
	"crypto/rsa"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/solo-one/caddy-solo-auth/internal/jwt"
	tu "github.com/solo-one/caddy-solo-auth/internal/testutil"
)

// twoSets is a route with two fetched sets (a: k1 and shared, b: k2 and
// shared under another key) and a file set (kf), on one fake clock.
type twoSets struct {
	a, b   *tu.JWKSServer
	ksA    *Set
	ksB    *Set
	clk    *tu.Clock
	src    *Sources
	fileKS *keyTable
}

func newTwoSets(t *testing.T) *twoSets {
	t.Helper()
	s := &twoSets{clk: tu.NewClock()}
	s.a = tu.NewJWKSServer(t, tu.JWKS(tu.JWK(t, &tu.RSAKey.PublicKey, "k1", nil), tu.JWK(t, &tu.RSAKey.PublicKey, "shared", nil)))
	s.b = tu.NewJWKSServer(t, tu.JWKS(tu.JWK(t, &tu.RSAKey2.PublicKey, "k2", nil), tu.JWK(t, &tu.RSAKey2.PublicKey, "shared", nil)))
	s.ksA = startKeySet(t, s.a.URL, s.clk, nil)
	s.ksB = startKeySet(t, s.b.URL, s.clk, nil)
	s.fileKS = &keyTable{keys: map[string]*rsa.PublicKey{"kf": &tu.RSAKey3.PublicKey}, source: sourceFile}
	s.src = &Sources{fetched: []*Set{s.ksA, s.ksB}, files: []*keyTable{s.fileKS}}
	return s
}

func (s *twoSets) fetches() (a, b int64) { return s.a.Requests.Load(), s.b.Requests.Load() }

func TestKeySourcesLookup(t *testing.T) {
	s := newTwoSets(t)
	tests := []struct {
		kid  string
		want []*rsa.PublicKey // every key to try, in any order
	}{
		{"k1", []*rsa.PublicKey{&tu.RSAKey.PublicKey}},
		{"k2", []*rsa.PublicKey{&tu.RSAKey2.PublicKey}},
		{"kf", []*rsa.PublicKey{&tu.RSAKey3.PublicKey}},
		{"shared", []*rsa.PublicKey{&tu.RSAKey.PublicKey, &tu.RSAKey2.PublicKey}},
	}
	for _, tt := range tests {
		first, more, err := s.src.RSAKeys(context.Background(), tt.kid)
		if err != nil {
			t.Fatalf("%s: %v", tt.kid, err)
		}
		got := append([]*rsa.PublicKey{first}, more...)
		if len(got) != len(tt.want) {
			t.Fatalf("%s: %d keys, want %d", tt.kid, len(got), len(tt.want))
		}
		for _, w := range tt.want {
			found := false
			for _, g := range got {
				found = found || g.Equal(w)
			}
			if !found {
				t.Errorf("%s: a key is missing", tt.kid)
			}
		}
	}
	if a, b := s.fetches(); a != 1 || b != 1 {
		t.Fatalf("fetches %d/%d after known kids, want 1/1 (start-up only)", a, b)
	}
	// A token under the shared kid verifies with either set's key.
	v := &jwt.Verifier{RSAKeys: s.src}
	for _, key := range []*rsa.PrivateKey{tu.RSAKey, tu.RSAKey2} {
		if _, err := v.Verify(tu.RS256(key, "shared", tu.SDKClaims("w"))); err != nil {
			t.Errorf("shared kid: %v", err)
		}
	}
	if _, err := v.Verify(tu.RS256(tu.RSAKey3, "shared", tu.SDKClaims("w"))); err == nil {
		t.Error("shared kid signed by a third key passed")
	}
	// The same key in two sets is tried once.
	same := &Sources{files: []*keyTable{s.fileKS, {keys: map[string]*rsa.PublicKey{"kf": &tu.RSAKey3.PublicKey}}}}
	if _, more, _ := same.RSAKeys(context.Background(), "kf"); len(more) != 0 {
		t.Errorf("one key in two sets tried %d more times", len(more))
	}
}

// TestKeySourcesUnknownKID: one refresh per fetched set, each under its
// own window; the key found where it was rotated in.
func TestKeySourcesUnknownKID(t *testing.T) {
	s := newTwoSets(t)
	if _, _, err := s.src.RSAKeys(context.Background(), "new"); !errors.Is(err, jwt.ErrUnknownKeyID) {
		t.Fatalf("err %v", err)
	}
	if a, b := s.fetches(); a != 1 || b != 1 {
		t.Fatalf("fetches %d/%d: an unknown kid fetched within the window", a, b)
	}
	s.clk.Advance(DefaultMinInterval)
	s.b.Set(200, tu.JWKS(tu.JWK(t, &tu.RSAKey2.PublicKey, "k2", nil), tu.JWK(t, &tu.RSAKey3.PublicKey, "new", nil)))
	key, _, err := s.src.RSAKeys(context.Background(), "new")
	if err != nil || !key.Equal(&tu.RSAKey3.PublicKey) {
		t.Fatalf("rotated kid: %v", err)
	}
	// The answer came with b's refresh; a's, started at the same time,
	// may still be on its way.
	awaitInflight(s.ksA)
	if a, b := s.fetches(); a != 2 || b != 2 {
		t.Fatalf("fetches %d/%d, want 2/2: one refresh of each set", a, b)
	}
	// Only a's window has passed: a unknown kid refreshes a alone.
	s.ksB.mu.Lock()
	s.ksB.lastAttempt = s.clk.Now().Add(DefaultMinInterval)
	s.ksB.mu.Unlock()
	s.clk.Advance(DefaultMinInterval)
	if _, _, err := s.src.RSAKeys(context.Background(), "other"); !errors.Is(err, jwt.ErrUnknownKeyID) {
		t.Fatalf("err %v", err)
	}
	if a, b := s.fetches(); a != 3 || b != 2 {
		t.Fatalf("fetches %d/%d, want 3/2: b's own window was still open", a, b)
	}
}

// TestKeySourcesKnownKIDNeverWaits: a refresh hanging in one set holds
// neither a kid that another set knows nor one it knows itself.
func TestKeySourcesKnownKIDNeverWaits(t *testing.T) {
	s := newTwoSets(t)
	s.clk.Advance(DefaultMinInterval)
	gate := make(chan struct{})
	defer close(gate)
	s.a.SetGate(gate)
	waiting := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { _, _, err := s.src.RSAKeys(ctx, "unknown"); waiting <- err }()
	tu.Eventually(t, "a's refresh to start", func() bool { return s.a.Requests.Load() == 2 })
	for _, kid := range []string{"k1", "k2", "kf", "shared"} {
		done := make(chan error, 1)
		go func() { _, _, err := s.src.RSAKeys(context.Background(), kid); done <- err }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("%s: %v", kid, err)
			}
		case <-time.After(2 * time.Second):
			t.Fatalf("%s waited behind a refresh", kid)
		}
	}
	// The unknown kid waits for a's refresh while its request lasts.
	select {
	case err := <-waiting:
		t.Fatalf("the unknown kid did not wait for a's refresh: %v", err)
	default:
	}
	cancel()
	if err := <-waiting; !errors.Is(err, jwt.ErrUnknownKeyID) || !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want unknown kid and the request's end", err)
	}
}

// TestKeySourcesUnavailable: a 503 only while a fetched set has never
// loaded and no loaded set knows the kid.
func TestKeySourcesUnavailable(t *testing.T) {
	up := tu.NewJWKSServer(t, tu.JWKS(tu.JWK(t, &tu.RSAKey.PublicKey, "k1", nil)))
	down := tu.NewJWKSServer(t, "")
	down.Set(500, "")
	clk := tu.NewClock()
	ksUp := startKeySet(t, up.URL, clk, nil)
	ksDown := startKeySet(t, down.URL, clk, nil)
	file := &keyTable{keys: map[string]*rsa.PublicKey{"kf": &tu.RSAKey3.PublicKey}, source: sourceFile}
	src := &Sources{fetched: []*Set{ksUp, ksDown}, files: []*keyTable{file}}
	tests := []struct {
		kid  string
		want error
	}{
		{"k1", nil},
		{"kf", nil},
		{"unknown", jwt.ErrKeysUnavailable},
	}
	for _, tt := range tests {
		if _, _, err := src.RSAKeys(context.Background(), tt.kid); !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
			t.Errorf("%s: err %v, want %v", tt.kid, err, tt.want)
		}
	}
	if n := down.Requests.Load(); n != 1 {
		t.Errorf("%d fetches of the set that never loaded; its background retries are its own", n)
	}
	// Without the set that never loaded, the unknown kid is invalid.
	loaded := &Sources{fetched: []*Set{ksUp}, files: []*keyTable{file}}
	if _, _, err := loaded.RSAKeys(context.Background(), "unknown"); !errors.Is(err, jwt.ErrUnknownKeyID) {
		t.Errorf("all loaded: err %v, want unknown kid", err)
	}
	// files alone never make a 503.
	files := &Sources{files: []*keyTable{file}}
	if _, _, err := files.RSAKeys(context.Background(), "unknown"); !errors.Is(err, jwt.ErrUnknownKeyID) {
		t.Errorf("files only: err %v, want unknown kid", err)
	}
	// Retry-After follows the set that never loaded: its next attempt is
	// a retry (seconds), not the loaded set's hourly refresh.
	if ra := src.RetryAfter(); ra < 1 || ra > 2 {
		t.Errorf("Retry-After %d, want the unloaded set's retry (1-2 s)", ra)
	}
}

// TestKeySourcesKeyInUse is the token cache's rule over several sets: a
// cached token's key must still be what its kid names in some set.
func TestKeySourcesKeyInUse(t *testing.T) {
	s := newTwoSets(t)
	keyA := s.ksA.currentKey("shared")
	keyB := s.ksB.currentKey("shared")
	keyF := s.fileKS.keys["kf"]
	for name, ok := range map[string]bool{
		"a's key under shared": s.src.KeyInUse("shared", keyA),
		"b's key under shared": s.src.KeyInUse("shared", keyB),
		"the file's key":       s.src.KeyInUse("kf", keyF),
		"a's key under k2":     !s.src.KeyInUse("k2", keyA),
		"an equal copy":        !s.src.KeyInUse("k1", &rsa.PublicKey{N: keyA.N, E: keyA.E}),
		"nil":                  !s.src.KeyInUse("k1", nil),
	} {
		if !ok {
			t.Errorf("%s: wrong answer", name)
		}
	}
	// b drops shared: its key is out of use, a's is not.
	s.b.Set(200, tu.JWKS(tu.JWK(t, &tu.RSAKey2.PublicKey, "k2", nil)))
	s.clk.Advance(DefaultMinInterval)
	<-s.ksB.fetch().done
	if s.src.KeyInUse("shared", keyB) || !s.src.KeyInUse("shared", keyA) {
		t.Error("after b dropped shared: b's key still in use, or a's not")
	}
}

// BenchmarkKeySourcesKnownKID: a known kid among three sets is found
// without waiting or allocating.
func BenchmarkKeySourcesKnownKID(b *testing.B) {
	src := &Sources{files: []*keyTable{{keys: map[string]*rsa.PublicKey{"kf": &tu.RSAKey3.PublicKey}}}}
	for i, key := range []*rsa.PublicKey{&tu.RSAKey.PublicKey, &tu.RSAKey2.PublicKey} {
		ks := New(Config{URL: "http://127.0.0.1:1/jwks", Clock: tu.NewClock()}) // never started
		ks.table.Store(&keyTable{keys: map[string]*rsa.PublicKey{[]string{"k1", "k2"}[i]: key}})
		src.fetched = append(src.fetched, ks)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if k, _, err := src.RSAKeys(ctx, "k2"); err != nil || k == nil {
			b.Fatal(err)
		}
	}
}

// awaitInflight waits for the fetch ks has in flight, if any, to end.
func awaitInflight(ks *Set) {
	ks.mu.Lock()
	call := ks.inflight
	ks.mu.Unlock()
	if call != nil {
		<-call.done
	}
}

// TestKeySourcesSlowSetHoldsNobody: a kid that one set's refresh finds is
// answered at once, while another set's refresh still hangs (a dead
// WorkOS environment must not hold up a live one's rotated key).
func TestKeySourcesSlowSetHoldsNobody(t *testing.T) {
	clk := tu.NewClock()
	a := tu.NewJWKSServer(t, tu.JWKS(tu.JWK(t, &tu.RSAKey.PublicKey, "k1", nil)))
	b := tu.NewJWKSServer(t, tu.JWKS(tu.JWK(t, &tu.RSAKey2.PublicKey, "k2", nil)))
	gate := make(chan struct{})
	t.Cleanup(func() { close(gate) }) // runs before the servers close
	ksA := New(Config{URL: a.URL, Refresh: time.Hour, Clock: clk, Client: &http.Client{Timeout: time.Minute}})
	ksA.Start()
	t.Cleanup(func() { ksA.Destruct() })
	awaitSettled(t, ksA)
	ksB := startKeySet(t, b.URL, clk, nil)
	src := &Sources{fetched: []*Set{ksA, ksB}}

	clk.Advance(DefaultMinInterval)
	a.SetGate(gate) // a's refresh hangs until the test ends
	b.Set(200, tu.JWKS(tu.JWK(t, &tu.RSAKey2.PublicKey, "k2", nil), tu.JWK(t, &tu.RSAKey3.PublicKey, "new", nil)))
	key, _, err := src.RSAKeys(context.Background(), "new")
	if err != nil || !key.Equal(&tu.RSAKey3.PublicKey) {
		t.Fatalf("rotated kid in b: %v", err)
	}
	ksA.mu.Lock()
	stillFetching := ksA.inflight != nil
	ksA.mu.Unlock()
	if !stillFetching {
		t.Fatal("the answer waited for a's hanging refresh")
	}
}
