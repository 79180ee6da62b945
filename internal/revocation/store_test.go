package revocation

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	tu "github.com/solo-one/caddy-solo-auth/internal/testutil"

	"go.uber.org/zap"
)

// TestRevocationFleet: two instances on one storage. An entry added on
// one applies on the other at its next poll; a restart (a new list on the
// same storage) applies it from its first acquire; a lift on one is
// dropped by the other at its next poll.
func TestRevocationFleet(t *testing.T) {
	store := tu.NewStorage()
	a, b := newTestList(t), newTestList(t)
	clk := a.clk
	const poll = 2 * time.Second
	ua := a.Acquire(poll, store, zap.NewNop())
	defer a.Release(ua)
	a.drainSync(t)
	ub := b.Acquire(poll, store, zap.NewNop())
	defer b.Release(ub)
	b.drainSync(t)

	e := mustRevocation(t, `{"sub":"alice"}`, clk.Now())
	if err := a.Add(store, e, zap.NewNop()); err != nil {
		t.Fatal(err)
	}
	if !revokesSub(a.List, "alice") {
		t.Fatal("not in force on the instance that took it")
	}
	if revokesSub(b.List, "alice") {
		t.Fatal("in force on the other instance before its poll")
	}
	if err := b.poll(t, poll); err != nil {
		t.Fatal(err)
	}
	if !revokesSub(b.List, "alice") {
		t.Fatal("not in force on the other instance after its poll")
	}

	restarted := newTestList(t)
	ur := restarted.Acquire(poll, store, zap.NewNop())
	defer restarted.Release(ur)
	restarted.drainSync(t)
	if !revokesSub(restarted.List, "alice") {
		t.Fatal("not in force after a restart")
	}

	if _, err := b.Lift(store, e.ID, zap.NewNop()); err != nil {
		t.Fatal(err)
	}
	if revokesSub(b.List, "alice") {
		t.Fatal("still in force where it was lifted")
	}
	if err := a.poll(t, poll); err != nil {
		t.Fatal(err)
	}
	if revokesSub(a.List, "alice") {
		t.Fatal("still in force on the other instance after its poll")
	}
	if _, err := a.Lift(store, e.ID, zap.NewNop()); !errors.Is(err, ErrNotFound) {
		t.Errorf("lifting it again: %v, want errNoRevocation", err)
	}
}

// TestRevocationOutage: a storage that cannot be listed or read keeps the
// entries known, says so in the status and counts each failure; a new
// entry that cannot be stored changes nothing.
func TestRevocationOutage(t *testing.T) {
	store := tu.NewStorage()
	l := newTestList(t)
	clk := l.clk
	const poll = time.Second
	u := l.Acquire(poll, store, zap.NewNop())
	defer l.Release(u)
	l.drainSync(t)
	e := mustRevocation(t, `{"sub":"alice"}`, clk.Now())
	if err := l.Add(store, e, zap.NewNop()); err != nil {
		t.Fatal(err)
	}

	before := l.readFailures.Load()
	store.Set(func(s *tu.Storage) { s.FailList = errors.New("storage down") })
	if err := l.poll(t, poll); err == nil {
		t.Fatal("the sync did not fail")
	}
	if !revokesSub(l.List, "alice") {
		t.Fatal("an outage forgot an entry")
	}
	entries, st := l.Snapshot()
	if st.StorageOK || !strings.Contains(st.LastError, "storage down") || st.Failures != 1 || len(entries) != 1 {
		t.Errorf("status during the outage: %+v, %d entries", st, len(entries))
	}
	if got := l.readFailures.Load() - before; got != 1 {
		t.Errorf("failures counted: %v, want 1", got)
	}

	// Listing works but reading a new entry fails: it is retried.
	other := newTestList(t)
	other.index.Store(newIndex(nil))
	e2 := mustRevocation(t, `{"sub":"bob"}`, clk.Now())
	if err := other.Add(store, e2, zap.NewNop()); err != nil {
		t.Fatal(err)
	}
	store.Set(func(s *tu.Storage) { s.FailList, s.FailLoad = nil, errors.New("read timeout") })
	if err := l.poll(t, poll); err == nil {
		t.Fatal("the sync did not fail")
	}
	if !revokesSub(l.List, "alice") || revokesSub(l.List, "bob") {
		t.Fatal("after a failed read: want alice known, bob not yet")
	}
	store.Set(func(s *tu.Storage) { s.FailLoad = nil })
	if err := l.poll(t, poll); err != nil {
		t.Fatal(err)
	}
	if !revokesSub(l.List, "bob") {
		t.Fatal("the entry that could not be read was not retried")
	}
	if _, st := l.Snapshot(); !st.StorageOK || st.LastError != "" || st.LastErrorAt.IsZero() || st.Failures != 2 {
		t.Errorf("status after recovery: %+v", st)
	}

	// Storing fails: nothing changes.
	store.Set(func(s *tu.Storage) { s.FailStore = errors.New("read-only") })
	e3 := mustRevocation(t, `{"sub":"carol"}`, clk.Now())
	if err := l.Add(store, e3, zap.NewNop()); !errors.Is(err, errStorage) {
		t.Fatalf("add on a failing storage: %v", err)
	}
	if revokesSub(l.List, "carol") || len(store.Keys()) != 2 {
		t.Fatal("a failed add changed something")
	}
	store.Set(func(s *tu.Storage) { s.FailDelete = errors.New("read-only") })
	if _, err := l.Lift(store, e.ID, zap.NewNop()); !errors.Is(err, errStorage) {
		t.Fatalf("lift on a failing storage: %v", err)
	}
	if !revokesSub(l.List, "alice") {
		t.Fatal("a failed lift changed something")
	}
}

// TestRevocationExpiry: an entry stops applying at its until, at once,
// and the next poll deletes it from storage and memory.
func TestRevocationExpiry(t *testing.T) {
	store := tu.NewStorage()
	l := newTestList(t)
	clk := l.clk
	const poll = 10 * time.Second
	start := clk.Now()
	u := l.Acquire(poll, store, zap.NewNop())
	defer l.Release(u)
	l.drainSync(t)
	tu.AwaitWaiters(t, clk, start.Add(poll), 1) // the loop waits before the clock moves
	short := mustRevocation(t, fmt.Sprintf(`{"sub":"alice","until":%q}`, clk.Now().Add(5*time.Second).Format(time.RFC3339)), clk.Now())
	long := mustRevocation(t, `{"sub":"bob"}`, clk.Now())
	for _, e := range []*Entry{short, long} {
		if err := l.Add(store, e, zap.NewNop()); err != nil {
			t.Fatal(err)
		}
	}
	clk.Advance(5*time.Second - time.Nanosecond)
	if !revokesSub(l.List, "alice") {
		t.Fatal("expired before its until")
	}
	clk.Advance(time.Nanosecond)
	if revokesSub(l.List, "alice") {
		t.Fatal("still in force at its until")
	}
	if entries, _ := l.Snapshot(); !slices.Equal(ids(entries), []string{long.ID}) {
		t.Errorf("listed %v, want only %v", ids(entries), long.ID)
	}
	if _, err := l.Lift(store, short.ID, zap.NewNop()); !errors.Is(err, ErrNotFound) {
		t.Errorf("lifting an expired entry: %v", err)
	}
	if err := l.poll(t, poll-5*time.Second); err != nil {
		t.Fatal(err)
	}
	if got := store.Keys(); !slices.Equal(got, []string{Key(long.ID)}) {
		t.Errorf("storage after the poll: %v", got)
	}
	if _, known := l.index.Load().byID[short.ID]; known {
		t.Error("the expired entry is still in memory")
	}
}

// TestRevocationStoredEntries: what another writer left in storage is
// checked; a bad file is ignored, never applied, and files that are not
// ours are left alone.
func TestRevocationStoredEntries(t *testing.T) {
	clk := tu.NewClock()
	store := tu.NewStorage()
	good := mustRevocation(t, `{"jti":"j1"}`, clk.Now())
	data := fmt.Sprintf(`{"id":%q,"jti":"j1","created":%q,"until":%q}`, good.ID,
		good.Created.Format(time.RFC3339Nano), good.Until.Format(time.RFC3339Nano))
	store.Folders[revocationPrefix] = true
	store.Data[Key(good.ID)] = []byte(data)
	store.Data[Key("00000000000000aa")] = []byte(`{"id":"00000000000000aa","sub":"x","jti":"y","created":"2026-01-01T00:00:00Z","until":"2026-01-02T00:00:00Z"}`)
	store.Data[Key("00000000000000bb")] = []byte(`{"id":"00000000000000cc","sub":"x","created":"2026-01-01T00:00:00Z","until":"2026-01-02T00:00:00Z"}`)
	store.Data[Key("00000000000000dd")] = []byte(`not json`)
	store.Data[revocationPrefix+"/README"] = []byte(`hello`)
	l := newTestList(t)
	u := l.Acquire(0, store, zap.NewNop())
	defer l.Release(u)
	if err := l.drainSync(t); err != nil {
		t.Fatal(err)
	}
	if got := ids(l.index.Load().entries(clk.Now())); !slices.Equal(got, []string{good.ID}) {
		t.Errorf("applied %v, want only %v", got, good.ID)
	}
	if !l.Revokes(&testToken{idSpec: idSpec{sub: "s", jti: "j1"}}) {
		t.Error("the good entry does not apply")
	}
	if len(store.Keys()) != 5 {
		t.Errorf("storage changed: %v", store.Keys())
	}
	if _, st := l.Snapshot(); st.Poll != defaultPoll.String() {
		t.Errorf("poll %q, want the default", st.Poll)
	}
}

// TestRevocationListLagsAWrite: a storage whose List lags its writes
// leaves a new entry out of a list that succeeds. The instance that took
// the entry keeps it in force until a list shows it; once shown, a list
// without it means it was lifted elsewhere. One that a list never showed
// is dropped when its own file is gone (lifted elsewhere), not before.
func TestRevocationListLagsAWrite(t *testing.T) {
	store := tu.NewStorage()
	a, b := newTestList(t), newTestList(t)
	const poll = 2 * time.Second
	ua := a.Acquire(poll, store, zap.NewNop())
	defer a.Release(ua)
	a.drainSync(t)
	ub := b.Acquire(poll, store, zap.NewNop())
	defer b.Release(ub)
	b.drainSync(t)
	lag := func(keys ...string) {
		store.Set(func(s *tu.Storage) {
			s.Unlisted = map[string]bool{}
			for _, k := range keys {
				s.Unlisted[k] = true
			}
		})
	}
	pollBoth := func() {
		t.Helper()
		for _, l := range []*testList{a, b} {
			if err := l.poll(t, poll); err != nil {
				t.Fatal(err)
			}
		}
	}

	// addUnlisted adds sub's entry on a, while the list leaves its file
	// out, and polls both.
	addUnlisted := func(sub string) *Entry {
		t.Helper()
		e := mustRevocation(t, `{"sub":"`+sub+`"}`, a.clk.Now())
		if err := a.Add(store, e, zap.NewNop()); err != nil {
			t.Fatal(err)
		}
		lag(Key(e.ID))
		pollBoth()
		if !revokesSub(a.List, sub) {
			t.Fatalf("%s: the instance that took it dropped it because a lagging list left it out", sub)
		}
		return e
	}
	liftOnB := func(e *Entry) {
		t.Helper()
		if _, err := b.Lift(store, e.ID, zap.NewNop()); err != nil {
			t.Fatal(err)
		}
		pollBoth()
	}

	alice := addUnlisted("alice")
	if revokesSub(b.List, "alice") {
		t.Fatal("the other instance applies an entry no list showed it")
	}
	lag()
	pollBoth()
	if !revokesSub(a.List, "alice") || !revokesSub(b.List, "alice") {
		t.Fatal("not in force on both once the list shows it")
	}
	liftOnB(alice)
	if revokesSub(a.List, "alice") {
		t.Fatal("a lift elsewhere of an entry a list had shown was not applied")
	}

	// Never listed, then lifted on the other instance: its file is gone,
	// so the entry goes too, instead of staying until it expires.
	liftOnB(addUnlisted("bob"))
	if revokesSub(a.List, "bob") {
		t.Fatal("still in force after its file was deleted elsewhere")
	}
	a.mu.Lock()
	left := len(a.unlisted)
	a.mu.Unlock()
	if left != 0 {
		t.Fatalf("%d ids still awaiting a list", left)
	}
}
