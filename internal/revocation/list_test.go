package revocation

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	tu "github.com/solo-one/caddy-solo-auth/internal/testutil"

	"go.uber.org/zap"

	"github.com/solo-one/caddy-solo-auth/internal/clock"
)

// TestRevocationPollInterval: the shortest interval asked for is used;
// the last release ends the loop (it closes loopDone on its way out).
func TestRevocationPollInterval(t *testing.T) {
	store := tu.NewStorage()
	l := newTestList(t)
	u1 := l.Acquire(20*time.Second, store, zap.NewNop())
	l.drainSync(t)
	u2 := l.Acquire(3*time.Second, store, zap.NewNop())
	if err := l.poll(t, 3*time.Second); err != nil {
		t.Fatal(err)
	}
	l.Release(u2)
	if _, st := l.Snapshot(); st.Poll != "20s" {
		t.Errorf("poll %q after the short one left, want 20s", st.Poll)
	}
	if err := l.poll(t, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	l.mu.Lock()
	loopDone := l.loopDone
	l.mu.Unlock()
	l.Release(u1)
	select {
	case <-loopDone:
	case <-time.After(10 * time.Second):
		t.Fatal("the loop still runs after the last release")
	}
	l.drainPending()
	l.clk.Advance(time.Hour)
	select {
	case err := <-l.synced:
		t.Fatalf("a sync after the last release: %v", err)
	default:
	}
}

// TestRevocationConcurrency: adds, lifts, syncs and lookups at once, for
// the race detector.
func TestRevocationConcurrency(t *testing.T) {
	store := tu.NewStorage()
	l := NewList(clock.Real{}, nil)
	u := l.Acquire(time.Second, store, zap.NewNop())
	defer l.Release(u)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := range 50 {
				e := mustRevocation(t, fmt.Sprintf(`{"sub":"user_%d_%d"}`, w, i), time.Now())
				if err := l.Add(store, e, zap.NewNop()); err != nil {
					t.Error(err)
					return
				}
				if i%2 == 0 {
					if _, err := l.Lift(store, e.ID, zap.NewNop()); err != nil {
						t.Error(err)
					}
				}
				if i%10 == 0 {
					_ = l.sync(revocationStorageTimeout, nil)
				}
			}
		}()
		go func() {
			defer wg.Done()
			id := &testToken{idSpec: idSpec{sub: fmt.Sprintf("user_%d_1", w), jti: "j"}}
			for range 2000 {
				l.Revokes(id)
				l.Snapshot()
			}
		}()
	}
	wg.Wait()
	if entries, _ := l.Snapshot(); len(entries) != 4*25 {
		t.Errorf("%d entries in force, want %d", len(entries), 4*25)
	}
	for w := range 4 {
		if !revokesSub(l, fmt.Sprintf("user_%d_1", w)) || revokesSub(l, fmt.Sprintf("user_%d_0", w)) {
			t.Errorf("worker %d: wrong entries in force", w)
		}
	}
}

// TestRevocationLiftBeforePoll: an entry made on another instance can be
// lifted here before this instance has polled it; without a storage (a
// config-less context) adds and lifts fail as storage errors.
func TestRevocationLiftBeforePoll(t *testing.T) {
	store := tu.NewStorage()
	a, b := NewList(clock.Real{}, nil), NewList(clock.Real{}, nil)
	e := mustRevocation(t, `{"jti":"j1"}`, time.Now())
	if err := a.Add(store, e, zap.NewNop()); err != nil {
		t.Fatal(err)
	}
	lifted, err := b.Lift(store, e.ID, zap.NewNop())
	if err != nil || lifted.ID != e.ID || lifted.JTI != "j1" {
		t.Fatalf("lift on the other instance: %+v, %v", lifted, err)
	}
	if len(store.Keys()) != 0 {
		t.Errorf("storage still holds %v", store.Keys())
	}
	if _, err := b.Lift(store, e.ID, zap.NewNop()); !errors.Is(err, ErrNotFound) {
		t.Errorf("second lift: %v", err)
	}
	if err := b.Add(nil, mustRevocation(t, `{"sub":"x"}`, time.Now()), zap.NewNop()); !errors.Is(err, errStorage) {
		t.Errorf("add without storage: %v", err)
	}
	if _, err := b.Lift(nil, e.ID, zap.NewNop()); !errors.Is(err, errStorage) {
		t.Errorf("lift without storage: %v", err)
	}
}

// TestRevocationWritesWhereTheListPolls: the admin API hands Add and Lift
// its own config's storage. After a reload that changed storage and
// failed, that is the failed config's, which nobody polls; the list went
// back to the live config's. Writes go where the list polls, and to the
// caller's storage only while no handler uses the list.
func TestRevocationWritesWhereTheListPolls(t *testing.T) {
	live, failed := tu.NewStorage(), tu.NewStorage()
	l := newTestList(t)
	e := mustRevocation(t, `{"sub":"alice"}`, l.clk.Now())
	u := l.Acquire(time.Second, live, zap.NewNop())
	l.drainSync(t)
	if err := l.Add(failed, e, zap.NewNop()); err != nil {
		t.Fatal(err)
	}
	if got := live.Keys(); len(got) != 1 || got[0] != Key(e.ID) {
		t.Fatalf("live storage holds %v, want the entry", got)
	}
	if got := failed.Keys(); len(got) != 0 {
		t.Fatalf("the failed config's storage holds %v", got)
	}
	if _, err := l.Lift(failed, e.ID, zap.NewNop()); err != nil {
		t.Fatal(err)
	}
	if got := live.Keys(); len(got) != 0 {
		t.Fatalf("live storage still holds %v after the lift", got)
	}

	l.Release(u)
	bob := mustRevocation(t, `{"sub":"bob"}`, l.clk.Now())
	if err := l.Add(failed, bob, zap.NewNop()); err != nil {
		t.Fatal(err)
	}
	if got := failed.Keys(); len(got) != 1 {
		t.Fatalf("with no handler, the caller's storage holds %v, want the entry", got)
	}
}
