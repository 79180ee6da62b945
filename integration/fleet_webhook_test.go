package integration

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestFleetWebhook: on three instances sharing a real Redis, one WorkOS
// delivery to A refuses the session's tokens on all three; a replay to C
// is a duplicate; after a lift on B, a replay to A, which no longer holds
// the entry, is still a duplicate and leaves the tokens passing: the
// event's marker in Redis remembers it.
func TestFleetWebhook(t *testing.T) {
	t.Parallel()
	redis, jwks, s := fleetWorld(t)
	s.Site = webhookSpec(jwks.URL).Site
	fleet := startFleet(t, s, 3)
	a, b, c := fleet[0], fleet[1], fleet[2]
	tok := sessionToken("user_f1", "session_f1", time.Now().Add(-time.Minute))
	for _, p := range fleet {
		expectPass(t, p.get(t, "/", tok), "ok user_f1 session_f1")
	}

	now := time.Now()
	event := `{"id":"event_fleet_1","event":"session.revoked","created_at":"` + now.Format(time.RFC3339) +
		`","data":{"object":"session","id":"session_f1","user_id":"user_f1","expires_at":"` + now.Add(time.Hour).Format(time.RFC3339) + `"}}`
	expectOutcome := func(p *caddyProc, want string) {
		t.Helper()
		if r := deliver(t, p, event, webhookSecret, time.Now()); r.Status != http.StatusOK || r.Body != `{"outcome":"`+want+`"}`+"\n" {
			t.Fatalf("delivery: %d %q, want 200 %s", r.Status, r.Body, want)
		}
	}
	expectOutcome(a, "applied")
	expectRefusal(t, a.get(t, "/", tok), invalidToken)
	awaitEvery(t, fleet, "/", http.StatusUnauthorized, 15*time.Second, tok)
	expectOutcome(c, "duplicate")

	entries := b.revocations(t).Revocations
	if len(entries) != 1 || entries[0].SID != "session_f1" {
		t.Fatalf("b lists %+v", entries)
	}
	if r := b.adminCall(t, http.MethodDelete, "/solo_auth/revocations/"+entries[0].ID, ""); r.Status != http.StatusOK {
		t.Fatalf("lift: %d %s", r.Status, r.Body)
	}
	awaitEvery(t, fleet, "/", http.StatusOK, 15*time.Second, tok)
	expectOutcome(a, "duplicate")
	for _, p := range fleet {
		expectPass(t, p.get(t, "/", tok), "ok user_f1 session_f1")
	}
	if values, listed := redis.revocationKeys(t); len(values) != 0 || len(listed) != 0 {
		t.Errorf("Redis holds revocations %v %v after the lift and the replay", values, listed)
	}
	// One object per event, under the day it was taken (its folder is a
	// key of its own in Redis), named by the hash of the event id.
	markers := redis.lines(t, "KEYS", "caddy/solo_auth/events/*/*.json")
	if len(markers) != 1 || strings.Contains(markers[0], "event_fleet_1") {
		t.Errorf("event markers in Redis %v, want one, named by a hash", markers)
	}
}
