package workos

import (
	"errors"
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
	for _, body := range []string{`{"event":"user.deleted"}`, `{"id":"e"}`, `not json`} {
		if _, err := ParseEvent([]byte(body)); err == nil {
			t.Errorf("ParseEvent(%s) took it", body)
		}
	}
	e, _ := ParseEvent([]byte(`{"id":"e","event":"user.deleted","data":{}}`))
	if _, _, err := CutFor(e, now); err == nil {
		t.Error("a user.deleted without the user was taken")
	}
}
