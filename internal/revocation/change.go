package revocation

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"github.com/go-json-experiment/json"
	"go.uber.org/zap"
)

// The changes the admin API makes to the list, in storage and here: an
// entry added, an entry lifted. event.go adds the entries an identity
// provider's events make.

// errStorage wraps a failure to write an entry: the caller answers 503,
// nothing having changed.
var errStorage = errors.New("storage unavailable")

// ErrNotFound: no entry in force has the id.
var ErrNotFound = errors.New("no such revocation")

// writeStore is where Add and Lift write: the storage the list polls
// (its newest user's), so that an entry reaches every instance that
// shares it. The caller's storage (the admin API's config's) counts only
// while no handler uses the list. They differ after a reload that
// changed storage and failed: Caddy keeps the failed config's admin
// routes, while the list went back to the live config's storage.
func (l *List) writeStore(fallback Store) Store {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.store != nil {
		return l.store
	}
	return fallback
}

// Add stores a new entry and puts it in force: in force here when Add
// returns, on other instances at their next poll. It writes to the
// storage the list polls, or to store while no handler uses the list
// (writeStore). Storage gets revocationStorageTimeout; on a timeout the
// caller answers 503, and the entry, if storage took it after all,
// applies at the next poll.
func (l *List) Add(store Store, e *Entry, logger *zap.Logger) error {
	store = l.writeStore(store)
	if store == nil {
		return fmt.Errorf("%w: no storage", errStorage)
	}
	return l.add(store, e, logger)
}

// add is Add to a storage writeStore chose already.
func (l *List) add(store Store, e *Entry, logger *zap.Logger) error {
	data, err := json.Marshal(e)
	if err != nil {
		return err
	}
	err = l.bounded(revocationStorageTimeout, func(ctx context.Context) error {
		return store.Store(ctx, Key(e.ID), data)
	})
	if err != nil {
		return fmt.Errorf("%w: storing the revocation: %w", errStorage, err)
	}
	l.mu.Lock()
	l.index.Store(l.index.Load().with([]*Entry{e}, nil))
	l.unlisted = mapSet(l.unlisted, e.ID, true)
	l.mu.Unlock()
	logger.Info("revocation added", zap.String("id", e.ID), zap.String("kind", e.kindName()),
		zap.String("value", e.value()), zap.Time("until", e.Until))
	return nil
}

// Lift deletes an entry in force and returns it: ErrNotFound if
// there is none, errStorage if storage fails or does not answer in time.
// It deletes from the storage the list polls (writeStore), as Add writes.
func (l *List) Lift(store Store, id string, logger *zap.Logger) (*Entry, error) {
	store = l.writeStore(store)
	if store == nil {
		return nil, fmt.Errorf("%w: no storage", errStorage)
	}
	now := l.clock.Now()
	known := l.index.Load().byID[id]
	var e *Entry
	err := l.bounded(revocationStorageTimeout, func(ctx context.Context) error {
		found := known
		if found == nil {
			// Made on another instance since this one last polled.
			data, err := store.Load(ctx, Key(id))
			switch {
			case errors.Is(err, fs.ErrNotExist):
				return ErrNotFound
			case err != nil:
				return fmt.Errorf("%w: loading the revocation: %w", errStorage, err)
			}
			if found, err = decodeStoredRevocation(data, id); err != nil {
				return ErrNotFound // not one this instance would apply
			}
		}
		if !found.inForce(now) {
			return ErrNotFound
		}
		if err := store.Delete(ctx, Key(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%w: deleting the revocation: %w", errStorage, err)
		}
		if found.Event != "" {
			// So that a retry of the event, even one whose first
			// delivery could not remember it, leaves the lift alone.
			// The lift stands without it.
			_ = rememberEvent(ctx, store, found, now)
		}
		e = found
		return nil
	})
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	l.index.Store(l.index.Load().with(nil, func(x *Entry) bool { return x.ID == id }))
	delete(l.unlisted, id)
	delete(l.unmarked, id)
	if l.syncs > 0 {
		l.lifted = mapSet(l.lifted, id, true)
	}
	l.mu.Unlock()
	logger.Info("revocation lifted", zap.String("id", e.ID), zap.String("kind", e.kindName()), zap.String("value", e.value()))
	return e, nil
}
