package keys

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/solo-one/caddy-solo-auth/internal/jwt"
	tu "github.com/solo-one/caddy-solo-auth/internal/testutil"
)

func TestKeySetSavedAcrossRestart(t *testing.T) {
	store := &tu.MemStore{}
	srv := tu.NewJWKSServer(t, tu.JWKS(tu.JWK(t, &tu.RSAKey.PublicKey, "k1", nil)))
	clk := tu.NewClock()
	first := startKeySet(t, srv.URL, clk, store)
	if _, err := first.rsaKey(context.Background(), "k1"); err != nil {
		t.Fatal(err)
	}
	first.Destruct()

	srv.Set(500, "outage")
	clk.Advance(6 * 24 * time.Hour)
	second := startKeySet(t, srv.URL, clk, store)
	if _, err := second.rsaKey(context.Background(), "k1"); err != nil {
		t.Fatalf("saved key not used during an outage: %v", err)
	}
	if st := second.Status(); st.Source != sourceStorage {
		t.Fatalf("source %q, want storage", st.Source)
	}
	// The saved set is replaced as soon as a fetch succeeds.
	srv.Set(200, tu.JWKS(tu.JWK(t, &tu.RSAKey2.PublicKey, "k2", nil)))
	tu.Eventually(t, "a fetch to replace the saved set", func() bool {
		clk.Advance(5 * time.Second)
		return second.Status().Source == sourceFetch
	})
	second.Destruct()

	// Older than 7 days: not used.
	srv.Set(500, "outage")
	clk.Advance(8 * 24 * time.Hour)
	third := startKeySet(t, srv.URL, clk, store)
	if _, err := third.rsaKey(context.Background(), "k2"); !errors.Is(err, jwt.ErrKeysUnavailable) {
		t.Fatalf("a key set saved 8 days ago was used: %v", err)
	}
}

// TestKeySetFirstFetchHangs: while the first fetch hangs, the first
// attempt settles when the start-up wait has passed, with the saved set.
func TestKeySetFirstFetchHangs(t *testing.T) {
	store := &tu.MemStore{}
	srv := tu.NewJWKSServer(t, tu.JWKS(tu.JWK(t, &tu.RSAKey.PublicKey, "k1", nil)))
	clk := tu.NewClock()
	first := startKeySet(t, srv.URL, clk, store)
	first.Destruct()

	gate := make(chan struct{})
	defer close(gate)
	srv.SetGate(gate)
	ks := New(Config{URL: srv.URL, Refresh: time.Hour, Clock: clk, Store: store, StartupWait: 3 * time.Second})
	t.Cleanup(func() { ks.Destruct() })
	deadline := clk.Now().Add(3 * time.Second)
	ks.Start() // returns at once: nothing above waited
	tu.Eventually(t, "the first fetch to reach the endpoint", func() bool { return srv.Requests.Load() == 2 })
	tu.AwaitWaiters(t, clk, deadline, 1)
	select {
	case <-ks.Settled():
		t.Fatal("settled while the first fetch hangs, before the start-up wait passed")
	default:
	}
	clk.Advance(3 * time.Second)
	awaitSettled(t, ks)
	if _, err := ks.rsaKey(context.Background(), "k1"); err != nil {
		t.Fatalf("saved set not used while the first fetch hangs: %v", err)
	}
	if st := ks.Status(); st.Source != sourceStorage {
		t.Fatalf("source %q, want storage", st.Source)
	}
}

// slowStore is a storage module whose reads wait for the test.
type slowStore struct {
	*tu.MemStore
	reading chan struct{} // closed when the first read begins
	release chan struct{} // reads return once it is closed
	once    sync.Once
}

func (s *slowStore) Load(ctx context.Context, key string) ([]byte, error) {
	s.once.Do(func() { close(s.reading) })
	<-s.release
	return s.MemStore.Load(ctx, key)
}

// TestKeySetReadsTheSavedCopyDuringTheFirstFetch: with a storage module
// slower than nothing, the saved copy is read while the first fetch hangs,
// not after the start-up wait, so it is in use when the wait is over and a
// request that comes then is verified instead of getting a 503.
func TestKeySetReadsTheSavedCopyDuringTheFirstFetch(t *testing.T) {
	mem := &tu.MemStore{}
	srv := tu.NewJWKSServer(t, tu.JWKS(tu.JWK(t, &tu.RSAKey.PublicKey, "k1", nil)))
	clk := tu.NewClock()
	startKeySet(t, srv.URL, clk, mem).Destruct() // leaves a saved copy

	gate := make(chan struct{})
	defer close(gate)
	srv.SetGate(gate)
	store := &slowStore{MemStore: mem, reading: make(chan struct{}), release: make(chan struct{})}
	ks := New(Config{URL: srv.URL, Refresh: time.Hour, Clock: clk, Store: store, StartupWait: 3 * time.Second})
	t.Cleanup(func() { ks.Destruct() })
	ks.Start()
	select {
	case <-store.reading:
	case <-time.After(10 * time.Second):
		t.Fatal("the saved copy is not read while the first fetch runs")
	}
	close(store.release) // the read ends while the fetch still hangs
	tu.AwaitWaiters(t, clk, clk.Now().Add(3*time.Second), 1)
	clk.Advance(3 * time.Second) // the start-up wait is over
	if _, err := ks.rsaKey(context.Background(), "k1"); err != nil {
		t.Fatalf("a request at the end of the start-up wait: %v", err)
	}
}
