package soloauth

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-json-experiment/json"
	"go.uber.org/zap"
)

// The process's revocation list: who uses it (the handlers, each asking
// for a poll interval), the lookup the request path makes, and the
// changes the admin API makes. Keeping it in step with storage is
// revocationstore.go.

// revocationList is one per process, shared by every handler and the
// admin API, and survives reloads. The handlers are its users: while it
// has one, a loop polls the newest user's storage every (shortest) poll
// interval.
type revocationList struct {
	index atomic.Pointer[revocationIndex]
	clock clock
	// onSync, if set (tests), is told the result of each sync.
	onSync func(error)

	mu     sync.Mutex // serializes adds, lifts and syncs
	users  []*revocationUser
	store  revocationStore // the newest user's; nil while none
	logger *zap.Logger
	stop   chan struct{} // closed to end the loop; nil while none runs
	wake   chan struct{} // the interval or the storage changed

	statusMu sync.Mutex // apart from mu, so that GET answers during a slow sync
	status   revocationStatus
}

// revocationUser is one handler's use of the list.
type revocationUser struct {
	poll   time.Duration
	store  revocationStore
	logger *zap.Logger
}

// revocationStatus is the storage side's health, for the admin API.
type revocationStatus struct {
	StorageOK   bool      `json:"storage_ok"`
	LastSync    time.Time `json:"last_sync,omitzero"`
	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
	Failures    uint64    `json:"read_failures"`
	Poll        string    `json:"poll,omitempty"` // empty while no handler polls
}

func newRevocationList(clk clock) *revocationList {
	l := &revocationList{clock: clk, logger: zap.NewNop(), status: revocationStatus{StorageOK: true}}
	l.index.Store(newRevocationIndex(nil))
	return l
}

// revocations is the process's list.
var revocations = newRevocationList(realClock{})

// revokes is the request path's lookup: one atomic load and a length
// check while there are no entries; no allocation ever.
func (l *revocationList) revokes(id *Identity) bool {
	if l == nil {
		return false
	}
	x := l.index.Load()
	if len(x.byID) == 0 {
		return false
	}
	return x.revokes(id, l.clock.Now())
}

// acquire adds a handler as a user. The first user, or one with another
// storage (a reload onto a new storage), reads storage at once, so that
// after a restart the entries apply from the first request.
func (l *revocationList) acquire(poll time.Duration, store revocationStore, logger *zap.Logger) *revocationUser {
	u := &revocationUser{poll: poll, store: store, logger: logger}
	l.mu.Lock()
	defer l.mu.Unlock()
	changed := !sameStore(l.store, store)
	l.users = append(l.users, u)
	l.usersChangedLocked()
	if changed {
		_ = l.syncLocked(revocationStartTimeout)
	}
	return u
}

// release undoes acquire; the last user stops the loop. The entries stay
// in memory, to be checked against storage when a user comes back.
func (l *revocationList) release(u *revocationUser) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.users = slices.DeleteFunc(l.users, func(v *revocationUser) bool { return v == u })
	l.usersChangedLocked()
}

func (l *revocationList) usersChangedLocked() {
	if len(l.users) == 0 {
		if l.stop != nil {
			close(l.stop)
			l.stop, l.wake = nil, nil
		}
		l.store = nil
		l.setStatus(func(st *revocationStatus) { st.Poll = "" })
		return
	}
	newest := l.users[len(l.users)-1]
	l.store, l.logger = newest.store, newest.logger
	poll := l.pollLocked().String()
	l.setStatus(func(st *revocationStatus) { st.Poll = poll })
	if l.stop == nil {
		l.stop, l.wake = make(chan struct{}), make(chan struct{}, 1)
		go l.loop(l.stop, l.wake)
		return
	}
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// pollLocked is the shortest interval any user asks for.
func (l *revocationList) pollLocked() time.Duration {
	poll := time.Duration(0)
	for _, u := range l.users {
		p := u.poll
		if p <= 0 {
			p = DefaultRevocationPoll
		}
		if poll == 0 || p < poll {
			poll = p
		}
	}
	return poll
}

// errStorage wraps a failure to write an entry: the caller answers 503,
// nothing having changed.
var errStorage = errors.New("storage unavailable")

// errNoRevocation: no entry in force has the id.
var errNoRevocation = errors.New("no such revocation")

// add stores a new entry and puts it in force: in force here when add
// returns, on other instances at their next poll.
func (l *revocationList) add(store revocationStore, e *Revocation, logger *zap.Logger) error {
	if store == nil {
		return fmt.Errorf("%w: no storage", errStorage)
	}
	data, err := json.Marshal(e)
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), revocationStorageTimeout)
	defer cancel()
	if err := store.Store(ctx, revocationKey(e.ID), data); err != nil {
		return fmt.Errorf("%w: storing the revocation: %v", errStorage, err)
	}
	l.index.Store(l.index.Load().with([]*Revocation{e}, nil))
	logger.Info("revocation added", zap.String("id", e.ID), zap.String("kind", e.Kind()),
		zap.String("value", e.Value()), zap.Time("until", e.Until))
	return nil
}

// lift deletes an entry in force and returns it.
func (l *revocationList) lift(store revocationStore, id string, logger *zap.Logger) (*Revocation, error) {
	if store == nil {
		return nil, fmt.Errorf("%w: no storage", errStorage)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), revocationStorageTimeout)
	defer cancel()
	now := l.clock.Now()
	cur := l.index.Load()
	e := cur.byID[id]
	if e == nil {
		// Made on another instance since this one last polled.
		data, err := store.Load(ctx, revocationKey(id))
		if err == nil {
			e, _ = decodeStoredRevocation(data, id)
		}
	}
	if e == nil || !e.inForce(now) {
		return nil, errNoRevocation
	}
	if err := store.Delete(ctx, revocationKey(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: deleting the revocation: %v", errStorage, err)
	}
	l.index.Store(cur.with(nil, func(x *Revocation) bool { return x.ID == id }))
	logger.Info("revocation lifted", zap.String("id", e.ID), zap.String("kind", e.Kind()), zap.String("value", e.Value()))
	return e, nil
}

// snapshot is the entries in force and the storage status.
func (l *revocationList) snapshot() ([]*Revocation, revocationStatus) {
	l.statusMu.Lock()
	st := l.status
	l.statusMu.Unlock()
	return l.index.Load().entries(l.clock.Now()), st
}

func (l *revocationList) setStatus(f func(*revocationStatus)) {
	l.statusMu.Lock()
	f(&l.status)
	l.statusMu.Unlock()
}

// inForce counts the entries in force, for the gauge.
func (l *revocationList) inForce() int {
	now := l.clock.Now()
	n := 0
	for _, e := range l.index.Load().byID {
		if e.inForce(now) {
			n++
		}
	}
	return n
}

// sameStore compares two storages; a storage type that cannot be compared
// counts as different (a sync too many, never one too few).
func sameStore(a, b revocationStore) (same bool) {
	defer func() {
		if recover() != nil {
			same = false
		}
	}()
	return a == b
}
