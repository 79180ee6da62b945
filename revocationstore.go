package soloauth

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
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
	// minRevocationPoll keeps a misconfigured fleet from hammering
	// shared storage; short enough for tests and small fleets.
	minRevocationPoll = 100 * time.Millisecond
	// revocationStorageTimeout bounds one sync, or one add or lift.
	revocationStorageTimeout = 10 * time.Second
	// revocationStartTimeout bounds the sync that a config load waits
	// for, so that a hung storage holds start-up no longer than this.
	revocationStartTimeout = 3 * time.Second
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

// loop polls storage every poll interval until stop is closed; wake
// makes it take a changed interval into account.
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
				_ = l.syncLocked(revocationStorageTimeout)
			}
			l.mu.Unlock()
		}
	}
}

// syncLocked brings the index in step with storage. l.mu is held.
func (l *revocationList) syncLocked(timeout time.Duration) (err error) {
	store := l.store
	if store == nil {
		return nil
	}
	defer func() {
		if l.onSync != nil {
			l.onSync(err)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
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
	l.setStatus(func(st *revocationStatus) { st.StorageOK, st.LastSync, st.LastError = true, now, "" })
	return nil
}

// failedLocked records a failed read: the entries known are kept.
func (l *revocationList) failedLocked(err error) error {
	now := l.clock.Now()
	l.setStatus(func(st *revocationStatus) {
		st.StorageOK, st.LastError, st.LastErrorAt = false, err.Error(), now
		st.Failures++
	})
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

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}
