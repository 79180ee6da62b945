package soloauth

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-json-experiment/json"
	"go.uber.org/zap"
)

// The process's revocation list: the index the request path reads, kept
// in step with Caddy's storage, where every instance sharing it finds the
// entries. Each entry is one immutable file, solo_auth/revocations/<id>.json;
// lifting deletes it. A poll lists the folder, loads the files it does not
// know, forgets the entries whose file is gone, and deletes expired files.
// A storage outage keeps what is known.

const (
	revocationPrefix = "solo_auth/revocations"
	// DefaultRevocationPoll is how often storage is read for entries
	// that other instances added or lifted.
	DefaultRevocationPoll = 10 * time.Second
	// minRevocationPoll keeps a fleet from hammering shared storage.
	minRevocationPoll = time.Second
	// revocationStorageTimeout bounds one sync, or one add or lift.
	revocationStorageTimeout = 10 * time.Second
)

// revocationStore is the part of certmagic.Storage (ctx.Storage()) the
// list uses.
type revocationStore interface {
	Store(ctx context.Context, key string, value []byte) error
	Load(ctx context.Context, key string) ([]byte, error)
	Delete(ctx context.Context, key string) error
	List(ctx context.Context, prefix string, recursive bool) ([]string, error)
}

func revocationKey(id string) string { return revocationPrefix + "/" + id + ".json" }

func revocationIDOfKey(key string) (string, bool) {
	id, ok := strings.CutSuffix(path.Base(key), ".json")
	return id, ok && isRevocationID(id)
}

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
	status revocationStatus
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
		_ = l.syncLocked()
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
		l.store, l.status.Poll = nil, ""
		return
	}
	newest := l.users[len(l.users)-1]
	l.store, l.logger = newest.store, newest.logger
	l.status.Poll = l.pollLocked().String()
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

func (l *revocationList) loop(stop, wake chan struct{}) {
	for {
		l.mu.Lock()
		poll := l.pollLocked()
		l.mu.Unlock()
		select {
		case <-stop:
			return
		case <-wake:
		case <-l.clock.After(poll):
			l.mu.Lock()
			if l.stop == stop {
				_ = l.syncLocked()
			}
			l.mu.Unlock()
		}
	}
}

// syncLocked brings the index in step with storage. l.mu is held.
func (l *revocationList) syncLocked() (err error) {
	store := l.store
	if store == nil {
		return nil
	}
	defer func() {
		if l.onSync != nil {
			l.onSync(err)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), revocationStorageTimeout)
	defer cancel()
	keys, err := store.List(ctx, revocationPrefix, false)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return l.failedLocked(fmt.Errorf("listing %s: %w", revocationPrefix, err))
	}
	now := l.clock.Now()
	cur := l.index.Load()
	listed := make(map[string]bool, len(keys))
	var add []*Revocation
	var loadErr error
	for _, key := range keys {
		id, ok := revocationIDOfKey(key)
		if !ok {
			continue // not ours
		}
		listed[id] = true
		e := cur.byID[id]
		if e == nil {
			data, err := store.Load(ctx, key)
			switch {
			case errors.Is(err, fs.ErrNotExist): // lifted meanwhile
				delete(listed, id)
				continue
			case err != nil:
				loadErr = cmpOr(loadErr, fmt.Errorf("loading %s: %w", key, err))
				continue
			}
			if e, err = decodeStoredRevocation(data, id); err != nil {
				l.logger.Warn("revocations: unreadable entry in storage; ignored", zap.String("key", key), zap.Error(err))
				continue
			}
			if e.inForce(now) {
				add = append(add, e)
			}
		}
		if !e.inForce(now) {
			if err := store.Delete(ctx, key); err != nil && !errors.Is(err, fs.ErrNotExist) {
				l.logger.Debug("revocations: could not delete an expired entry", zap.String("key", key), zap.Error(err))
			}
		}
	}
	// Entries whose file is gone were lifted on another instance.
	next := cur.with(add, func(e *Revocation) bool { return !listed[e.ID] || !e.inForce(now) })
	if lifted := len(cur.byID) + len(add) - len(next.byID); len(add) > 0 || lifted > 0 {
		// Per entry at debug: a first sync may find thousands.
		l.logger.Info("revocations: synced with storage", zap.Int("added", len(add)),
			zap.Int("dropped", lifted), zap.Int("known", len(next.byID)))
		for _, e := range add {
			l.logger.Debug("revocation added elsewhere", zap.String("id", e.ID), zap.String("kind", e.Kind()), zap.String("value", e.Value()))
		}
	}
	l.index.Store(next)
	if loadErr != nil {
		return l.failedLocked(loadErr)
	}
	l.status.StorageOK, l.status.LastSync, l.status.LastError = true, now, ""
	return nil
}

// failedLocked records a failed read: the entries known are kept.
func (l *revocationList) failedLocked(err error) error {
	l.status.StorageOK = false
	l.status.LastError, l.status.LastErrorAt = err.Error(), l.clock.Now()
	l.status.Failures++
	revocationReadFailures.Inc()
	l.logger.Error("revocations: storage unreadable; keeping the entries known",
		zap.Int("known", len(l.index.Load().byID)), zap.Error(err))
	return err
}

func decodeStoredRevocation(data []byte, id string) (*Revocation, error) {
	var e Revocation
	if err := json.Unmarshal(data, &e); err != nil {
		return nil, err
	}
	if e.ID != id {
		return nil, fmt.Errorf("id %q in a file named %q", e.ID, id)
	}
	if err := e.checkStored(); err != nil {
		return nil, err
	}
	return &e, nil
}

// errStorage wraps a failure to write an entry: the caller answers 503,
// nothing having changed.
var errStorage = errors.New("storage unavailable")

// errNoRevocation: no entry in force has the id.
var errNoRevocation = errors.New("no such revocation")

// add stores a new entry and puts it in force: in force here when add
// returns, on other instances at their next poll.
func (l *revocationList) add(store revocationStore, e *Revocation, logger *zap.Logger) error {
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
	l.mu.Lock()
	defer l.mu.Unlock()
	cur := l.index.Load()
	e := cur.byID[id]
	if e == nil || !e.inForce(l.clock.Now()) {
		return nil, errNoRevocation
	}
	ctx, cancel := context.WithTimeout(context.Background(), revocationStorageTimeout)
	defer cancel()
	if err := store.Delete(ctx, revocationKey(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: deleting the revocation: %v", errStorage, err)
	}
	l.index.Store(cur.with(nil, func(x *Revocation) bool { return x.ID == id }))
	logger.Info("revocation lifted", zap.String("id", e.ID), zap.String("kind", e.Kind()), zap.String("value", e.Value()))
	return e, nil
}

// snapshot is the entries in force and the storage status.
func (l *revocationList) snapshot() ([]*Revocation, revocationStatus) {
	l.mu.Lock()
	st := l.status
	l.mu.Unlock()
	return l.index.Load().entries(l.clock.Now()), st
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

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}
