package revocation

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
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
	want := []string{eventKey("2026-01-01", e.ID), Key(e.ID)}
	if keys := store.Keys(); !slices.Equal(keys, want) {
		t.Errorf("storage holds %v, want %v: the marker and the entry", keys, want)
	}
}

// TestAddOnceAtOnce: two deliveries of one event on one instance at the
// same time: the second waits for the first and shares its outcome, so
// exactly one is applied, and a storage failure costs one attempt, not
// one per delivery.
func TestAddOnceAtOnce(t *testing.T) {
	for _, failing := range []bool{false, true} {
		t.Run(map[bool]string{false: "storage up", true: "storage refuses writes"}[failing], func(t *testing.T) {
			store := tu.NewStorage()
			if failing {
				store.FailStore = errors.New("read-only")
			}
			gate := make(chan struct{})
			store.LoadGate, store.Loading = gate, make(chan struct{}, 16)
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
			case <-time.After(10 * time.Second):
				t.Fatal("the second delivery did not wait for the first")
			}
			store.Set(func(s *tu.Storage) { s.LoadGate = nil })
			close(gate)
			applied, failed := 0, 0
			for range 2 {
				r := <-results
				if r.applied {
					applied++
				}
				if r.err != nil {
					failed++
				}
			}
			loadsOfOne := 1 + int(EventMemory/(24*time.Hour)) + 2 // the entry; the marker of each day, tomorrow's too
			switch {
			case !failing && (applied != 1 || failed != 0 || len(store.Keys()) != 2):
				t.Errorf("%d applied, %d failed, storage %v; want 1 applied, and the entry and its marker", applied, failed, store.Keys())
			case failing && (applied != 0 || failed != 2 || store.Loads != loadsOfOne):
				t.Errorf("%d applied, %d failed, %d loads; want both failed after one attempt (%d loads)", applied, failed, store.Loads, loadsOfOne)
			}
		})
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

	// A stored file that does not decode, of an event not remembered,
	// is applied nowhere: ours replaces it.
	broken, _ := FromEvent("event_2", "sub", "user_2", now, now.Add(time.Hour))
	store.Set(func(s *tu.Storage) { s.Data[Key(broken.ID)] = []byte("{not json") })
	fresh := newTestList(t)
	if applied, err := fresh.AddOnce(store, broken, zap.NewNop()); !applied || err != nil {
		t.Fatalf("over a broken file: %v, %v", applied, err)
	}
	if !revokesSub(fresh.List, "user_2") {
		t.Error("not in force after replacing a broken file")
	}
}

// TestAddOnceRemembersEvents: a retried delivery after the entry was
// lifted changes nothing while the event is remembered (EventMemory); the
// markers of days past it and a day's margin are swept at the first
// delivery of a day, and the event then applies anew.
func TestAddOnceRemembersEvents(t *testing.T) {
	store := tu.NewStorage()
	l := newTestList(t)
	now := l.clk.Now()
	e, _ := FromEvent("event_1", "sid", "session_1", now, now.Add(30*24*time.Hour))
	if applied, err := l.AddOnce(store, e, zap.NewNop()); !applied || err != nil {
		t.Fatalf("first delivery: %v, %v", applied, err)
	}
	if _, err := l.Lift(store, e.ID, zap.NewNop()); err != nil {
		t.Fatal(err)
	}
	for _, after := range []time.Duration{time.Minute, 3 * 24 * time.Hour, EventMemory} {
		other := newTestList(t)
		other.clk.Advance(after)
		at := other.clk.Now()
		again, _ := FromEvent("event_1", "sid", "session_1", at, at.Add(time.Hour))
		if applied, err := other.AddOnce(store, again, zap.NewNop()); applied || err != nil {
			t.Errorf("replay %v after a lift: %v, %v; want a duplicate", after, applied, err)
		}
		if other.Count() != 0 {
			t.Errorf("replay %v after a lift put the entry back in force", after)
		}
	}
	if store.Exists(context.Background(), Key(e.ID)) {
		t.Error("a replay stored the lifted entry again")
	}

	// Six days on: the first delivery of the day sweeps the first day's
	// marker (past EventMemory and the margin), and the event is new.
	late := newTestList(t)
	swept := make(chan error, 1)
	late.onEventsSwept = func(err error) { swept <- err }
	late.clk.Advance(EventMemory + sweepMargin + 24*time.Hour)
	at := late.clk.Now()
	other, _ := FromEvent("event_2", "sub", "user_2", at, at.Add(time.Hour))
	if applied, err := late.AddOnce(store, other, zap.NewNop()); !applied || err != nil {
		t.Fatalf("another event: %v, %v", applied, err)
	}
	select {
	case err := <-swept:
		if err != nil {
			t.Fatalf("sweep: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no sweep at the first new event of the day")
	}
	if store.Exists(context.Background(), eventKey(eventDay(now), e.ID)) {
		t.Errorf("the old marker was not swept: %v", store.Keys())
	}
	again, _ := FromEvent("event_1", "sid", "session_1", at, at.Add(time.Hour))
	if applied, err := late.AddOnce(store, again, zap.NewNop()); !applied || err != nil {
		t.Errorf("a delivery after the memory ended: %v, %v; want it applied", applied, err)
	}
}

// TestSweepEvents: only markers of days before EventMemory and the margin
// go, each object and then its day's folder; other keys stay.
func TestSweepEvents(t *testing.T) {
	now := time.Date(2026, 12, 10, 12, 0, 0, 0, time.UTC)
	store := tu.NewStorage()
	ctx := context.Background()
	keep := []string{
		eventsPrefix + "/2026-12-10/aaaaaaaaaaaaaaaa.json",
		eventsPrefix + "/2026-12-05/bbbbbbbbbbbbbbbb.json", // today - 5 days: the margin
		eventsPrefix + "/not-a-day/cccccccccccccccc.json",
		Key("dddddddddddddddd"),
	}
	gone := []string{
		eventsPrefix + "/2026-12-04/eeeeeeeeeeeeeeee.json",
		eventsPrefix + "/2026-11-01/ffffffffffffffff.json",
	}
	for _, k := range append(slices.Clone(keep), gone...) {
		if err := store.Store(ctx, k, []byte("{}")); err != nil {
			t.Fatal(err)
		}
	}
	if err := sweepEvents(ctx, store, now); err != nil {
		t.Fatal(err)
	}
	slices.Sort(keep)
	if got := store.Keys(); !slices.Equal(got, keep) {
		t.Errorf("after the sweep %v, want %v", got, keep)
	}
	if err := sweepEvents(ctx, tu.NewStorage(), now); err != nil {
		t.Errorf("sweeping an empty storage: %v", err)
	}
}

// markerFailingStore fails the writes of event markers while failing is
// set, and takes the rest. If gate is set, a marker write tells storing
// and waits for gate to close first.
type markerFailingStore struct {
	*tu.Storage
	failing       atomic.Bool
	gate, storing chan struct{}
}

func (s *markerFailingStore) Store(ctx context.Context, key string, value []byte) error {
	if strings.HasPrefix(key, eventsPrefix+"/") {
		if s.gate != nil {
			s.storing <- struct{}{}
			<-s.gate
		}
		if s.failing.Load() {
			return errors.New("marker refused")
		}
	}
	return s.Storage.Store(ctx, key, value)
}

// TestAddOnceWithoutAMarker: an event whose marker cannot be written is a
// failure (a 503, so WorkOS retries) though its entry is in force; the
// retry, to the same instance, writes the marker rather than answer from
// memory, and a lift then stays a lift.
func TestAddOnceWithoutAMarker(t *testing.T) {
	store := &markerFailingStore{Storage: tu.NewStorage()}
	store.failing.Store(true)
	l := newTestList(t)
	now := l.clk.Now()
	e, _ := FromEvent("event_1", "sid", "session_1", now, now.Add(time.Hour))
	if _, err := l.AddOnce(store, e, zap.NewNop()); err == nil {
		t.Fatal("an event that could not be remembered was answered as taken")
	}
	if l.Count() != 1 {
		t.Error("the entry is not in force while WorkOS retries")
	}
	store.failing.Store(false)
	if applied, err := l.AddOnce(store, e, zap.NewNop()); applied || err != nil {
		t.Fatalf("retry: %v, %v; want a duplicate", applied, err)
	}
	if !store.Exists(context.Background(), eventKey(eventDay(now), e.ID)) {
		t.Fatalf("the retry did not write the marker: %v", store.Keys())
	}
	if _, err := l.Lift(store, e.ID, zap.NewNop()); err != nil {
		t.Fatal(err)
	}
	if applied, err := l.AddOnce(store, e, zap.NewNop()); applied || err != nil || l.Count() != 0 {
		t.Errorf("replay after the lift: %v, %v, %d in force; want a duplicate and none", applied, err, l.Count())
	}

	// Lifted before any retry could write the marker: the lift writes
	// it, so the retry leaves the lift alone.
	store.failing.Store(true)
	e2, _ := FromEvent("event_2", "sid", "session_2", now, now.Add(time.Hour))
	if _, err := l.AddOnce(store, e2, zap.NewNop()); err == nil {
		t.Fatal("event_2 without a marker was answered as taken")
	}
	store.failing.Store(false)
	if _, err := l.Lift(store, e2.ID, zap.NewNop()); err != nil {
		t.Fatal(err)
	}
	l.mu.Lock()
	left := len(l.unmarked)
	l.mu.Unlock()
	if left != 0 {
		t.Errorf("%d ids still noted as unmarked after the lift", left)
	}
	if applied, err := l.AddOnce(store, e2, zap.NewNop()); applied || err != nil || l.Count() != 0 {
		t.Errorf("retry after the lift: %v, %v, %d in force; want a duplicate and none", applied, err, l.Count())
	}
}

// TestAddOnceWhileTheMarkerIsWritten: a second delivery that comes while
// the first's entry is in force but its marker is still being written
// waits for it, and fails with it: neither tells WorkOS to stop retrying
// before the event is remembered.
func TestAddOnceWhileTheMarkerIsWritten(t *testing.T) {
	store := &markerFailingStore{Storage: tu.NewStorage(), gate: make(chan struct{}), storing: make(chan struct{}, 1)}
	store.failing.Store(true)
	l := newTestList(t)
	waiting := make(chan struct{}, 1)
	l.onAddOnceWait = func() { waiting <- struct{}{} }
	now := l.clk.Now()
	errs := make(chan error, 2)
	deliver := func() {
		e, _ := FromEvent("event_1", "sid", "session_1", now, now.Add(time.Hour))
		_, err := l.AddOnce(store, e, zap.NewNop())
		errs <- err
	}
	go deliver()
	select {
	case <-store.storing:
	case <-time.After(10 * time.Second):
		t.Fatal("the first delivery did not write its marker")
	}
	if l.Count() != 1 {
		t.Fatal("the entry is not in force while the marker is written")
	}
	go deliver()
	select {
	case <-waiting:
	case err := <-errs:
		t.Fatalf("the second delivery answered (%v) while the first was writing the marker", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the second delivery neither waited nor answered")
	}
	close(store.gate)
	for range 2 {
		if err := <-errs; err == nil {
			t.Error("a delivery was answered as taken though its event was not remembered")
		}
	}
}

// TestEventSeen: the days a marker is looked for: today, the four before
// and tomorrow (an instance whose clock passed midnight first), in UTC.
func TestEventSeen(t *testing.T) {
	// 00:59 on the 11th here is 23:59 on the 10th in UTC, whose days
	// the markers are named by.
	now := time.Date(2026, 12, 11, 0, 59, 0, 0, time.FixedZone("UTC+1", 3600))
	for _, tt := range []struct {
		day  string
		seen bool
	}{
		{"2026-12-10", true}, {"2026-12-09", true}, {"2026-12-06", true}, {"2026-12-05", false},
		{"2026-12-11", true}, {"2026-12-12", false},
	} {
		store := tu.NewStorage()
		if err := store.Store(context.Background(), eventKey(tt.day, "0123456789abcdef"), []byte("{}")); err != nil {
			t.Fatal(err)
		}
		if seen, err := eventSeen(context.Background(), store, "0123456789abcdef", now); seen != tt.seen || err != nil {
			t.Errorf("a marker under %s: seen %v, %v; want %v", tt.day, seen, err, tt.seen)
		}
	}
}
