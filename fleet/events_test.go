package main

import (
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/solo-one/caddy-solo-auth/internal/revocation"
	tu "github.com/solo-one/caddy-solo-auth/internal/testutil"
)

// TestEventMarkersOnRedis: the webhook's event markers through the real
// Redis storage module: a replay after a lift is a duplicate, and six
// days on, the first delivery of the day sweeps the old day's marker and
// leaves no key of it behind (the module keeps a folder's index as a key
// of its own and does not delete a folder's contents with it).
func TestEventMarkersOnRedis(t *testing.T) {
	redis := startScaleRedis(t)
	store := redis.storage(t)
	clk := tu.NewClock()
	day0 := clk.Now()
	list := revocation.NewList(clk, func() {})
	logger := zap.NewNop()
	event := func(id, sid string) *revocation.Entry {
		now := clk.Now()
		e, err := revocation.FromEvent(id, "sid", sid, now, now.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	first := event("event_r1", "session_r1")
	if applied, err := list.AddOnce(store, first, logger); !applied || err != nil {
		t.Fatalf("first delivery: %v, %v", applied, err)
	}
	if _, err := list.Lift(store, first.ID, logger); err != nil {
		t.Fatal(err)
	}
	if applied, err := list.AddOnce(store, event("event_r1", "session_r1"), logger); applied || err != nil {
		t.Fatalf("replay after the lift: %v, %v; want a duplicate", applied, err)
	}
	oldDay := "caddy/solo_auth/events/" + day0.Format(time.DateOnly)
	if keys := redis.keys(t, oldDay+"*"); len(keys) != 2 {
		t.Fatalf("before the sweep, Redis holds %v: want the marker and its folder's index", keys)
	}

	clk.Advance(6 * 24 * time.Hour)
	if applied, err := list.AddOnce(store, event("event_r2", "session_r2"), logger); !applied || err != nil {
		t.Fatalf("a new event six days on: %v, %v", applied, err)
	}
	// The sweep runs in the background, so that no delivery waits on it.
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		keys := redis.keys(t, oldDay+"*")
		if len(keys) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("15 s after the sweep began, Redis still holds %v", keys)
		}
	}
	if keys := redis.keys(t, "caddy/solo_auth/events/*/*.json"); len(keys) != 1 {
		t.Errorf("markers after the sweep %v, want the new event's", keys)
	}
	if applied, err := list.AddOnce(store, event("event_r1", "session_r1"), logger); !applied || err != nil {
		t.Errorf("the first event after its memory ended: %v, %v; want it applied", applied, err)
	}
}

// keys is Redis's KEYS pattern, one per line.
func (r *scaleRedis) keys(tb testing.TB, pattern string) []string {
	tb.Helper()
	out, err := r.cli("--raw", "KEYS", pattern)
	if err != nil {
		tb.Fatalf("redis-cli KEYS: %v: %s", err, out)
	}
	return strings.Fields(out)
}
