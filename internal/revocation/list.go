package revocation

import (
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/solo-one/caddy-solo-auth/internal/clock"
	"github.com/solo-one/caddy-solo-auth/internal/users"
)

// The process's revocation list: who uses it (the handlers, each asking
// for a poll interval) and the lookup the request path makes. The changes
// the admin API makes are change.go; keeping it in step with storage is
// store.go and sync.go.

// List is one per process, shared by every handler and the
// admin API, and survives reloads. The handlers are its users: while it
// has one, a loop polls the newest user's storage every (shortest) poll
// interval.
type List struct {
	readFailed func() // told of each failed read of storage
	index      atomic.Pointer[index]
	clock      clock.Clock
	// onSync, if set (tests), is told the result of each sync.
	onSync func(error)
	// onAddOnceWait, if set (tests), is told when an AddOnce waits for
	// another of the same id.
	onAddOnceWait func()
	// onEventsSwept, if set (tests), is told the result of each sweep of
	// old event markers.
	onEventsSwept func(error)
	// storageTimer, if set (tests), replaces the wall-clock timer that
	// bounds storage calls.
	storageTimer func(time.Duration) <-chan time.Time

	// mu guards what follows and every change of index. It is never
	// held during a storage call (sync.go).
	mu       sync.Mutex
	users    users.Users[userSettings]
	store    Store // the newest user's; nil while none
	logger   *zap.Logger
	stop     chan struct{} // closed to end the loop; nil while none runs
	wake     chan struct{} // the interval or the storage changed
	loopDone chan struct{} // closed when the loop has ended
	resync   bool          // the storage changed: the loop syncs at once
	running  *syncRun      // the newest sync in flight
	syncs    int           // syncs in flight
	// lifted holds ids lifted here while a sync was in flight, which
	// that sync must not bring back; cleared when none is.
	lifted map[string]bool
	// unlisted holds ids added here that no list of storage has shown
	// yet. A storage whose List lags its writes (eventually consistent,
	// or paginated) may leave a new entry out of a list that succeeds;
	// such an entry stays in force until a list shows it, it is lifted
	// here, or it expires. See mergeLocked.
	unlisted map[string]bool
	// addingOnce holds the AddOnce calls in flight, by id.
	addingOnce map[string]*onceCall
	// eventsSwept is the day (UTC) AddOnce last swept old event markers.
	eventsSwept string
	// unmarked holds the ids of events whose entry is in force here but
	// whose marker could not be written, each with the entry's end.
	unmarked map[string]time.Time
	// unreadable is the files in storage that could not be decoded,
	// each warned of once until it changes.
	unreadable map[string]unreadableEntry

	statusMu sync.Mutex // apart from mu, so that GET answers during a slow sync
	status   Status
}

// userSettings is where a handler's config keeps and logs revocations.
type userSettings struct {
	store  Store
	logger *zap.Logger
}

// User is one handler's use of the list: a handle returned by Acquire,
// given back to Release.
type User = users.User[userSettings]

// Status is the storage side's health, for the admin API.
type Status struct {
	StorageOK   bool      `json:"storage_ok"`
	LastSync    time.Time `json:"last_sync,omitzero"`
	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
	Failures    uint64    `json:"read_failures"`
	Poll        string    `json:"poll,omitempty"` // empty while no handler polls
}

// NewList is an empty list on clk; readFailed, if not nil, is
// told of every failed read of storage (the failures metric).
func NewList(clk clock.Clock, readFailed func()) *List {
	if readFailed == nil {
		readFailed = func() {}
	}
	l := &List{clock: clk, readFailed: readFailed, logger: zap.NewNop(), status: Status{StorageOK: true}}
	l.index.Store(newIndex(nil))
	return l
}

// Revokes is the request path's lookup: one atomic load and a length
// check while there are no entries; no allocation ever.
func (l *List) Revokes(t Token) bool {
	if l == nil {
		return false
	}
	x := l.index.Load()
	if len(x.byID) == 0 {
		return false
	}
	return x.revokes(t, l.clock.Now())
}

// Now is the list's time, by which new entries are dated.
func (l *List) Now() time.Time { return l.clock.Now() }

// Acquire adds a handler as a user. The first user, or one with another
// storage (a reload onto a new storage), reads storage at once, so that
// after a restart the entries apply from the first request. A config
// load waits for that at most revocationStartTimeout, or, once storage has
// listed the folder and is loading the entries, up to
// revocationStorageTimeout (sync.go).
func (l *List) Acquire(poll time.Duration, store Store, logger *zap.Logger) *User {
	l.mu.Lock()
	u := l.users.Add(poll, userSettings{store: store, logger: logger})
	changed := l.usersChangedLocked()
	l.mu.Unlock()
	if changed {
		_ = l.sync(revocationStartTimeout, nil)
	}
	return u
}

// Release undoes Acquire; the last user stops the loop. The entries stay
// in memory, to be checked against storage when a user comes back. If
// the storage in use changes (a reload that failed goes back to the old
// one), the loop syncs with it at once.
func (l *List) Release(u *User) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.users.Remove(u)
	if l.usersChangedLocked() && l.wake != nil {
		l.resync = true
		l.wakeLocked()
	}
}

// usersChangedLocked follows the newest user's storage and the shortest
// interval, starts or stops the loop, and reports whether the storage
// in use changed.
func (l *List) usersChangedLocked() (storeChanged bool) {
	newest, ok := l.users.Newest()
	if !ok {
		if l.stop != nil {
			close(l.stop)
			l.stop, l.wake, l.loopDone = nil, nil, nil
		}
		l.store, l.resync = nil, false
		l.setStatus(func(st *Status) { st.Poll = "" })
		return false
	}
	storeChanged = !sameStore(l.store, newest.store)
	l.store, l.logger = newest.store, newest.logger
	poll := l.pollLocked().String()
	l.setStatus(func(st *Status) { st.Poll = poll })
	if l.stop == nil {
		l.stop, l.wake, l.loopDone = make(chan struct{}), make(chan struct{}, 1), make(chan struct{})
		go l.loop(l.stop, l.wake, l.loopDone)
		return storeChanged
	}
	l.wakeLocked()
	return storeChanged
}

func (l *List) wakeLocked() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// pollLocked is the shortest interval any user asks for.
func (l *List) pollLocked() time.Duration { return l.users.Shortest(defaultPoll) }

// Snapshot is the entries in force and the storage status.
func (l *List) Snapshot() ([]*Entry, Status) {
	l.statusMu.Lock()
	st := l.status
	l.statusMu.Unlock()
	return l.index.Load().entries(l.clock.Now()), st
}

func (l *List) setStatus(f func(*Status)) {
	l.statusMu.Lock()
	f(&l.status)
	l.statusMu.Unlock()
}

// Count is how many entries are in force, for the gauge.
func (l *List) Count() int { return l.index.Load().count(l.clock.Now()) }

// count is how many of the index's entries are in force at now.
func (x *index) count(now time.Time) int {
	n := 0
	for _, e := range x.byID {
		if e.inForce(now) {
			n++
		}
	}
	return n
}

// sameStore reports whether two storages are the same value. A value
// that == would panic on (reflect tells) counts as different, as does a
// new value for the same place (a config load makes a new *FileStorage):
// a sync too many, never one too few.
func sameStore(a, b Store) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return reflect.ValueOf(a).Comparable() && reflect.ValueOf(b).Comparable() && a == b
}
