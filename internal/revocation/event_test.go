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

// TestAddOnceAtOnce: two deliveries of one event on one instance at the
// same time: the second waits for the first, so exactly one is applied.
func TestAddOnceAtOnce(t *testing.T) {
	store := tu.NewStorage()
	gate := make(chan struct{})
	store.LoadGate, store.Loading = gate, make(chan struct{}, 2)
	l := newTestList(t)
	waiting := make(chan struct{}, 1)
	l.onAddOnceWait = func() { waiting <- struct{}{} }
	now := l.clk.Now()
	type result struct {
		applied bool
		err     error
	}
	results := make(chan result, 2)
	deliver := func() {
		e, _ := FromEvent("event_1", "sid", "session_1", now, now.Add(time.Hour))
		applied, err := l.AddOnce(store, e, zap.NewNop())
		results <- result{applied, err}
	}
	go deliver()
	select {
	case <-store.Loading:
	case <-time.After(10 * time.Second):
		t.Fatal("the first delivery did not look in storage")
	}
	go deliver()
	select {
	case <-waiting:
	case <-store.Loading:
		t.Fatal("the second delivery looked in storage while the first was storing")
	case <-time.After(10 * time.Second):
		t.Fatal("the second delivery neither waited nor looked")
	}
	store.Set(func(s *tu.Storage) { s.LoadGate = nil })
	close(gate)
	applied := 0
	for range 2 {
		r := <-results
		if r.err != nil {
			t.Fatal(r.err)
		}
		if r.applied {
			applied++
		}
	}
	if applied != 1 || len(store.Keys()) != 1 {
		t.Errorf("%d applied, storage %v; want 1 and the one entry", applied, store.Keys())
	}
}

// TestAddOnceTakesTheStoredEntry: a replay puts in force what storage
// holds, not what the replay built, and nothing once that has expired;
// a stored entry that does not decode is replaced.
func TestAddOnceTakesTheStoredEntry(t *testing.T) {
	store := tu.NewStorage()
	first, replay := newTestList(t), newTestList(t)
	now := first.clk.Now()
	e, _ := FromEvent("event_1", "sub", "user_1", now, now.Add(time.Hour))
	if applied, err := first.AddOnce(store, e, zap.NewNop()); !applied || err != nil {
		t.Fatalf("first delivery: %v, %v", applied, err)
	}

	// Half an hour on, the replay builds an entry until +1h30.
	replay.clk.Advance(30 * time.Minute)
	later := replay.clk.Now()
	again, _ := FromEvent("event_1", "sub", "user_1", later, later.Add(time.Hour))
	if applied, err := replay.AddOnce(store, again, zap.NewNop()); applied || err != nil {
		t.Fatalf("replay: %v, %v", applied, err)
	}
	entries, _ := replay.Snapshot()
	if len(entries) != 1 || !entries[0].Until.Equal(e.Until) {
		t.Fatalf("replay put %+v in force, want the stored entry until %v", entries, e.Until)
	}

	// Once the stored entry has expired (not yet pruned), a replay on a
	// third instance puts nothing in force.
	late := newTestList(t)
	late.clk.Advance(2 * time.Hour)
	lateNow := late.clk.Now()
	stale, _ := FromEvent("event_1", "sub", "user_1", lateNow, lateNow.Add(time.Hour))
	if applied, err := late.AddOnce(store, stale, zap.NewNop()); applied || err != nil {
		t.Fatalf("late replay: %v, %v", applied, err)
	}
	if revokesSub(late.List, "user_1") || late.Count() != 0 {
		t.Error("a late replay put an expired entry back in force")
	}

	// A stored file that does not decode is applied nowhere: ours
	// replaces it.
	store.Set(func(s *tu.Storage) { s.Data[Key(e.ID)] = []byte("{not json") })
	fresh := newTestList(t)
	if applied, err := fresh.AddOnce(store, e, zap.NewNop()); !applied || err != nil {
		t.Fatalf("over a broken file: %v, %v", applied, err)
	}
	if !revokesSub(fresh.List, "user_1") {
		t.Error("not in force after replacing a broken file")
	}
}
