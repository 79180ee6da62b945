package soloauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/solo-one/caddy-solo-auth/internal/jwt"
	"github.com/solo-one/caddy-solo-auth/internal/keys"
	tu "github.com/solo-one/caddy-solo-auth/internal/testutil"
)

// TestAcquireSharesOneStartupDeadline: ten handlers of one config name
// ten JWKS URLs whose endpoints hang. Provisioning, one handler after
// another as Caddy does it, waits for them no longer than one start-up
// wait in all; the key sets it did not wait for still serve their first
// requests as soon as their endpoints answer, and refuse them with 503
// only at their own start-up deadline.
func TestAcquireSharesOneStartupDeadline(t *testing.T) {
	const n, wait = 10, 3 * time.Second
	clk := tu.NewClock()
	pool := newKeySetPool(clk, wait)
	pool.client = &http.Client{} // no timeout of its own: the endpoints hang
	var (
		servers [n]*tu.JWKSServer
		gates   [n]chan struct{}
		sets    [n]*keys.Set
		users   [n]*keys.User
		errs    [n]error
		done    [n]chan struct{}
	)
	for i := range n {
		servers[i] = tu.NewJWKSServer(t, tu.JWKS(tu.JWK(t, &tu.RSAKey.PublicKey, "k1", nil)))
		gates[i], done[i] = make(chan struct{}), make(chan struct{})
		servers[i].SetGate(gates[i])
	}
	config, unload := context.WithCancel(context.Background())
	t.Cleanup(func() { // before the servers close: they wait for their handlers
		unload()
		for i := range n {
			select {
			case <-gates[i]:
			default:
				close(gates[i])
			}
			if sets[i] != nil {
				pool.release(sets[i], users[i])
			}
		}
	})
	t0 := clk.Now()
	go func() {
		for i := range n {
			sets[i], users[i], errs[i] = pool.acquire(config, nil, servers[i].URL, time.Hour, nil)
			close(done[i])
		}
	}()

	// The first handler waits: its key set's fetch is at the endpoint, and
	// both the handler and the set's own start-up wait for t0+wait.
	tu.Eventually(t, "the first fetch", func() bool { return servers[0].Requests.Load() == 1 })
	tu.AwaitWaiters(t, clk, t0.Add(wait), 2)
	select {
	case <-done[0]:
		t.Fatal("the first acquire returned before the start-up deadline")
	default:
	}
	clk.Advance(wait)
	// Past the deadline, the other nine are acquired without waiting: the
	// clock does not move again, and all ten fetches reach their endpoints.
	for i := range n {
		select {
		case <-done[i]:
		case <-time.After(10 * time.Second):
			t.Fatalf("acquire %d still waits after the config's start-up deadline", i+1)
		}
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
	}
	for i := range n {
		tu.Eventually(t, fmt.Sprint("fetch ", i+1), func() bool { return servers[i].Requests.Load() == 1 })
	}
	if got := clk.Now().Sub(t0); got != wait {
		t.Fatalf("start-up took %v of fake time, want %v", got, wait)
	}
	for i := 1; i < n; i++ {
		select {
		case <-sets[i].Settled():
			t.Fatalf("key set %d settled while its endpoint hangs and its start-up wait runs", i+1)
		default:
		}
	}

	// Set 2's first request waits for its first fetch instead of a 503...
	own := t0.Add(2 * wait) // the start-up deadline of sets 2..10
	res := make(chan error, 1)
	go func() { _, _, err := sets[1].RSAKeys(context.Background(), "k1"); res <- err }()
	tu.AwaitWaiters(t, clk, own, n-1) // nine sets' start-up waits
	// A request waits up to the storage timeout past the deadline, in
	// case the first attempt is settling in that instant.
	grace := own.Add(keys.StorageTimeout)
	tu.AwaitWaiters(t, clk, grace, 1)
	close(gates[1])
	if err := <-res; err != nil {
		t.Fatalf("a request to a key set provisioned after the deadline: %v", err)
	}
	// ...and set 3's, whose endpoint still hangs, gets the 503 at its
	// set's start-up deadline, when the first attempt settles.
	go func() { _, _, err := sets[2].RSAKeys(context.Background(), "k1"); res <- err }()
	tu.AwaitWaiters(t, clk, grace, 2) // and the stale wait of set 2's request
	select {
	case err := <-res:
		t.Fatalf("answered before the set's start-up deadline: %v", err)
	default:
	}
	clk.Advance(wait)
	if err := <-res; !errors.Is(err, jwt.ErrKeysUnavailable) {
		t.Fatalf("err %v, want ErrKeysUnavailable", err)
	}
	awaitSettled(t, sets[2])

	// The config's deadline goes with its context.
	unload()
	tu.Eventually(t, "the deadline to be forgotten", func() bool {
		pool.mu.Lock()
		defer pool.mu.Unlock()
		return len(pool.deadlines) == 0
	})
}

// TestAcquireDeadlinePerConfig: a second config (another context) gets a
// start-up wait of its own; a key set already loaded is not waited for.
func TestAcquireDeadlinePerConfig(t *testing.T) {
	clk := tu.NewClock()
	pool := newKeySetPool(clk, 3*time.Second)
	good := tu.NewJWKSServer(t, tu.JWKS(tu.JWK(t, &tu.RSAKey.PublicKey, "k1", nil)))
	first, unloadFirst := context.WithCancel(context.Background())
	defer unloadFirst()
	ks, u1, err := pool.acquire(first, nil, good.URL, time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.release(ks, u1)
	if !slices.Contains(ks.Status().KIDs, "k1") {
		t.Fatal("acquire returned before a prompt first fetch was in use")
	}
	clk.Advance(time.Minute) // the first config's deadline is long past
	second, unloadSecond := context.WithCancel(context.Background())
	defer unloadSecond()
	hanging := tu.NewJWKSServer(t, "")
	gate := make(chan struct{})
	defer close(gate)
	hanging.SetGate(gate)
	done := make(chan struct{})
	var ks2 *keys.Set
	var u2 *keys.User
	go func() { ks2, u2, _ = pool.acquire(second, nil, hanging.URL, time.Hour, nil); close(done) }()
	tu.AwaitWaiters(t, clk, clk.Now().Add(3*time.Second), 2)
	select {
	case <-done:
		t.Fatal("a new config did not get a start-up wait of its own")
	default:
	}
	clk.Advance(3 * time.Second)
	<-done
	defer pool.release(ks2, u2)
	// A URL in use already: no wait, the same set.
	again, u3, err := pool.acquire(second, nil, good.URL, time.Hour, nil)
	if err != nil || again != ks {
		t.Fatalf("set %p err %v, want the shared %p", again, err, ks)
	}
	pool.release(again, u3)
}
