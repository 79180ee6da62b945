package keys

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/solo-one/caddy-solo-auth/internal/clock"
	"github.com/solo-one/caddy-solo-auth/internal/jwt"
	tu "github.com/solo-one/caddy-solo-auth/internal/testutil"

	"github.com/go-jose/go-jose/v4"
)

func startKeySet(t *testing.T, url string, clk clock.Clock, store Store) *Set {
	t.Helper()
	var ks *Set
	cfg := Config{URL: url, Refresh: time.Hour, Clock: clk, Client: &http.Client{Timeout: 300 * time.Millisecond}}
	if store != nil {
		cfg.Store = store
	}
	ks = New(cfg)
	ks.Start()
	t.Cleanup(func() { ks.Destruct() })
	awaitSettled(t, ks)
	return ks
}

func TestKeySetKnownAndUnknownKID(t *testing.T) {
	srv := tu.NewJWKSServer(t, tu.JWKS(tu.JWK(t, &tu.RSAKey.PublicKey, "k1", nil)))
	clk := tu.NewClock()
	ks := startKeySet(t, srv.URL, clk, nil)
	if srv.Requests.Load() != 1 {
		t.Fatalf("%d fetches at start, want 1", srv.Requests.Load())
	}
	for range 100 {
		if _, err := ks.rsaKey(context.Background(), "k1"); err != nil {
			t.Fatal(err)
		}
	}
	// Unknown kids right after a fetch: refused at once, no fetch.
	for i := range 100 {
		if _, err := ks.rsaKey(context.Background(), fmt.Sprint("random-", i)); !errors.Is(err, jwt.ErrUnknownKeyID) {
			t.Fatalf("err %v", err)
		}
	}
	if n := srv.Requests.Load(); n != 1 {
		t.Fatalf("%d fetches, want 1: an unknown kid fetched within 30s of the last fetch", n)
	}
}

func TestKeySetRotationOnDemand(t *testing.T) {
	srv := tu.NewJWKSServer(t, tu.JWKS(tu.JWK(t, &tu.RSAKey.PublicKey, "k1", nil)))
	clk := tu.NewClock()
	ks := startKeySet(t, srv.URL, clk, nil)
	srv.Set(200, tu.JWKS(tu.JWK(t, &tu.RSAKey2.PublicKey, "k2", nil)))
	if _, err := ks.rsaKey(context.Background(), "k2"); !errors.Is(err, jwt.ErrUnknownKeyID) {
		t.Fatalf("k2 found before a refresh could run: %v", err)
	}
	clk.Advance(DefaultMinInterval)
	key, err := ks.rsaKey(context.Background(), "k2")
	if err != nil || !key.Equal(&tu.RSAKey2.PublicKey) {
		t.Fatalf("k2 after rotation: %v", err)
	}
	if _, err := ks.rsaKey(context.Background(), "k1"); !errors.Is(err, jwt.ErrUnknownKeyID) {
		t.Fatalf("k1 still usable after it left the set: %v", err)
	}
}

func TestKeySetDestructStopsFetching(t *testing.T) {
	srv := tu.NewJWKSServer(t, "")
	srv.Set(500, "down")
	clk := tu.NewClock()
	exactRetries(t)
	ks := startKeySet(t, srv.URL, clk, nil)
	// While down, the loop retries within seconds...
	tu.AwaitWaiters(t, clk, clk.Now().Add(time.Second), 1)
	clk.Advance(time.Second)
	tu.Eventually(t, "a retry", func() bool { return srv.Requests.Load() == 2 })
	// ...and after Destruct, which has joined every goroutine that could
	// fetch, never again.
	ks.Destruct()
	n := srv.Requests.Load()
	for range 120 {
		clk.Advance(time.Second)
		ks.rsaKey(context.Background(), "k1")
	}
	if srv.Requests.Load() != n {
		t.Fatalf("fetching went on after Destruct")
	}
}

func TestVerifierWithKeySet(t *testing.T) {
	srv := tu.NewJWKSServer(t, tu.JWKS(tu.JWK(t, &tu.RSAKey.PublicKey, "k1", nil)))
	ks := startKeySet(t, srv.URL, tu.NewClock(), nil)
	v := &jwt.Verifier{RSAKeys: ks}
	signer, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: tu.RSAKey},
		(&jose.SignerOptions{}).WithHeader("kid", "k1"))
	jws, _ := signer.Sign([]byte(fmt.Sprintf(`{"sub":"u","exp":%d}`, time.Now().Add(time.Hour).Unix())))
	token, _ := jws.CompactSerialize()
	id, err := v.Verify(token)
	if err != nil || id.TokenType != jwt.TokenTypeWorkOS {
		t.Fatalf("id %+v err %v", id, err)
	}
}

// TestKeySetRefreshFollowsItsUsers: the schedule is the shortest
// jwks_refresh of the handlers using the set, and follows them as they go.
func TestKeySetRefreshFollowsItsUsers(t *testing.T) {
	srv := tu.NewJWKSServer(t, tu.JWKS(tu.JWK(t, &tu.RSAKey.PublicKey, "k1", nil)))
	clk := tu.NewClock()
	ks := startKeySet(t, srv.URL, clk, nil) // one user at 1h
	minute := ks.AddUser(time.Minute, nil, nil)
	if got := time.Duration(ks.refresh.Load()); got != time.Minute {
		t.Fatalf("refresh %v with users at 1h and 1m", got)
	}
	tu.Eventually(t, "a refresh after a minute", func() bool {
		clk.Advance(5 * time.Second)
		return srv.Requests.Load() >= 2
	})
	ks.RemoveUser(minute)
	if got := time.Duration(ks.refresh.Load()); got != time.Hour {
		t.Fatalf("refresh %v after the 1m user left", got)
	}
}

func TestKeySetDestructDuringFetch(t *testing.T) {
	srv := tu.NewJWKSServer(t, tu.JWKS(tu.JWK(t, &tu.RSAKey.PublicKey, "k1", nil)))
	clk := tu.NewClock()
	ks := startKeySet(t, srv.URL, clk, nil)
	gate := make(chan struct{})
	defer close(gate)
	srv.SetGate(gate)
	clk.Advance(DefaultMinInterval)
	go ks.rsaKey(context.Background(), "unknown") // a fetch that hangs
	tu.Eventually(t, "the fetch to start", func() bool { return srv.Requests.Load() == 2 })
	done := make(chan struct{})
	go func() { ks.Destruct(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Destruct did not end the fetch in flight")
	}
	if st := ks.Status(); st.LastError != "" {
		t.Errorf("a fetch cut short by Destruct was recorded as a failure: %q", st.LastError)
	}
}

// TestKeySetUnchangedKeysKeepTheirObjects: a refresh that changes nothing
// keeps the key objects, so the cache's RS256 entries stay valid.
func TestKeySetUnchangedKeysKeepTheirObjects(t *testing.T) {
	srv := tu.NewJWKSServer(t, tu.JWKS(tu.JWK(t, &tu.RSAKey.PublicKey, "k1", nil)))
	clk := tu.NewClock()
	ks := startKeySet(t, srv.URL, clk, nil)
	before := ks.currentKey("k1")
	clk.Advance(DefaultMinInterval)
	ks.rsaKey(context.Background(), "unknown") // a refresh
	if ks.currentKey("k1") != before {
		t.Fatal("an unchanged key got a new object on refresh")
	}
}

// TestKeySetUnknownKIDWaitEndsWithTheRequest: a client that hangs up
// while its unknown kid waits for a fetch frees its goroutine at once,
// and the fetch goes on for the requests after it.
func TestKeySetUnknownKIDWaitEndsWithTheRequest(t *testing.T) {
	srv := tu.NewJWKSServer(t, tu.JWKS(tu.JWK(t, &tu.RSAKey.PublicKey, "k1", nil)))
	clk := tu.NewClock()
	// A client that waits as long as a real one would.
	ks := New(Config{URL: srv.URL, Refresh: time.Hour, Clock: clk, Client: &http.Client{}})
	ks.Start()
	t.Cleanup(func() { ks.Destruct() })
	awaitSettled(t, ks)
	gate := make(chan struct{})
	defer close(gate)
	srv.SetGate(gate)
	clk.Advance(DefaultMinInterval)
	ctx, hangUp := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := ks.rsaKey(ctx, "unknown"); done <- err }()
	tu.Eventually(t, "the fetch to start", func() bool { return srv.Requests.Load() == 2 })
	hangUp()
	select {
	case err := <-done:
		if !errors.Is(err, jwt.ErrUnknownKeyID) || !errors.Is(err, context.Canceled) {
			t.Fatalf("err %v, want ErrUnknownKeyID for a cancelled request", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the wait outlived the request's context")
	}
	if srv.Requests.Load() != 2 {
		t.Fatal("hanging up started another fetch")
	}
}

// countingTransport counts the fetches that reach the network.
type countingTransport struct {
	n    atomic.Int64
	next http.RoundTripper
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.next.RoundTrip(r)
}

// TestKeySetNoFetchAfterDestruct: unknown kids of an old config's last
// requests race Destruct. None may start a fetch once destruction has
// begun (a WaitGroup.Add racing Wait, which -race reports and which may
// panic), and none after Destruct has returned.
func TestKeySetNoFetchAfterDestruct(t *testing.T) {
	srv := tu.NewJWKSServer(t, tu.JWKS(tu.JWK(t, &tu.RSAKey.PublicKey, "k1", nil)))
	for round := range 20 {
		transport := &countingTransport{next: http.DefaultTransport}
		// Real time and a 1 ns window: every unknown kid fetches.
		ks := New(Config{URL: srv.URL, Refresh: time.Hour, MinInterval: time.Nanosecond, Client: &http.Client{Transport: transport}})
		ks.Start()
		awaitSettled(t, ks)
		var wg sync.WaitGroup
		stop := make(chan struct{})
		for g := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					ks.rsaKey(context.Background(), fmt.Sprint("unknown-", round, g, i))
				}
			}()
		}
		tu.Eventually(t, "unknown kids to fetch", func() bool { return transport.n.Load() > 3 })
		ks.Destruct()
		after := transport.n.Load()
		for i := range 20 {
			ks.rsaKey(context.Background(), fmt.Sprint("late-", i))
		}
		close(stop)
		wg.Wait()
		if n := transport.n.Load(); n != after {
			t.Fatalf("round %d: %d fetches after Destruct returned", round, n-after)
		}
	}
}
