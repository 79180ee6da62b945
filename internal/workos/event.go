package workos

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// The events that cut off tokens, as WorkOS names them.
const (
	SessionRevoked                = "session.revoked"
	UserDeleted                   = "user.deleted"
	OrganizationMembershipDeleted = "organization_membership.deleted"
	OrganizationMembershipUpdated = "organization_membership.updated"
)

// Known reports whether an event name is one solo_auth acts on; the
// metric names the others "other", so that a sender cannot grow its
// label set.
func Known(name string) bool {
	switch name {
	case SessionRevoked, UserDeleted, OrganizationMembershipDeleted, OrganizationMembershipUpdated:
		return true
	}
	return false
}

// subTTL is how long an event's sub entry lasts: longer than any access
// token WorkOS issues lives, so every token minted before the event has
// expired by then.
const subTTL = 24 * time.Hour

// Event is a delivery's body: its id, its name, when WorkOS made it (zero
// if it did not say), and the object it is about.
type Event struct {
	ID        string
	Name      string
	CreatedAt time.Time
	Data      json.RawMessage
}

// Cut is what an event asks of the revocation list: refuse the tokens
// whose Kind claim ("sub" or "sid") is Value, issued up to Created (for
// sub), until Until.
type Cut struct {
	Kind, Value    string
	Created, Until time.Time
}

// ErrExpired: the event names a session that has expired already, so no
// token of it is valid any more; nothing to do.
var ErrExpired = errors.New("the session has expired already")

// ErrInvalid: a signed body that is not an event solo_auth can apply.
// Its text and the texts wrapping it never quote the body: they are
// logged and answered.
var ErrInvalid = errors.New("not a WorkOS event")

// ParseEvent reads a delivery's body. created_at is read only for an
// event solo_auth acts on, so that an unknown event with an odd one is
// still answered 200 (WorkOS retries errors for days).
func ParseEvent(body []byte) (*Event, error) {
	var raw struct {
		ID        string          `json:"id"`
		Name      string          `json:"event"`
		CreatedAt json.RawMessage `json:"created_at"`
		Data      json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, ErrInvalid
	}
	if raw.ID == "" || raw.Name == "" {
		return nil, fmt.Errorf("%w: id and event are required", ErrInvalid)
	}
	e := &Event{ID: raw.ID, Name: raw.Name, Data: raw.Data}
	if Known(e.Name) && len(raw.CreatedAt) > 0 && string(raw.CreatedAt) != "null" {
		if err := json.Unmarshal(raw.CreatedAt, &e.CreatedAt); err != nil {
			return nil, fmt.Errorf("%w: created_at is not an RFC 3339 time", ErrInvalid)
		}
	}
	return e, nil
}

// CutFor is the cut a known event asks for, judged at now; ok is false for
// an event solo_auth does not act on. A sub cut is dated by the event (not
// by its delivery, which may come late), so tokens minted after the event,
// carrying the new role, pass; never later than now.
func CutFor(e *Event, now time.Time) (cut Cut, ok bool, err error) {
	created := now
	if !e.CreatedAt.IsZero() && e.CreatedAt.Before(now) {
		created = e.CreatedAt
	}
	var data struct {
		ID        string    `json:"id"`
		UserID    string    `json:"user_id"`
		ExpiresAt time.Time `json:"expires_at"`
	}
	if Known(e.Name) {
		if err := json.Unmarshal(e.Data, &data); err != nil || len(e.Data) == 0 || string(e.Data) == "null" {
			return Cut{}, true, fmt.Errorf("%w: %s: data is not the object the event is about", ErrInvalid, e.Name)
		}
	}
	switch e.Name {
	case SessionRevoked:
		if data.ID == "" {
			return Cut{}, true, fmt.Errorf("%w: %s: data.id (the session) missing", ErrInvalid, e.Name)
		}
		until := data.ExpiresAt
		if until.IsZero() {
			until = now.Add(subTTL)
		}
		if !until.After(now) {
			return Cut{}, true, ErrExpired
		}
		return Cut{Kind: "sid", Value: data.ID, Created: now, Until: until}, true, nil
	case UserDeleted:
		if data.ID == "" {
			return Cut{}, true, fmt.Errorf("%w: %s: data.id (the user) missing", ErrInvalid, e.Name)
		}
		return Cut{Kind: "sub", Value: data.ID, Created: created, Until: now.Add(subTTL)}, true, nil
	case OrganizationMembershipDeleted, OrganizationMembershipUpdated:
		if data.UserID == "" {
			return Cut{}, true, fmt.Errorf("%w: %s: data.user_id missing", ErrInvalid, e.Name)
		}
		return Cut{Kind: "sub", Value: data.UserID, Created: created, Until: now.Add(subTTL)}, true, nil
	}
	return Cut{}, false, nil
}
