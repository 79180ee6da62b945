package revocation

import (
	"testing"
	"time"

	tu "github.com/solo-one/caddy-solo-auth/internal/testutil"
	"go.uber.org/zap"
)

// TestFromEvent: one event, one id; the 30-day cap; only sub and sid.
func TestFromEvent(t *testing.T) {
	now := time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)
	a, err := FromEvent("event_1", "sid", "session_1", now, now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	again, _ := FromEvent("event_1", "sid", "session_1", now, now.Add(time.Hour))
	other, _ := FromEvent("event_2", "sid", "session_1", now, now.Add(time.Hour))
	if !IsID(a.ID) || a.ID != again.ID || a.ID == other.ID || a.Event != "event_1" || a.SID != "session_1" {
		t.Errorf("ids %s %s %s, entry %+v", a.ID, again.ID, other.ID, a)
	}
	long, _ := FromEvent("event_3", "sub", "user_1", now, now.Add(90*24*time.Hour))
	if !long.Until.Equal(now.Add(maxTTL)) {
		t.Errorf("until %v, want capped at %v", long.Until, now.Add(maxTTL))
	}
	for _, bad := range []struct{ event, kind, value string }{
		{"", "sub", "user_1"}, {"event_4", "jti", "j"}, {"event_5", "sub", ""},
	} {
		if _, err := FromEvent(bad.event, bad.kind, bad.value, now, now.Add(time.Hour)); err == nil {
			t.Errorf("FromEvent(%q, %q, %q) took it", bad.event, bad.kind, bad.value)
		}
	}
	if err := a.checkStored(); err != nil {
		t.Errorf("an event's entry does not pass the stored-entry check: %v", err)
	}
}

// TestAddOnce: the first delivery stores the entry; a second, here or on
// another instance of the same storage, stores nothing and reports it,
// yet the entry is in force there at once.
func TestAddOnce(t *testing.T) {
	store := tu.NewStorage()
	l, other := newTestList(t), newTestList(t)
	now := l.clk.Now()
	e, err := FromEvent("event_1", "sub", "user_1", now, now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if applied, err := l.AddOnce(store, e, zap.NewNop()); !applied || err != nil {
		t.Fatalf("first delivery: %v, %v", applied, err)
	}
	if applied, err := l.AddOnce(store, e, zap.NewNop()); applied || err != nil {
		t.Fatalf("replay here: %v, %v", applied, err)
	}
	again, _ := FromEvent("event_1", "sub", "user_1", now, now.Add(time.Hour))
	if applied, err := other.AddOnce(store, again, zap.NewNop()); applied || err != nil {
		t.Fatalf("replay on another instance: %v, %v", applied, err)
	}
	if !revokesSub(other.List, "user_1") {
		t.Error("not in force on the instance that took the replay")
	}
	if keys := store.Keys(); len(keys) != 1 {
		t.Errorf("storage holds %v, want the one entry", keys)
	}
}
