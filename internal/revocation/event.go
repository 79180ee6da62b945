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
// always makes the same entry: a retried delivery, or one that reaches two
// instances at once, writes the same object.
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
// identity provider's event, FromEvent): an entry already known here or
// in storage is not written again, and applied is false. The stored
// entry, not e, is then put in force here, and only while it is in
// force. Of two calls for one id at once on this instance, the second
// waits for the first, so that only one of them reports it applied.
func (l *List) AddOnce(store Store, e *Entry, logger *zap.Logger) (applied bool, err error) {
	for {
		if l.index.Load().byID[e.ID] != nil {
			return false, nil
		}
		l.mu.Lock()
		if busy, ok := l.addingOnce[e.ID]; ok {
			l.mu.Unlock()
			if l.onAddOnceWait != nil {
				l.onAddOnceWait()
			}
			<-busy // not long: the first call's storage calls are bounded
			continue
		}
		done := make(chan struct{})
		if l.addingOnce == nil {
			l.addingOnce = make(map[string]chan struct{})
		}
		l.addingOnce[e.ID] = done
		l.mu.Unlock()

		applied, err = l.addOnce(store, e, logger)

		l.mu.Lock()
		delete(l.addingOnce, e.ID)
		l.mu.Unlock()
		close(done)
		return applied, err
	}
}

func (l *List) addOnce(store Store, e *Entry, logger *zap.Logger) (applied bool, err error) {
	store = l.writeStore(store)
	if store == nil {
		return false, fmt.Errorf("%w: no storage", errStorage)
	}
	var stored *Entry
	err = l.bounded(revocationStorageTimeout, func(ctx context.Context) error {
		data, err := store.Load(ctx, Key(e.ID))
		switch {
		case err == nil:
			// One that does not decode is applied nowhere: write ours.
			stored, _ = decodeStoredRevocation(data, e.ID)
			return nil
		case errors.Is(err, fs.ErrNotExist):
			return nil
		}
		return err
	})
	if err != nil {
		return false, fmt.Errorf("%w: looking for the revocation: %w", errStorage, err)
	}
	if stored == nil {
		return true, l.Add(store, e, logger)
	}
	if stored.inForce(l.clock.Now()) {
		l.mu.Lock()
		if l.index.Load().byID[stored.ID] == nil {
			l.index.Store(l.index.Load().with([]*Entry{stored}, nil))
			// As Add's: a lagging list must not drop it (mergeLocked).
			l.unlisted = mapSet(l.unlisted, stored.ID, true)
		}
		l.mu.Unlock()
	}
	return false, nil
}
