package revocation

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"go.uber.org/zap"
)

// Keeping the revocation list in step with storage: the poll loop, a
// sync (read storage without a lock, then merge into the newest index
// under l.mu), and the bound on every storage call. Storage may hang
// (certmagic's FileStorage ignores ctx), so no caller waits for it
// beyond a timeout, and l.mu is never held during a storage call: an
// add, a lift or a config load never waits behind a poll.

// syncRun is one sync in flight; callers that want a sync of the same
// storage while one runs wait for it rather than start another, so a
// hung storage holds one goroutine, not one per poll.
type syncRun struct {
	store Store
	// unlisted is the ids added here that no list had shown when the
	// sync began (l.unlisted), for readStorage to look up one by one.
	unlisted []string
	listed   chan struct{} // closed once storage has answered the List
	done     chan struct{} // closed once err is set
	err      error
}

// loop polls storage every poll interval until stop is closed, and at
// once when woken with resync set (the storage in use changed). It
// closes done on its way out.
func (l *List) loop(stop, wake, done chan struct{}) {
	defer close(done)
	// The wait for the next poll is kept across wakes that leave the
	// interval as it was, so that a wake neither delays the poll nor
	// leaves behind a wait that nobody takes (which a test's fake clock
	// would count as the loop waiting).
	var next <-chan time.Time
	var nextPoll time.Duration
	for {
		l.mu.Lock()
		poll := l.pollLocked()
		l.mu.Unlock()
		if next == nil || poll != nextPoll {
			next, nextPoll = l.clock.After(poll), poll
		}
		sync := false
		select {
		case <-stop:
			return
		case <-wake:
			l.mu.Lock()
			sync, l.resync = l.resync, false
			l.mu.Unlock()
		case <-next:
			sync = true
		}
		if sync {
			next = nil
			_ = l.sync(revocationStorageTimeout, stop)
		}
	}
}

// sync brings the index in step with the current storage, waiting at
// most timeout (or until quit is closed) for it; a sync that outlives
// the wait still merges when storage answers.
func (l *List) sync(timeout time.Duration, quit <-chan struct{}) error {
	l.mu.Lock()
	store := l.store
	if store == nil {
		l.mu.Unlock()
		return nil
	}
	run := l.running
	if run == nil || !sameStore(run.store, store) {
		run = &syncRun{store: store, listed: make(chan struct{}), done: make(chan struct{})}
		l.running = run
		l.syncs++
		run.unlisted = slices.Collect(maps.Keys(l.unlisted))
		go l.runSync(run, l.index.Load(), l.logger)
	}
	l.mu.Unlock()
	switch l.await(run, timeout, quit) {
	case awaitDone:
		return run.err
	case awaitQuit:
		return nil
	}
	// Listed within the wait, so storage answers and the sync is loading
	// entries: wait for the loads too, up to the bound of a whole sync. A
	// restarted instance with 100,000 entries on Redis needs about 3 s to
	// load them (fleet/scale_test.go), and must not serve without them.
	select {
	case <-run.listed:
		if rest := revocationStorageTimeout - timeout; rest > 0 {
			switch l.await(run, rest, quit) {
			case awaitDone:
				return run.err
			case awaitQuit:
				return nil
			}
			timeout = revocationStorageTimeout
		}
	default:
	}
	return l.failed(fmt.Errorf("%w: no answer within %v", errStorage, timeout))
}

type awaitResult int

const (
	awaitDone awaitResult = iota
	awaitQuit
	awaitExpired
)

// await waits for a sync to end, at most timeout, or until quit closes.
func (l *List) await(run *syncRun, timeout time.Duration, quit <-chan struct{}) awaitResult {
	expired, stopTimer := l.timer(timeout)
	defer stopTimer()
	select {
	case <-run.done:
		return awaitDone
	case <-quit:
		return awaitQuit
	case <-expired:
		return awaitExpired
	}
}

// runSync reads storage, merges and reports; known is the index when
// the sync began.
func (l *List) runSync(run *syncRun, known *index, logger *zap.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), revocationStorageTimeout)
	r := l.readStorage(ctx, run.store, known, run.unlisted, func() { close(run.listed) }, logger)
	cancel()
	l.mu.Lock()
	stats, warn := l.mergeLocked(run, known, r)
	l.syncs--
	if l.syncs == 0 {
		clear(l.lifted)
	}
	if l.running == run {
		l.running = nil
	}
	l.mu.Unlock()
	for key, u := range warn {
		logger.Warn("revocations: unreadable entry in storage; ignored until it changes", zap.String("key", key), zap.Error(u.err))
	}
	if stats.added > 0 || stats.dropped > 0 {
		// Per entry at debug: a first sync may find thousands.
		logger.Info("revocations: synced with storage", zap.Int("added", stats.added),
			zap.Int("dropped", stats.dropped), zap.Int("known", stats.known))
	}
	err := r.err
	if err != nil {
		err = l.failed(err)
	} else {
		now := l.clock.Now()
		l.setStatus(func(st *Status) { st.StorageOK, st.LastSync, st.LastError = true, now, "" })
	}
	run.err = err
	close(run.done)
	if l.onSync != nil {
		l.onSync(err)
	}
}

type mergeStats struct{ added, dropped, known int }

// mergeLocked applies a read to the newest index: it adds what the read
// found unless it was lifted here meanwhile, and drops what the read
// shows gone only if it was known when the read began (an entry added
// here meanwhile may be missing from the list), the list was complete,
// and some list has shown it before (one added here may be missing from
// a list that lags the write: see l.unlisted). Nothing changed, nothing
// is rebuilt. It returns the unreadable files not yet warned of. l.mu is
// held.
func (l *List) mergeLocked(run *syncRun, known *index, r storageRead) (mergeStats, map[string]unreadableEntry) {
	if !sameStore(run.store, l.store) {
		return mergeStats{}, nil // storage changed meanwhile; its sync follows
	}
	warn := map[string]unreadableEntry{}
	for key, u := range r.unreadable {
		if prev, ok := l.unreadable[key]; !ok || prev.sum != u.sum {
			warn[key] = u
		}
	}
	if r.complete {
		l.unreadable = r.unreadable // forget the files gone or now readable
	} else {
		for key, u := range r.unreadable {
			l.unreadable = mapSet(l.unreadable, key, u)
		}
	}
	now := l.clock.Now()
	newest := l.index.Load()
	var add []*Entry
	for _, e := range r.add {
		if newest.byID[e.ID] == nil && !l.lifted[e.ID] && e.inForce(now) {
			add = append(add, e)
		}
	}
	for id := range l.unlisted {
		if r.listed[id] {
			delete(l.unlisted, id)
		}
	}
	// Decided once, before l.unlisted changes, and applied as decided.
	var dropped map[*Entry]bool
	for _, e := range newest.byID {
		gone := r.complete && !r.listed[e.ID] && known.byID[e.ID] == e && (!l.unlisted[e.ID] || r.gone[e.ID])
		if !e.inForce(now) || gone {
			dropped = mapSet(dropped, e, true)
		}
	}
	for e := range dropped {
		delete(l.unlisted, e.ID)
	}
	stats := mergeStats{added: len(add), dropped: len(dropped), known: len(newest.byID) + len(add) - len(dropped)}
	if len(add) == 0 && len(dropped) == 0 {
		return stats, warn
	}
	for _, e := range add {
		l.logger.Debug("revocation added elsewhere", zap.String("id", e.ID), zap.String("kind", e.kindName()), zap.String("value", e.value()))
	}
	drop := func(e *Entry) bool { return dropped[e] }
	if len(dropped) == 0 {
		drop = nil
	}
	l.index.Store(newest.with(add, drop))
	return stats, warn
}

func mapSet[K comparable, V any](m map[K]V, k K, v V) map[K]V {
	if m == nil {
		m = map[K]V{}
	}
	m[k] = v
	return m
}

// failed records a failed read: the entries known are kept.
func (l *List) failed(err error) error {
	now := l.clock.Now()
	l.setStatus(func(st *Status) {
		st.StorageOK, st.LastError, st.LastErrorAt = false, err.Error(), now
		st.Failures++
	})
	l.readFailed()
	l.mu.Lock()
	logger := l.logger
	l.mu.Unlock()
	logger.Error("revocations: storage unreadable; keeping the entries known",
		zap.Int("known", len(l.index.Load().byID)), zap.Error(err))
	return err
}

// bounded runs a storage call, waiting at most timeout for it: a call
// that ignores its context is left to finish on its own. The error is
// errStorage's on a timeout.
func (l *List) bounded(timeout time.Duration, call func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	done := make(chan error, 1)
	go func() {
		defer cancel()
		done <- call(ctx)
	}()
	expired, stopTimer := l.timer(timeout)
	defer stopTimer()
	select {
	case err := <-done:
		return err
	case <-expired:
		cancel()
		return fmt.Errorf("%w: no answer within %v", errStorage, timeout)
	}
}

// timer is the wall-clock bound on storage calls; tests replace it
// (storageTimer) to fire it by hand.
func (l *List) timer(d time.Duration) (<-chan time.Time, func()) {
	if l.storageTimer != nil {
		return l.storageTimer(d), func() {}
	}
	t := time.NewTimer(d)
	return t.C, func() { t.Stop() }
}
