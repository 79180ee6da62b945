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
	if l.index.Load().byID[e.ID] != nil {
		return false, nil
	}
	l.mu.Lock()
	if first, busy := l.addingOnce[e.ID]; busy {
		l.mu.Unlock()
		if l.onAddOnceWait != nil {
			l.onAddOnceWait()
		}
		<-first.done // not long: the first call's storage calls are bounded
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
		if err := l.Add(store, e, logger); err != nil {
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
		l.remember(store, e, now, logger)
	}
	return applied, nil
}

// remember writes an event's marker, and at the first delivery of each
// day sweeps the old ones. A failure is only logged: the event is then
// remembered while its entry is stored.
func (l *List) remember(store Store, e *Entry, now time.Time, logger *zap.Logger) {
	err := l.bounded(revocationStorageTimeout, func(ctx context.Context) error {
		return rememberEvent(ctx, store, e, now)
	})
	if err != nil {
		logger.Warn("revocations: could not remember an event; a retried delivery may apply it again once its entry is gone",
			zap.String("event", e.Event), zap.Error(err))
	}
	l.mu.Lock()
	due := l.eventsSwept != eventDay(now)
	l.eventsSwept = eventDay(now)
	l.mu.Unlock()
	if !due {
		return
	}
	err = l.bounded(revocationStorageTimeout, func(ctx context.Context) error {
		return sweepEvents(ctx, store, now)
	})
	if err != nil {
		logger.Debug("revocations: could not sweep old events", zap.Error(err))
	}
}
