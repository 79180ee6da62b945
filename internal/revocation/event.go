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
// in storage is not written again, and applied is false. Either way the
// entry is in force here when AddOnce returns without an error.
func (l *List) AddOnce(store Store, e *Entry, logger *zap.Logger) (applied bool, err error) {
	if l.index.Load().byID[e.ID] != nil {
		return false, nil
	}
	store = l.writeStore(store)
	if store == nil {
		return false, fmt.Errorf("%w: no storage", errStorage)
	}
	var stored bool
	err = l.bounded(revocationStorageTimeout, func(ctx context.Context) error {
		_, err := store.Load(ctx, Key(e.ID))
		switch {
		case err == nil:
			stored = true
			return nil
		case errors.Is(err, fs.ErrNotExist):
			return nil
		}
		return err
	})
	if err != nil {
		return false, fmt.Errorf("%w: looking for the revocation: %w", errStorage, err)
	}
	if stored {
		l.mu.Lock()
		if l.index.Load().byID[e.ID] == nil {
			l.index.Store(l.index.Load().with([]*Entry{e}, nil))
		}
		l.mu.Unlock()
		return false, nil
	}
	return true, l.Add(store, e, logger)
}
