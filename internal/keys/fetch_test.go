package keys

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/solo-one/caddy-solo-auth/internal/jwt"
	tu "github.com/solo-one/caddy-solo-auth/internal/testutil"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// TestKeySetUnknownKIDFlood sends a few hundred random kids at once after
// the rate limit has passed: exactly one fetch, however many callers.
func TestKeySetUnknownKIDFlood(t *testing.T) {
	srv := tu.NewJWKSServer(t, tu.JWKS(tu.JWK(t, &tu.RSAKey.PublicKey, "k1", nil)))
	clk := tu.NewClock()
	ks := startKeySet(t, srv.URL, clk, nil)
	clk.Advance(DefaultMinInterval)

	gate := make(chan struct{})
	srv.SetGate(gate)
	var wg sync.WaitGroup
	var unknown atomic.Int64
	for i := range 300 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := ks.rsaKey(context.Background(), fmt.Sprint("flood-", i)); errors.Is(err, jwt.ErrUnknownKeyID) {
				unknown.Add(1)
			}
		}()
	}
	tu.Eventually(t, "the merged fetch to start", func() bool { return srv.Requests.Load() == 2 })
	// A known kid does not wait behind the fetch in flight.
	done := make(chan error, 1)
	go func() { _, err := ks.rsaKey(context.Background(), "k1"); done <- err }()
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
	if n := srv.Requests.Load(); n != 2 {
		t.Fatalf("%d fetches, want 2 (start + one merged refresh)", n)
	}
	if unknown.Load() != 300 {
		t.Fatalf("%d of 300 unknown kids refused", unknown.Load())
	}
	// And within 30s of that fetch, more unknown kids cause none.
	clk.Advance(DefaultMinInterval - time.Second)
	for i := range 50 {
		ks.rsaKey(context.Background(), fmt.Sprint("again-", i))
	}
	if n := srv.Requests.Load(); n != 2 {
		t.Fatalf("%d fetches, want 2", n)
	}
}

func TestKeySetFailedRefreshKeepsKeys(t *testing.T) {
	good := tu.JWKS(tu.JWK(t, &tu.RSAKey.PublicKey, "k1", nil))
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
		{"no usable key", 200, tu.JWKS(`{"kty":"oct","kid":"x","k":"AAAA"}`), false},
		{"hanging", 200, good, true},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			srv := tu.NewJWKSServer(t, good)
			clk := tu.NewClock()
			ks := startKeySet(t, srv.URL, clk, nil)
			srv.Set(tt.status, tt.body)
			if tt.hang {
				gate := make(chan struct{})
				defer close(gate)
				srv.SetGate(gate)
			}
			clk.Advance(DefaultMinInterval)
			if _, err := ks.rsaKey(context.Background(), "unknown"); !errors.Is(err, jwt.ErrUnknownKeyID) {
				t.Fatalf("err %v", err)
			}
			if srv.Requests.Load() != 2 {
				t.Fatalf("%d fetches, want 2", srv.Requests.Load())
			}
			if _, err := ks.rsaKey(context.Background(), "k1"); err != nil {
				t.Fatalf("last good key lost after a failed refresh: %v", err)
			}
			if st := ks.Status(); st.LastError == "" || st.Source != sourceFetch {
				t.Fatalf("status %+v", st)
			}
		})
	}
}

// exactRetries takes the jitter out of retry delays for one test, so that
// it can check the schedule to the nanosecond.
func exactRetries(t *testing.T) {
	old := retryJitter
	retryJitter = func() float64 { return 1 }
	t.Cleanup(func() { retryJitter = old })
}

// TestKeySetOutageAtStart: the endpoint is down, so keys are unavailable;
// the background loop retries after 1, 2, 4 ... 60, 60 s, and recovers at
// the first retry that finds the endpoint up. The clock moves only once
// the loop waits for the very delay the schedule says.
func TestKeySetOutageAtStart(t *testing.T) {
	exactRetries(t)
	srv := tu.NewJWKSServer(t, "")
	srv.Set(503, "down")
	clk := tu.NewClock()
	// A start-up wait off the schedule's grid, so that its waiter is not
	// taken for the loop's.
	ks := New(Config{URL: srv.URL, Refresh: time.Hour, Clock: clk, StartupWait: 7*time.Hour + time.Millisecond})
	ks.Start()
	t.Cleanup(func() { ks.Destruct() })
	awaitSettled(t, ks)
	if _, err := ks.rsaKey(context.Background(), "k1"); !errors.Is(err, jwt.ErrKeysUnavailable) {
		t.Fatalf("err %v, want ErrKeysUnavailable", err)
	}
	for i, secs := range []int{1, 2, 4, 8, 16, 32, 60, 60, 60} {
		d := time.Duration(secs) * time.Second
		tu.AwaitWaiters(t, clk, clk.Now().Add(d), 1)
		if ra := ks.retryAfter(); ra != secs {
			t.Fatalf("retry %d: Retry-After %d, want %d", i+1, ra, secs)
		}
		if n := srv.Requests.Load(); n != int64(i+1) {
			t.Fatalf("retry %d: %d fetches before it is due", i+1, n)
		}
		clk.Advance(d)
		tu.Eventually(t, fmt.Sprint("retry ", i+1), func() bool { return srv.Requests.Load() == int64(i+2) })
	}
	srv.Set(200, tu.JWKS(tu.JWK(t, &tu.RSAKey.PublicKey, "k1", nil)))
	tu.AwaitWaiters(t, clk, clk.Now().Add(time.Minute), 1)
	clk.Advance(time.Minute)
	tu.Eventually(t, "recovery", func() bool { return ks.currentKey("k1") != nil })
	// Back on the refresh schedule.
	tu.AwaitWaiters(t, clk, clk.Now().Add(time.Hour), 1)
	if _, err := ks.rsaKey(context.Background(), "k1"); err != nil {
		t.Fatal(err)
	}
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
	srv := tu.NewJWKSServer(t, tu.JWKS(tu.JWK(t, &tu.RSAKey.PublicKey, "k1", nil)))
	clk := tu.NewClock()
	ks := startKeySet(t, srv.URL, clk, nil)
	srv.Set(200, tu.JWKS(tu.JWK(t, &tu.RSAKey2.PublicKey, "k2", nil)))
	// The loop waits exactly jwks_refresh from the fetch...
	tu.AwaitWaiters(t, clk, ks.Status().LastFetch.Add(time.Hour), 1)
	clk.Advance(59 * time.Minute)
	if srv.Requests.Load() != 1 {
		t.Fatalf("refreshed before jwks_refresh")
	}
	// ...and then refreshes.
	clk.Advance(time.Minute)
	tu.Eventually(t, "the scheduled refresh", func() bool { return ks.currentKey("k2") != nil })
}

// TestKeySetFailedOnDemandFetchIsNotRetriedSooner: an unknown kid's fetch
// that fails must not make the background loop retry within 30 s, or
// random kids could make the set fetch more often than that.
func TestKeySetFailedOnDemandFetchIsNotRetriedSooner(t *testing.T) {
	srv := tu.NewJWKSServer(t, tu.JWKS(tu.JWK(t, &tu.RSAKey.PublicKey, "k1", nil)))
	clk := tu.NewClock()
	ks := startKeySet(t, srv.URL, clk, nil)
	clk.Advance(DefaultMinInterval)
	srv.Set(500, "trouble")
	ks.rsaKey(context.Background(), "unknown")
	if srv.Requests.Load() != 2 {
		t.Fatalf("%d fetches, want 2", srv.Requests.Load())
	}
	// The loop has seen the failure and waits 30 s from it, not 1 s.
	tu.AwaitWaiters(t, clk, clk.Now().Add(DefaultMinInterval), 1)
	for range 29 {
		clk.Advance(time.Second)
		ks.rsaKey(context.Background(), fmt.Sprint("more-", clk.Now().Unix()))
	}
	if n := srv.Requests.Load(); n != 2 {
		t.Fatalf("%d fetches within 30s of a failed on-demand fetch, want 2", n)
	}
	clk.Advance(time.Second)
	tu.Eventually(t, "a retry after 30s", func() bool { return srv.Requests.Load() == 3 })
}

// TestKeySetFetchesThatEndUnheardStillCount: fetches can end while the
// background loop is busy elsewhere, and their wake-ups merge into one
// (the channel holds one). The loop schedules from what the fetches did,
// not from how many wake-ups it heard: two failures before the loop looks
// mean a 2 s retry, not the 1 s of a first failure. (Counting wake-ups
// once made an unknown kid's failed fetch look like none, and the loop
// then slept until the scheduled refresh.)
func TestKeySetFetchesThatEndUnheardStillCount(t *testing.T) {
	exactRetries(t)
	srv := tu.NewJWKSServer(t, tu.JWKS(tu.JWK(t, &tu.RSAKey.PublicKey, "k1", nil)))
	srv.Set(500, "trouble")
	clk := tu.NewClock()
	ks := New(Config{URL: srv.URL, Refresh: time.Hour, Clock: clk})
	t.Cleanup(func() { ks.Destruct() })
	for range 2 {
		<-ks.fetch().done
	}
	if len(ks.wake) != 1 {
		t.Fatalf("%d wake-ups pending, want the two merged into 1", len(ks.wake))
	}
	ks.started.Store(true)
	go ks.run(nil)
	tu.AwaitWaiters(t, clk, clk.Now().Add(2*time.Second), 1)
	if n := clk.PendingAt(clk.Now().Add(time.Second)); n != 0 {
		t.Fatalf("%d waits of 1 s: the loop counted one failure, not two", n)
	}
}

// TestKeySetRedirectIsAFailedFetch: a JWKS endpoint that redirects, even
// to a server with a good key set, has failed: the client never asks the
// target, and the log and the status show the Location without its
// credentials.
func TestKeySetRedirectIsAFailedFetch(t *testing.T) {
	for _, status := range []int{301, 302, 303, 307, 308} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			target := tu.NewJWKSServer(t, tu.JWKS(tu.JWK(t, &tu.RSAKey.PublicKey, "k1", nil)))
			location := "http://user:pa55@" + target.Listener.Addr().String() + "/jwks?token=s3cr3t"
			redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, location, status)
			}))
			t.Cleanup(redirector.Close)
			core, logs := observer.New(zapcore.WarnLevel)
			ks := New(Config{URL: redirector.URL, Refresh: time.Hour, Clock: tu.NewClock(), Logger: zap.New(core)})
			ks.Start()
			t.Cleanup(func() { ks.Destruct() })
			awaitSettled(t, ks)

			if n := target.Requests.Load(); n != 0 {
				t.Fatalf("the redirect was followed (%d requests at its target)", n)
			}
			if _, err := ks.rsaKey(context.Background(), "k1"); !errors.Is(err, jwt.ErrKeysUnavailable) {
				t.Fatalf("err %v, want ErrKeysUnavailable", err)
			}
			wantLocation := "http://xxxxx@" + target.Listener.Addr().String() + "/jwks?xxxxx"
			st := ks.Status()
			if !strings.Contains(st.LastError, wantLocation) || !strings.Contains(st.LastError, "redirect") {
				t.Fatalf("last error %q, want the redirect and %s", st.LastError, wantLocation)
			}
			failed := logs.FilterMessageSnippet("fetch failed").All()
			if len(failed) != 1 || !strings.Contains(failed[0].ContextMap()["error"].(string), wantLocation) {
				t.Fatalf("log %+v, want one failed fetch naming %s", failed, wantLocation)
			}
			for _, e := range logs.All() {
				if s := fmt.Sprint(e.ContextMap()); strings.Contains(s, "pa55") || strings.Contains(s, "s3cr3t") {
					t.Fatalf("a credential was logged: %s", s)
				}
			}
		})
	}
}
