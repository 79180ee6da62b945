package workos

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestCutFor(t *testing.T) {
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	at := now.Add(-time.Minute).Format(time.RFC3339)
	later := now.Add(7 * 24 * time.Hour)
	for _, tt := range []struct {
		name, body string
		want       Cut
		known      bool
		err        error
	}{
		{"session revoked: its sid until it would have expired",
			`{"id":"event_1","event":"session.revoked","created_at":"` + at + `","data":{"object":"session","id":"session_01","user_id":"user_01","expires_at":"` + later.Format(time.RFC3339) + `"}}`,
			Cut{Kind: "sid", Value: "session_01", Created: now, Until: later}, true, nil},
		{"session without expires_at: a day",
			`{"id":"event_2","event":"session.revoked","data":{"id":"session_02"}}`,
			Cut{Kind: "sid", Value: "session_02", Created: now, Until: now.Add(subTTL)}, true, nil},
		{"session expired already: nothing to do",
			`{"id":"event_3","event":"session.revoked","data":{"id":"session_03","expires_at":"` + now.Add(-time.Second).Format(time.RFC3339) + `"}}`,
			Cut{}, true, ErrExpired},
		{"user deleted: its sub, tokens up to the event",
			`{"id":"event_4","event":"user.deleted","created_at":"` + at + `","data":{"object":"user","id":"user_04"}}`,
			Cut{Kind: "sub", Value: "user_04", Created: now.Add(-time.Minute), Until: now.Add(subTTL)}, true, nil},
		{"membership updated: the user's sub",
			`{"id":"event_5","event":"organization_membership.updated","created_at":"` + at + `","data":{"object":"organization_membership","id":"om_5","user_id":"user_05","role":{"slug":"member"}}}`,
			Cut{Kind: "sub", Value: "user_05", Created: now.Add(-time.Minute), Until: now.Add(subTTL)}, true, nil},
		{"membership deleted: the user's sub",
			`{"id":"event_6","event":"organization_membership.deleted","data":{"user_id":"user_06"}}`,
			Cut{Kind: "sub", Value: "user_06", Created: now, Until: now.Add(subTTL)}, true, nil},
		{"event dated in the future: dated now",
			`{"id":"event_7","event":"user.deleted","created_at":"` + now.Add(time.Hour).Format(time.RFC3339) + `","data":{"id":"user_07"}}`,
			Cut{Kind: "sub", Value: "user_07", Created: now, Until: now.Add(subTTL)}, true, nil},
		{"unknown event", `{"id":"event_8","event":"user.created","data":{"id":"user_08"}}`, Cut{}, false, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e, err := ParseEvent([]byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			cut, known, err := CutFor(e, now)
			if known != tt.known || !errors.Is(err, tt.err) || cut != tt.want {
				t.Errorf("CutFor = %+v, %v, %v; want %+v, %v, %v", cut, known, err, tt.want, tt.known, tt.err)
			}
		})
	}
	// Signed bodies that are not events this endpoint can apply: each is
	// ErrInvalid, and no error quotes the body (it is logged and answered).
	for _, tt := range []struct{ name, body string }{
		{"no id", `{"event":"user.deleted","data":{"id":"user_x"}}`},
		{"no event", `{"id":"e_secretvalue"}`},
		{"not JSON", `not json secretvalue`},
		{"id not a string", `{"id":{"secretvalue":1},"event":"user.deleted"}`},
		{"created_at not a time", `{"id":"e","event":"user.deleted","created_at":"secretvalue","data":{"id":"u"}}`},
		{"created_at a number", `{"id":"e","event":"user.deleted","created_at":1733313600,"data":{"id":"u"}}`},
		{"data missing", `{"id":"e","event":"user.deleted"}`},
		{"data null", `{"id":"e","event":"session.revoked","data":null}`},
		{"data not an object", `{"id":"e","event":"user.deleted","data":"secretvalue"}`},
		{"user without its id", `{"id":"e","event":"user.deleted","data":{}}`},
		{"session without its id", `{"id":"e","event":"session.revoked","data":{"user_id":"u"}}`},
		{"membership without the user", `{"id":"e","event":"organization_membership.deleted","data":{"id":"om"}}`},
		{"expires_at not a time", `{"id":"e","event":"session.revoked","data":{"id":"s","expires_at":"secretvalue"}}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e, err := ParseEvent([]byte(tt.body))
			if err == nil {
				_, _, err = CutFor(e, now)
			}
			if !errors.Is(err, ErrInvalid) || strings.Contains(err.Error(), "secretvalue") {
				t.Errorf("error %v, want ErrInvalid quoting nothing of the body", err)
			}
		})
	}
}

// TestUnknownEventsAreNotJudged: an event solo_auth does not act on is
// ignored whatever its created_at and data, so WorkOS gets a 200 and does
// not retry it for days.
func TestUnknownEventsAreNotJudged(t *testing.T) {
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	for _, body := range []string{
		`{"id":"e1","event":"user.created","created_at":"yesterday","data":{"id":"u"}}`,
		`{"id":"e2","event":"dsync.group.user_added","created_at":1733313600}`,
		`{"id":"e3","event":"connection.activated","data":null}`,
	} {
		e, err := ParseEvent([]byte(body))
		if err != nil {
			t.Errorf("ParseEvent(%s): %v", body, err)
			continue
		}
		if _, known, err := CutFor(e, now); known || err != nil {
			t.Errorf("CutFor(%s) = %v, %v; want unknown", body, known, err)
		}
	}
}
