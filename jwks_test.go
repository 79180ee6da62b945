package soloauth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// fakeClock is a clock the test moves by hand.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []fakeWaiter
}

type fakeWaiter struct {
	at time.Time
	ch chan time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- c.now
		return ch
	}
	c.waiters = append(c.waiters, fakeWaiter{at: c.now.Add(d), ch: ch})
	return ch
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if !w.at.After(c.now) {
			w.ch <- c.now
		} else {
			kept = append(kept, w)
		}
	}
	c.waiters = kept
}

// jwksServer is a JWKS endpoint on loopback whose answers the test sets.
type jwksServer struct {
	*httptest.Server
	requests atomic.Int64
	mu       sync.Mutex
	status   int
	body     string
	gate     chan struct{} // if set, each request waits for it
}

func newJWKSServer(t *testing.T, body string) *jwksServer {
	s := &jwksServer{status: 200, body: body}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		s.mu.Lock()
		status, body, gate := s.status, s.body, s.gate
		s.mu.Unlock()
		if gate != nil {
			select {
			case <-gate:
			case <-r.Context().Done():
				return
			}
		}
		w.WriteHeader(status)
		w.Write([]byte(body))
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) set(status int, body string) {
	s.mu.Lock()
	s.status, s.body = status, body
	s.mu.Unlock()
}

func (s *jwksServer) setGate(g chan struct{}) {
	s.mu.Lock()
	s.gate = g
	s.mu.Unlock()
}

func jwkJSON(t testing.TB, key any, kid string, extra map[string]any) string {
	t.Helper()
	b, err := json.Marshal(jose.JSONWebKey{Key: key, KeyID: kid})
	if err != nil {
		t.Fatal(err)
	}
	if len(extra) == 0 {
		return string(b)
	}
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	for k, v := range extra {
		m[k] = v
	}
	b, _ = json.Marshal(m)
	return string(b)
}

func jwksOf(keys ...string) string { return `{"keys":[` + strings.Join(keys, ",") + `]}` }

var (
	rsaKey2 = mustRSA(2048)
	rsaKey3 = mustRSA(2048)
)

func mustRSA(bits int) *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		panic(err)
	}
	return k
}

// eventually polls cond in real time; the key set's work runs in its own
// goroutines even when its clock is fake.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestParseJWKS(t *testing.T) {
	good := jwkJSON(t, &testRSAKey.PublicKey, "good", nil)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	small := mustRSA(1024)
	tests := []struct {
		name     string
		body     string
		wantKIDs []string
		wantErr  bool
	}{
		{"one good key", jwksOf(good), []string{"good"}, false},
		{"use and alg and key_ops that allow it", jwksOf(jwkJSON(t, &testRSAKey.PublicKey, "k", map[string]any{"use": "sig", "alg": "RS256", "key_ops": []string{"verify"}})), []string{"k"}, false},
		{"oct key skipped", jwksOf(good, `{"kty":"oct","kid":"sym","k":"c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA"}`), []string{"good"}, false},
		{"EC key skipped", jwksOf(good, jwkJSON(t, &ec.PublicKey, "ec", nil)), []string{"good"}, false},
		{"1024-bit RSA skipped", jwksOf(good, jwkJSON(t, &small.PublicKey, "small", nil)), []string{"good"}, false},
		{"use enc skipped", jwksOf(good, jwkJSON(t, &rsaKey2.PublicKey, "enc", map[string]any{"use": "enc"})), []string{"good"}, false},
		{"alg RS384 skipped", jwksOf(good, jwkJSON(t, &rsaKey2.PublicKey, "rs384", map[string]any{"alg": "RS384"})), []string{"good"}, false},
		{"alg PS256 skipped", jwksOf(good, jwkJSON(t, &rsaKey2.PublicKey, "ps", map[string]any{"alg": "PS256"})), []string{"good"}, false},
		{"key_ops without verify skipped", jwksOf(good, jwkJSON(t, &rsaKey2.PublicKey, "ops", map[string]any{"key_ops": []string{"encrypt"}})), []string{"good"}, false},
		{"private key skipped", jwksOf(good, jwkJSON(t, rsaKey2, "priv", nil)), []string{"good"}, false},
		{"kid on two keys: neither used", jwksOf(good, jwkJSON(t, &rsaKey2.PublicKey, "dup", nil), jwkJSON(t, &rsaKey3.PublicKey, "dup", nil)), []string{"good"}, false},
		{"kid shared with an unusable key: not used", jwksOf(good, jwkJSON(t, &rsaKey2.PublicKey, "dup", nil), `{"kty":"oct","kid":"dup","k":"AAAA"}`), []string{"good"}, false},
		{"no kid skipped", jwksOf(good, jwkJSON(t, &rsaKey2.PublicKey, "", nil)), []string{"good"}, false},
		{"unreadable key skipped", jwksOf(good, `{"kty":"RSA","kid":"bad","n":"!!","e":"AQAB"}`, `{"kty":"nope"}`, `"string"`), []string{"good"}, false},
		{"not JSON", `<html>`, nil, true},
		{"keys not an array", `{"keys":"x"}`, nil, true},
		{"no keys member", `{"key":[]}`, nil, true},
		{"a JSON array", `[]`, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys, _, err := parseJWKS([]byte(tt.body))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err %v, want error %v", err, tt.wantErr)
			}
			if got := strings.Join(sortedKIDs(keys), ","); got != strings.Join(tt.wantKIDs, ",") {
				t.Fatalf("kids %q, want %q", got, tt.wantKIDs)
			}
		})
	}
}

// memStore is an in-memory keyStore.
type memStore struct {
	mu   sync.Mutex
	data map[string][]byte
}

func (m *memStore) Load(_ context.Context, key string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.data[key]
	if !ok {
		return nil, fs.ErrNotExist
	}
	return v, nil
}

func (m *memStore) Store(_ context.Context, key string, value []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.data == nil {
		m.data = map[string][]byte{}
	}
	m.data[key] = value
	return nil
}

func startKeySet(t *testing.T, url string, clk clock, store keyStore) *KeySet {
	t.Helper()
	var ks *KeySet
	cfg := keySetConfig{URL: url, Refresh: time.Hour, Clock: clk, Client: &http.Client{Timeout: 300 * time.Millisecond}}
	if store != nil {
		cfg.Store = store
	}
	ks = newKeySet(cfg)
	ks.start(2 * time.Second)
	t.Cleanup(func() { ks.Destruct() })
	return ks
}

func TestKeySetKnownAndUnknownKID(t *testing.T) {
	srv := newJWKSServer(t, jwksOf(jwkJSON(t, &testRSAKey.PublicKey, "k1", nil)))
	clk := newFakeClock()
	ks := startKeySet(t, srv.URL, clk, nil)
	if srv.requests.Load() != 1 {
		t.Fatalf("%d fetches at start, want 1", srv.requests.Load())
	}
	for range 100 {
		if _, err := ks.RSAKey(context.Background(), "k1"); err != nil {
			t.Fatal(err)
		}
	}
	// Unknown kids right after a fetch: refused at once, no fetch.
	for i := range 100 {
		if _, err := ks.RSAKey(context.Background(), fmt.Sprint("random-", i)); !errors.Is(err, ErrUnknownKeyID) {
			t.Fatalf("err %v", err)
		}
	}
	if n := srv.requests.Load(); n != 1 {
		t.Fatalf("%d fetches, want 1: an unknown kid fetched within 30s of the last fetch", n)
	}
}

// TestKeySetUnknownKIDFlood sends a few hundred random kids at once after
// the rate limit has passed: exactly one fetch, however many callers.
func TestKeySetUnknownKIDFlood(t *testing.T) {
	srv := newJWKSServer(t, jwksOf(jwkJSON(t, &testRSAKey.PublicKey, "k1", nil)))
	clk := newFakeClock()
	ks := startKeySet(t, srv.URL, clk, nil)
	clk.Advance(jwksMinInterval)

	gate := make(chan struct{})
	srv.setGate(gate)
	var wg sync.WaitGroup
	var unknown atomic.Int64
	for i := range 300 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := ks.RSAKey(context.Background(), fmt.Sprint("flood-", i)); errors.Is(err, ErrUnknownKeyID) {
				unknown.Add(1)
			}
		}()
	}
	eventually(t, "the merged fetch to start", func() bool { return srv.requests.Load() == 2 })
	// A known kid does not wait behind the fetch in flight.
	done := make(chan error, 1)
	go func() { _, err := ks.RSAKey(context.Background(), "k1"); done <- err }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("a known kid waited behind a refresh")
	}
	close(gate)
	wg.Wait()
	if n := srv.requests.Load(); n != 2 {
		t.Fatalf("%d fetches, want 2 (start + one merged refresh)", n)
	}
	if unknown.Load() != 300 {
		t.Fatalf("%d of 300 unknown kids refused", unknown.Load())
	}
	// And within 30s of that fetch, more unknown kids cause none.
	clk.Advance(jwksMinInterval - time.Second)
	for i := range 50 {
		ks.RSAKey(context.Background(), fmt.Sprint("again-", i))
	}
	if n := srv.requests.Load(); n != 2 {
		t.Fatalf("%d fetches, want 2", n)
	}
}

func TestKeySetRotationOnDemand(t *testing.T) {
	srv := newJWKSServer(t, jwksOf(jwkJSON(t, &testRSAKey.PublicKey, "k1", nil)))
	clk := newFakeClock()
	ks := startKeySet(t, srv.URL, clk, nil)
	srv.set(200, jwksOf(jwkJSON(t, &rsaKey2.PublicKey, "k2", nil)))
	if _, err := ks.RSAKey(context.Background(), "k2"); !errors.Is(err, ErrUnknownKeyID) {
		t.Fatalf("k2 found before a refresh could run: %v", err)
	}
	clk.Advance(jwksMinInterval)
	key, err := ks.RSAKey(context.Background(), "k2")
	if err != nil || !key.Equal(&rsaKey2.PublicKey) {
		t.Fatalf("k2 after rotation: %v", err)
	}
	if _, err := ks.RSAKey(context.Background(), "k1"); !errors.Is(err, ErrUnknownKeyID) {
		t.Fatalf("k1 still usable after it left the set: %v", err)
	}
}

func TestKeySetFailedRefreshKeepsKeys(t *testing.T) {
	good := jwksOf(jwkJSON(t, &testRSAKey.PublicKey, "k1", nil))
	bad := []struct {
		name   string
		status int
		body   string
		hang   bool
	}{
		{"status 500", 500, good, false},
		{"status 404", 404, good, false},
		{"garbage", 200, "<html>not json</html>", false},
		{"over 1 MiB", 200, `{"keys":[],"pad":"` + strings.Repeat("x", 2<<20) + `"}`, false},
		{"no usable key", 200, jwksOf(`{"kty":"oct","kid":"x","k":"AAAA"}`), false},
		{"hanging", 200, good, true},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			srv := newJWKSServer(t, good)
			clk := newFakeClock()
			ks := startKeySet(t, srv.URL, clk, nil)
			srv.set(tt.status, tt.body)
			if tt.hang {
				gate := make(chan struct{})
				defer close(gate)
				srv.setGate(gate)
			}
			clk.Advance(jwksMinInterval)
			if _, err := ks.RSAKey(context.Background(), "unknown"); !errors.Is(err, ErrUnknownKeyID) {
				t.Fatalf("err %v", err)
			}
			if srv.requests.Load() != 2 {
				t.Fatalf("%d fetches, want 2", srv.requests.Load())
			}
			if _, err := ks.RSAKey(context.Background(), "k1"); err != nil {
				t.Fatalf("last good key lost after a failed refresh: %v", err)
			}
			if st := ks.status(); st.LastError == "" || st.Source != sourceFetch {
				t.Fatalf("status %+v", st)
			}
		})
	}
}

// TestKeySetOutageAtStart: the endpoint is down, so keys are unavailable;
// the background loop retries with backoff and recovers when it is up.
func TestKeySetOutageAtStart(t *testing.T) {
	srv := newJWKSServer(t, "")
	srv.set(503, "down")
	clk := newFakeClock()
	ks := startKeySet(t, srv.URL, clk, nil)
	if _, err := ks.RSAKey(context.Background(), "k1"); !errors.Is(err, ErrKeysUnavailable) {
		t.Fatalf("err %v, want ErrKeysUnavailable", err)
	}
	if ra := ks.RetryAfter(); ra < 1 || ra > 60 {
		t.Fatalf("Retry-After %d", ra)
	}
	// Retries back off: over 10 fake minutes, far fewer attempts than
	// one a second, and at least one a minute.
	for range 600 {
		clk.Advance(time.Second)
		time.Sleep(100 * time.Microsecond)
	}
	eventually(t, "no fetch in flight", func() bool { ks.mu.Lock(); defer ks.mu.Unlock(); return ks.inflight == nil })
	n := srv.requests.Load()
	if n < 10 || n > 40 {
		t.Fatalf("%d fetches in 10 minutes of outage, want backoff to 1/min (10..40)", n)
	}
	srv.set(200, jwksOf(jwkJSON(t, &testRSAKey.PublicKey, "k1", nil)))
	eventually(t, "recovery", func() bool {
		clk.Advance(time.Second)
		_, err := ks.RSAKey(context.Background(), "k1")
		return err == nil
	})
}

func TestRetryDelay(t *testing.T) {
	for failures, want := range map[int]time.Duration{0: time.Second, 1: time.Second, 2: 2 * time.Second, 4: 8 * time.Second, 7: 60 * time.Second, 50: 60 * time.Second} {
		for range 20 {
			d := retryDelay(failures)
			if d < want*8/10 || d > want*12/10 {
				t.Fatalf("retryDelay(%d) = %v, want %v ±20%%", failures, d, want)
			}
		}
	}
}

func TestKeySetScheduledRefresh(t *testing.T) {
	srv := newJWKSServer(t, jwksOf(jwkJSON(t, &testRSAKey.PublicKey, "k1", nil)))
	clk := newFakeClock()
	ks := startKeySet(t, srv.URL, clk, nil)
	srv.set(200, jwksOf(jwkJSON(t, &rsaKey2.PublicKey, "k2", nil)))
	clk.Advance(59 * time.Minute)
	time.Sleep(20 * time.Millisecond)
	if srv.requests.Load() != 1 {
		t.Fatalf("refreshed before jwks_refresh")
	}
	eventually(t, "the scheduled refresh", func() bool {
		clk.Advance(10 * time.Second)
		return ks.status().KIDs[0] == "k2"
	})
}

func TestKeySetSavedAcrossRestart(t *testing.T) {
	store := &memStore{}
	srv := newJWKSServer(t, jwksOf(jwkJSON(t, &testRSAKey.PublicKey, "k1", nil)))
	clk := newFakeClock()
	first := startKeySet(t, srv.URL, clk, store)
	if _, err := first.RSAKey(context.Background(), "k1"); err != nil {
		t.Fatal(err)
	}
	first.Destruct()

	srv.set(500, "outage")
	clk.Advance(6 * 24 * time.Hour)
	second := startKeySet(t, srv.URL, clk, store)
	if _, err := second.RSAKey(context.Background(), "k1"); err != nil {
		t.Fatalf("saved key not used during an outage: %v", err)
	}
	if st := second.status(); st.Source != sourceStorage {
		t.Fatalf("source %q, want storage", st.Source)
	}
	// The saved set is replaced as soon as a fetch succeeds.
	srv.set(200, jwksOf(jwkJSON(t, &rsaKey2.PublicKey, "k2", nil)))
	eventually(t, "a fetch to replace the saved set", func() bool {
		clk.Advance(5 * time.Second)
		return second.status().Source == sourceFetch
	})
	second.Destruct()

	// Older than 7 days: not used.
	srv.set(500, "outage")
	clk.Advance(8 * 24 * time.Hour)
	third := startKeySet(t, srv.URL, clk, store)
	if _, err := third.RSAKey(context.Background(), "k2"); !errors.Is(err, ErrKeysUnavailable) {
		t.Fatalf("a key set saved 8 days ago was used: %v", err)
	}
}

func TestKeySetDestructStopsFetching(t *testing.T) {
	srv := newJWKSServer(t, "")
	srv.set(500, "down")
	clk := newFakeClock()
	ks := startKeySet(t, srv.URL, clk, nil)
	// While down, the loop retries within seconds...
	eventually(t, "a retry", func() bool {
		clk.Advance(time.Second)
		return srv.requests.Load() >= 2
	})
	ks.Destruct()
	// ...and after Destruct never again.
	n := srv.requests.Load()
	for range 120 {
		clk.Advance(time.Second)
	}
	time.Sleep(20 * time.Millisecond)
	if srv.requests.Load() != n {
		t.Fatalf("fetching went on after Destruct")
	}
}

func TestVerifierWithKeySet(t *testing.T) {
	srv := newJWKSServer(t, jwksOf(jwkJSON(t, &testRSAKey.PublicKey, "k1", nil)))
	ks := startKeySet(t, srv.URL, newFakeClock(), nil)
	v := &Verifier{RSAKeys: ks}
	signer, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: testRSAKey},
		(&jose.SignerOptions{}).WithHeader("kid", "k1"))
	jws, _ := signer.Sign([]byte(fmt.Sprintf(`{"sub":"u","exp":%d}`, time.Now().Add(time.Hour).Unix())))
	token, _ := jws.CompactSerialize()
	id, err := v.Verify(token)
	if err != nil || id.TokenType != TokenTypeWorkOS {
		t.Fatalf("id %+v err %v", id, err)
	}
}

// TestKeySetFailedOnDemandFetchIsNotRetriedSooner: an unknown kid's fetch
// that fails must not make the background loop retry within 30 s, or
// random kids could make the set fetch more often than that.
func TestKeySetFailedOnDemandFetchIsNotRetriedSooner(t *testing.T) {
	srv := newJWKSServer(t, jwksOf(jwkJSON(t, &testRSAKey.PublicKey, "k1", nil)))
	clk := newFakeClock()
	ks := startKeySet(t, srv.URL, clk, nil)
	clk.Advance(jwksMinInterval)
	srv.set(500, "trouble")
	ks.RSAKey(context.Background(), "unknown")
	if srv.requests.Load() != 2 {
		t.Fatalf("%d fetches, want 2", srv.requests.Load())
	}
	for range 29 {
		clk.Advance(time.Second)
		ks.RSAKey(context.Background(), fmt.Sprint("more-", clk.Now().Unix()))
		time.Sleep(time.Millisecond)
	}
	if n := srv.requests.Load(); n != 2 {
		t.Fatalf("%d fetches within 30s of a failed on-demand fetch, want 2", n)
	}
	eventually(t, "a retry after 30s", func() bool {
		clk.Advance(time.Second)
		return srv.requests.Load() >= 3
	})
}

// TestKeySetRefreshFollowsItsUsers: the schedule is the shortest
// jwks_refresh of the handlers using the set, and follows them as they go.
func TestKeySetRefreshFollowsItsUsers(t *testing.T) {
	srv := newJWKSServer(t, jwksOf(jwkJSON(t, &testRSAKey.PublicKey, "k1", nil)))
	clk := newFakeClock()
	ks := startKeySet(t, srv.URL, clk, nil) // one user at 1h
	ks.addUser(time.Minute, nil, nil)
	if got := time.Duration(ks.refresh.Load()); got != time.Minute {
		t.Fatalf("refresh %v with users at 1h and 1m", got)
	}
	eventually(t, "a refresh after a minute", func() bool {
		clk.Advance(5 * time.Second)
		return srv.requests.Load() >= 2
	})
	ks.removeUser(time.Minute)
	if got := time.Duration(ks.refresh.Load()); got != time.Hour {
		t.Fatalf("refresh %v after the 1m user left", got)
	}
}

func TestKeySetDestructDuringFetch(t *testing.T) {
	srv := newJWKSServer(t, jwksOf(jwkJSON(t, &testRSAKey.PublicKey, "k1", nil)))
	clk := newFakeClock()
	ks := startKeySet(t, srv.URL, clk, nil)
	gate := make(chan struct{})
	defer close(gate)
	srv.setGate(gate)
	clk.Advance(jwksMinInterval)
	go ks.RSAKey(context.Background(), "unknown") // a fetch that hangs
	eventually(t, "the fetch to start", func() bool { return srv.requests.Load() == 2 })
	done := make(chan struct{})
	go func() { ks.Destruct(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Destruct did not end the fetch in flight")
	}
	if st := ks.status(); st.LastError != "" {
		t.Errorf("a fetch cut short by Destruct was recorded as a failure: %q", st.LastError)
	}
}

// TestKeySetFirstFetchHangs: start-up waits only as long as it is told,
// then uses the saved set.
func TestKeySetFirstFetchHangs(t *testing.T) {
	store := &memStore{}
	srv := newJWKSServer(t, jwksOf(jwkJSON(t, &testRSAKey.PublicKey, "k1", nil)))
	clk := newFakeClock()
	first := startKeySet(t, srv.URL, clk, store)
	first.Destruct()

	gate := make(chan struct{})
	defer close(gate)
	srv.setGate(gate)
	ks := newKeySet(keySetConfig{URL: srv.URL, Refresh: time.Hour, Clock: clk, Store: store})
	t.Cleanup(func() { ks.Destruct() })
	began := time.Now()
	ks.start(200 * time.Millisecond)
	if d := time.Since(began); d > 2*time.Second {
		t.Fatalf("start took %v with a 200ms limit", d)
	}
	if _, err := ks.RSAKey(context.Background(), "k1"); err != nil {
		t.Fatalf("saved set not used while the first fetch hangs: %v", err)
	}
}

// TestKeySetUnchangedKeysKeepTheirObjects: a refresh that changes nothing
// keeps the key objects, so the cache's RS256 entries stay valid.
func TestKeySetUnchangedKeysKeepTheirObjects(t *testing.T) {
	srv := newJWKSServer(t, jwksOf(jwkJSON(t, &testRSAKey.PublicKey, "k1", nil)))
	clk := newFakeClock()
	ks := startKeySet(t, srv.URL, clk, nil)
	before := ks.CurrentKey("k1")
	clk.Advance(jwksMinInterval)
	ks.RSAKey(context.Background(), "unknown") // a refresh
	if ks.CurrentKey("k1") != before {
		t.Fatal("an unchanged key got a new object on refresh")
	}
}

// TestKeySetUnknownKIDWaitEndsWithTheRequest: a client that hangs up
// while its unknown kid waits for a fetch frees its goroutine at once,
// and the fetch goes on for the requests after it.
func TestKeySetUnknownKIDWaitEndsWithTheRequest(t *testing.T) {
	srv := newJWKSServer(t, jwksOf(jwkJSON(t, &testRSAKey.PublicKey, "k1", nil)))
	clk := newFakeClock()
	// A client that waits as long as a real one would.
	ks := newKeySet(keySetConfig{URL: srv.URL, Refresh: time.Hour, Clock: clk, Client: &http.Client{}})
	ks.start(2 * time.Second)
	t.Cleanup(func() { ks.Destruct() })
	gate := make(chan struct{})
	defer close(gate)
	srv.setGate(gate)
	clk.Advance(jwksMinInterval)
	ctx, hangUp := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := ks.RSAKey(ctx, "unknown"); done <- err }()
	eventually(t, "the fetch to start", func() bool { return srv.requests.Load() == 2 })
	hangUp()
	select {
	case err := <-done:
		if !errors.Is(err, ErrUnknownKeyID) {
			t.Fatalf("err %v, want ErrUnknownKeyID", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the wait outlived the request's context")
	}
	if srv.requests.Load() != 2 {
		t.Fatal("hanging up started another fetch")
	}
}
