package revocation

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"go.uber.org/zap"
)

// Entries that an identity provider's events make (the WorkOS webhook):
// one event, one entry, however often it is delivered.

// FromEvent is the entry an identity provider's event asks for: kind
// "sub" or "sid" with its value, made at created (a sub entry refuses
// tokens issued up to that second) and in force until until, at most
// maxTTL after created. Its id derives from the event id, so one event
// always makes an entry of the same id: a retried delivery finds it, and
// two deliveries that reach two instances at once write one key (the last
// write wins; both refuse the same tokens).
func FromEvent(eventID, kindName, value string, created, until time.Time) (*Entry, error) {
	if eventID == "" || len(eventID) > maxValue {
		return nil, errors.New("event id: empty or too long")
	}
	e := &Entry{Created: created.UTC(), Until: until.UTC(), Event: eventID}
	switch kindName {
	case "sub":
		e.Sub = value
	case "sid":
		e.SID = value
	default:
		return nil, fmt.Errorf("event entries name a sub or a sid, not %q", kindName)
	}
	if err := checkRevocationValue(kindName, value); err != nil {
		return nil, err
	}
	if limit := e.Created.Add(maxTTL); e.Until.After(limit) {
		e.Until = limit
	}
	if !e.Until.After(e.Created) {
		return nil, errors.New("until not after created")
	}
	sum := sha256.Sum256([]byte("event:" + eventID))
	e.ID = hex.EncodeToString(sum[:8])
	return e, nil
}

// AddOnce is Add for an entry whose id derives from what made it (an
// identity provider's event, FromEvent), which it applies once: an event
// remembered in storage (seen.go), or whose entry is stored, is not
// written again, and applied is false. The stored entry, not e, is then
// put in force here, and only while it is in force; an entry lifted since
// stays lifted. Of two calls for one id at once on this instance, the
// second waits for the first and reports its error, or a duplicate, so
// that only one of them reports it applied.
func (l *List) AddOnce(store Store, e *Entry, logger *zap.Logger) (applied bool, err error) {
	l.mu.Lock()
	// A call in flight first: its entry may be in force here already
	// while its marker is still being written, and may fail.
	first, busy := l.addingOnce[e.ID]
	if !busy && l.index.Load().byID[e.ID] != nil && l.unmarked[e.ID].IsZero() {
		l.mu.Unlock()
		return false, nil
	}
	if busy {
		l.mu.Unlock()
		if l.onAddOnceWait != nil {
			l.onAddOnceWait()
		}
		<-first.done // its storage calls are bounded: 30 s at worst
		return false, first.err
	}
	call := &onceCall{done: make(chan struct{})}
	if l.addingOnce == nil {
		l.addingOnce = make(map[string]*onceCall)
	}
	l.addingOnce[e.ID] = call
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		delete(l.addingOnce, e.ID)
		l.mu.Unlock()
		close(call.done)
	}()
	applied, call.err = l.addOnce(store, e, logger)
	return applied, call.err
}

// onceCall is an AddOnce in flight: the calls for the same id that come
// meanwhile wait for it and answer with its error, or as duplicates.
type onceCall struct {
	done chan struct{}
	err  error // set before done is closed
}

func (l *List) addOnce(store Store, e *Entry, logger *zap.Logger) (applied bool, err error) {
	store = l.writeStore(store)
	if store == nil {
		return false, fmt.Errorf("%w: no storage", errStorage)
	}
	now := l.clock.Now()
	var seen bool
	var stored *Entry
	err = l.bounded(revocationStorageTimeout, func(ctx context.Context) error {
		var err error
		if seen, err = eventSeen(ctx, store, e.ID, now); err != nil {
			return err
		}
		data, err := store.Load(ctx, Key(e.ID))
		switch {
		case err == nil:
			// One that does not decode is applied nowhere.
			stored, _ = decodeStoredRevocation(data, e.ID)
			return nil
		case errors.Is(err, fs.ErrNotExist):
			return nil
		}
		return err
	})
	if err != nil {
		return false, fmt.Errorf("%w: looking for the event: %w", errStorage, err)
	}
	if stored == nil && !seen {
		if err := l.add(store, e, logger); err != nil {
			return false, err
		}
		applied = true
	} else if stored != nil && stored.inForce(now) {
		l.mu.Lock()
		if l.index.Load().byID[stored.ID] == nil {
			l.index.Store(l.index.Load().with([]*Entry{stored}, nil))
			// As Add's: a lagging list must not drop it (mergeLocked).
			l.unlisted = mapSet(l.unlisted, stored.ID, true)
		}
		l.mu.Unlock()
	}
	if !seen {
		if err := l.remember(store, e, now, logger); err != nil {
			// A 503, so that WorkOS retries until the event is
			// remembered; the entry is in force meanwhile.
			return applied, err
		}
	}
	return applied, nil
}

// remember writes an event's marker, and starts a sweep of the old ones
// at the first new event of each day (UTC) on this instance, in the
// background so that no delivery waits for it.
func (l *List) remember(store Store, e *Entry, now time.Time, logger *zap.Logger) error {
	err := l.bounded(revocationStorageTimeout, func(ctx context.Context) error {
		return rememberEvent(ctx, store, e, now)
	})
	l.mu.Lock()
	due := false
	if err != nil {
		l.markUnmarkedLocked(e, now)
	} else {
		delete(l.unmarked, e.ID)
		if today := eventDay(now); today > l.eventsSwept {
			due, l.eventsSwept = true, today
		}
	}
	l.mu.Unlock()
	if err != nil {
		logger.Warn("revocations: could not remember an event; answering 503 so that WorkOS retries",
			zap.String("event", e.Event), zap.Error(err))
		return fmt.Errorf("%w: remembering the event: %w", errStorage, err)
	}
	if due {
		go l.sweep(store, now, eventDay(now), logger)
	}
	return nil
}

// markUnmarkedLocked notes that e is in force here without its event's
// marker, until e's end, and forgets the notes of entries that have
// ended, so that the map holds only entries in force.
func (l *List) markUnmarkedLocked(e *Entry, now time.Time) {
	if l.unmarked == nil {
		l.unmarked = make(map[string]time.Time)
	}
	for id, until := range l.unmarked {
		if !now.Before(until) {
			delete(l.unmarked, id)
		}
	}
	l.unmarked[e.ID] = e.Until
}

// sweep deletes the markers of days past EventMemory and the margin. A
// failure is a warning, and the next new event tries again.
func (l *List) sweep(store Store, now time.Time, today string, logger *zap.Logger) {
	err := l.bounded(revocationStorageTimeout, func(ctx context.Context) error {
		return sweepEvents(ctx, store, now)
	})
	if err != nil {
		logger.Warn("revocations: could not sweep old WorkOS event markers", zap.Error(err))
		l.mu.Lock()
		if l.eventsSwept == today {
			l.eventsSwept = ""
		}
		l.mu.Unlock()
	}
	if l.onEventsSwept != nil {
		l.onEventsSwept(err)
	}
}
