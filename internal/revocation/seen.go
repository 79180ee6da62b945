package revocation

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/go-json-experiment/json"
)

// An identity provider's events are remembered apart from the entries
// they make, so that a retried delivery changes nothing even after its
// entry was lifted or has expired: one small object per event, under the
// day this fleet first took it, kept for EventMemory and swept after.

const eventsPrefix = "solo_auth/events"

// EventMemory is how long an event's id is remembered at least: WorkOS
// retries a failed delivery for up to three days; one more day for late
// retries. An event is looked for under today (UTC), the four days before
// and the day after, so it is remembered four to five days.
const EventMemory = 4 * 24 * time.Hour

// sweepMargin keeps one more day past EventMemory, for instances whose
// clocks disagree.
const sweepMargin = 24 * time.Hour

func eventDay(t time.Time) string { return t.UTC().Format(time.DateOnly) }

func eventKey(day, entryID string) string {
	return eventsPrefix + "/" + day + "/" + entryID + ".json"
}

// seenEvent is what a marker holds: for a person reading storage.
type seenEvent struct {
	Event string    `json:"event"`
	Seen  time.Time `json:"seen"`
}

// eventSeen reports whether the event whose entry id is entryID has a
// marker under one of the days EventMemory spans, or tomorrow (an
// instance whose clock passed midnight first).
func eventSeen(ctx context.Context, store Store, entryID string, now time.Time) (bool, error) {
	for back := -24 * time.Hour; back <= EventMemory; back += 24 * time.Hour {
		_, err := store.Load(ctx, eventKey(eventDay(now.Add(-back)), entryID))
		switch {
		case err == nil:
			return true, nil
		case !errors.Is(err, fs.ErrNotExist):
			return false, err
		}
	}
	return false, nil
}

// rememberEvent writes e's marker under today.
func rememberEvent(ctx context.Context, store Store, e *Entry, now time.Time) error {
	data, err := json.Marshal(seenEvent{Event: e.Event, Seen: now.UTC()})
	if err != nil {
		return err
	}
	return store.Store(ctx, eventKey(eventDay(now), e.ID), data)
}

// sweepEvents deletes the markers of the days older than EventMemory and
// sweepMargin: each object (a Redis-backed storage does not delete a
// folder's contents with it), then each day's folder (a file system keeps
// empty ones).
func sweepEvents(ctx context.Context, store Store, now time.Time) error {
	keys, err := store.List(ctx, eventsPrefix, true)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("listing %s: %w", eventsPrefix, err)
	}
	keep := eventDay(now.Add(-EventMemory - sweepMargin)) // and every later day
	oldDays := map[string]bool{}
	for _, key := range keys {
		day, rest, isFile := strings.Cut(strings.TrimPrefix(key, eventsPrefix+"/"), "/")
		if _, err := time.Parse(time.DateOnly, day); err != nil || day >= keep {
			continue // not ours, or still remembered
		}
		oldDays[day] = true
		if isFile && rest != "" {
			if err := store.Delete(ctx, key); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("deleting %s: %w", key, err)
			}
		}
	}
	for day := range oldDays {
		if err := store.Delete(ctx, eventsPrefix+"/"+day); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("deleting %s/%s: %w", eventsPrefix, day, err)
		}
	}
	return nil
}
