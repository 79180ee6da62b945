package revocation

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/solo-one/caddy-solo-auth/internal/clock"
	tu "github.com/solo-one/caddy-solo-auth/internal/testutil"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// addEntries stores n entries through another list, so that l knows of
// them only by reading storage.
func addEntries(t *testing.T, store *tu.Storage, n int) []*Entry {
	t.Helper()
	other := NewList(clock.Real{}, nil)
	var out []*Entry
	for i := range n {
		e := mustRevocation(t, fmt.Sprintf(`{"sub":"user_%d_%d"}`, i, time.Now().UnixNano()), tu.NewClock().Now())
		if err := other.Add(store, e, zap.NewNop()); err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

// TestRevocationPartialList: a List that fails part way with
// fs.ErrNotExist (a file vanished during the walk) is retried once; if
// the retry fails too, nothing known is dropped and what was read is
// added. A folder missing while entries are known drops nothing and is
// a failed read; a missing folder with nothing known is no failure.
func TestRevocationPartialList(t *testing.T) {
	store := tu.NewStorage()
	l := newTestList(t)
	if u := l.Acquire(time.Second, store, zap.NewNop()); u == nil {
		t.Fatal("no user")
	}
	if err := l.drainSync(t); err != nil {
		t.Fatalf("an empty storage (no folder yet): %v", err)
	}
	known := addEntries(t, store, 3)
	if err := l.poll(t, time.Second); err != nil || len(l.index.Load().byID) != 3 {
		t.Fatalf("first poll: %v, %d known", err, len(l.index.Load().byID))
	}

	store.Set(func(s *tu.Storage) { s.PartialList = 1 })
	if err := l.poll(t, time.Second); err != nil {
		t.Fatalf("a list retried once: %v", err)
	}
	if n := len(l.index.Load().byID); n != 3 {
		t.Fatalf("%d known after a retried list, want 3", n)
	}

	fresh := addEntries(t, store, 1)[0]
	store.Set(func(s *tu.Storage) { s.PartialList = 2 })
	if err := l.poll(t, time.Second); err == nil || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a list that fails twice: %v, want a failed read", err)
	}
	x := l.index.Load()
	for _, e := range known {
		if x.byID[e.ID] == nil {
			t.Errorf("entry %s dropped by a failed list", e.ID)
		}
	}
	_ = fresh // the partial list shows all but the last key: fresh may or may not be read

	// The folder vanishes (a shared mount gone?): keep, and say so.
	store.Set(func(s *tu.Storage) { clear(s.Data); clear(s.Folders) })
	if err := l.poll(t, time.Second); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("a missing folder with entries known: %v, want a failed read", err)
	}
	if n := len(l.index.Load().byID); n < 3 {
		t.Fatalf("%d known after the folder vanished, want them kept", n)
	}
}

// gatedTimer lets a test fire the storage bound by hand.
type gatedTimer struct {
	mu   sync.Mutex
	fire chan time.Time
}

func (g *gatedTimer) after(time.Duration) <-chan time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.fire
}

// expire fires every bound taken so far and to come, until reset.
func (g *gatedTimer) expire() {
	g.mu.Lock()
	defer g.mu.Unlock()
	close(g.fire)
}

func (g *gatedTimer) reset() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.fire = make(chan time.Time)
}

// within fails the test unless f returns before the deadline: the
// deadline only catches a hang, nothing waits on it otherwise.
func within(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: still waiting", what)
	}
}

// TestRevocationPollDoesNotBlock: while a poll waits for a storage that
// does not answer, an add (the admin API's POST) completes, applies, and
// is not dropped by that poll's (older) list; a config load onto a
// storage that hangs returns once its bound fires, as does an add whose
// store hangs (a storage error: the admin API's 503).
func TestRevocationPollDoesNotBlock(t *testing.T) {
	store := tu.NewStorage()
	l := newTestList(t)
	timer := &gatedTimer{fire: make(chan time.Time)}
	l.storageTimer = timer.after
	u := l.Acquire(time.Second, store, zap.NewNop())
	defer l.Release(u)
	l.drainSync(t)
	addEntries(t, store, 1)

	gate, listing := make(chan struct{}), make(chan struct{}, 1)
	store.Set(func(s *tu.Storage) { s.ListGate, s.Listing = gate, listing })
	tu.AwaitWaiters(t, l.clk, l.clk.Now().Add(time.Second), 1)
	l.clk.Advance(time.Second)
	<-listing // the poll is in List

	var err error
	within(t, "an add during a blocked poll", func() {
		err = l.Add(store, mustRevocation(t, `{"sub":"mallory"}`, l.clk.Now()), zap.NewNop())
	})
	if err != nil || !revokesSub(l.List, "mallory") {
		t.Fatalf("an add during a blocked poll: %v", err)
	}

	// A reload onto a storage that hangs: acquire returns at its bound.
	hung := tu.NewStorage()
	hungGate := make(chan struct{})
	defer close(hungGate) // it answers only once the test is over
	hung.ListGate = hungGate
	var u2 *User
	acquired := make(chan struct{})
	go func() {
		defer close(acquired)
		u2 = l.Acquire(time.Second, hung, zap.NewNop())
	}()
	select {
	case <-acquired:
		t.Fatal("acquire returned before storage answered or its bound fired")
	default:
	}
	timer.expire()
	within(t, "acquire on a hung storage", func() { <-acquired })
	timer.reset()
	l.Release(u2)

	// Going back to store made the loop start a second sync of it (the
	// first one's wait had timed out with the bound fired for acquire):
	// both lists wait at the gate, the first without mallory's file.
	awaitListing := func() {
		select {
		case <-listing:
		case <-time.After(10 * time.Second):
			t.Fatal("no second list")
		}
	}
	awaitListing()
	close(gate)
	store.Set(func(s *tu.Storage) { s.ListGate = nil })
	for range 2 {
		if err := l.drainSync(t); err != nil {
			t.Fatal(err)
		}
	}
	if !revokesSub(l.List, "mallory") {
		t.Fatal("an older list dropped an entry added during it")
	}

	// Store hangs: the add fails with a storage error at the bound.
	storeGate := make(chan struct{})
	defer close(storeGate)
	store.Set(func(s *tu.Storage) { s.StoreGate = storeGate })
	go timer.expire()
	within(t, "an add on a hung storage", func() {
		err = l.Add(store, mustRevocation(t, `{"sub":"trudy"}`, l.clk.Now()), zap.NewNop())
	})
	if !errors.Is(err, errStorage) || revokesSub(l.List, "trudy") {
		t.Fatalf("an add on a hung storage: %v", err)
	}
}

// TestRevocationResyncOnStoreChange: when the storage in use changes
// back (a reload onto another storage fails, its handlers are released),
// the loop syncs with it at once, without waiting for the poll.
func TestRevocationResyncOnStoreChange(t *testing.T) {
	oldStore, newStore := tu.NewStorage(), tu.NewStorage()
	l := newTestList(t)
	u1 := l.Acquire(time.Hour, oldStore, zap.NewNop())
	defer l.Release(u1)
	l.drainSync(t)
	u2 := l.Acquire(time.Hour, newStore, zap.NewNop())
	l.drainSync(t)
	e := addEntries(t, oldStore, 1)[0]
	l.Release(u2)
	if err := l.drainSync(t); err != nil {
		t.Fatal(err)
	}
	if l.index.Load().byID[e.ID] == nil {
		t.Fatal("the old storage's entry not applied after going back to it")
	}
}

// TestRevocationNoopSync: a poll that finds nothing new and nothing gone
// keeps the index as it is (no rebuild, no garbage).
func TestRevocationNoopSync(t *testing.T) {
	store := tu.NewStorage()
	l := newTestList(t)
	u := l.Acquire(time.Second, store, zap.NewNop())
	defer l.Release(u)
	l.drainSync(t)
	addEntries(t, store, 3)
	if err := l.poll(t, time.Second); err != nil {
		t.Fatal(err)
	}
	before := l.index.Load()
	if err := l.poll(t, time.Second); err != nil {
		t.Fatal(err)
	}
	if l.index.Load() != before {
		t.Fatal("a sync that changed nothing rebuilt the index")
	}
}

// TestRevocationUnreadableWarnsOnce: a file that cannot be decoded is
// warned of once, again when its content changes, and again if it goes
// and comes back broken; once readable it applies.
func TestRevocationUnreadableWarnsOnce(t *testing.T) {
	core, logs := observer.New(zapcore.WarnLevel)
	store := tu.NewStorage()
	l := newTestList(t)
	u := l.Acquire(time.Second, store, zap.New(core))
	defer l.Release(u)
	l.drainSync(t)
	good := addEntries(t, store, 1)[0]
	goodData := store.Data[Key(good.ID)]
	bad := Key("00000000000000dd")
	warnings := func() int {
		return logs.FilterMessageSnippet("unreadable entry").Len()
	}
	store.Set(func(s *tu.Storage) { s.Data[bad] = []byte("not json") })
	for range 3 {
		if err := l.poll(t, time.Second); err != nil {
			t.Fatal(err)
		}
	}
	if n := warnings(); n != 1 {
		t.Fatalf("%d warnings over three polls, want 1", n)
	}
	store.Set(func(s *tu.Storage) { s.Data[bad] = []byte("still not json") })
	for range 2 {
		if err := l.poll(t, time.Second); err != nil {
			t.Fatal(err)
		}
	}
	if n := warnings(); n != 2 {
		t.Fatalf("%d warnings after the file changed, want 2", n)
	}
	store.Set(func(s *tu.Storage) {
		s.Data[bad] = []byte(strings.ReplaceAll(string(goodData), good.ID, "00000000000000dd"))
	})
	if err := l.poll(t, time.Second); err != nil {
		t.Fatal(err)
	}
	if l.index.Load().byID["00000000000000dd"] == nil {
		t.Fatal("the file, readable now, not applied")
	}
	// Gone, then back broken: warned of again.
	store.Set(func(s *tu.Storage) { delete(s.Data, bad) })
	if err := l.poll(t, time.Second); err != nil {
		t.Fatal(err)
	}
	store.Set(func(s *tu.Storage) { s.Data[bad] = []byte("not json") })
	if err := l.poll(t, time.Second); err != nil {
		t.Fatal(err)
	}
	if n := warnings(); n != 3 {
		t.Fatalf("%d warnings after it came back broken, want 3", n)
	}
}

// TestRevocationStartWaitsForLoads: a config load waits for the first
// read of storage at most revocationStartTimeout, so that a hung storage
// cannot hold start-up. A storage that has listed the folder is not hung
// but loading (100,000 entries take Redis about 3 s): the load waits on
// for them, up to the bound of a whole sync, and the instance starts
// with every entry in force.
func TestRevocationStartWaitsForLoads(t *testing.T) {
	store := tu.NewStorage()
	entries := addEntries(t, store, 1)
	gate, loading := make(chan struct{}), make(chan struct{}, 1)
	store.Set(func(s *tu.Storage) { s.LoadGate, s.Loading = gate, loading })
	l := newTestList(t)
	timers := make(chan stepTimer, 4)
	l.storageTimer = func(d time.Duration) <-chan time.Time {
		fire := make(chan time.Time, 1)
		timers <- stepTimer{d, fire}
		return fire
	}
	acquired := make(chan *User)
	go func() { acquired <- l.Acquire(time.Second, store, zap.NewNop()) }()
	<-loading // listed; the one load waits
	next := func(what string) stepTimer {
		t.Helper()
		select {
		case st := <-timers:
			return st
		case <-time.After(10 * time.Second):
			t.Fatalf("no %s wait", what)
			return stepTimer{}
		}
	}
	first := next("first")
	if first.d != revocationStartTimeout {
		t.Fatalf("first wait %v, want %v", first.d, revocationStartTimeout)
	}
	first.fire <- time.Time{}
	second := next("second")
	if want := revocationStorageTimeout - revocationStartTimeout; second.d != want {
		t.Fatalf("second wait %v, want %v", second.d, want)
	}
	select {
	case <-acquired:
		t.Fatal("the config load went on while the entries were still loading")
	default:
	}
	close(gate)
	var u *User
	within(t, "acquire once the loads end", func() { u = <-acquired })
	defer l.Release(u)
	if !revokesSub(l.List, entries[0].Sub) {
		t.Fatal("started without the entry it waited for")
	}
	if _, st := l.Snapshot(); !st.StorageOK || st.Failures != 0 {
		t.Errorf("status %+v: a slow start is not a failed read", st)
	}
}

// stepTimer is one wall-clock bound the list asked for, fired by hand.
type stepTimer struct {
	d    time.Duration
	fire chan time.Time
}
