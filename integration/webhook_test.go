package integration

import (
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	tu "github.com/solo-one/caddy-solo-auth/internal/testutil"
	"github.com/solo-one/caddy-solo-auth/internal/workos"
)

const webhookSecret = "whsec_test_0123456789abcdef"

// webhookSpec: the WorkOS webhook on /webhooks/workos, and every other
// path behind solo_auth, answering with the subject and session.
func webhookSpec(jwksURL string) spec {
	return spec{
		Global: `	solo_auth {
		secret ` + secret + `
		jwks_url ` + jwksURL + `
		revocation_poll 1s
	}`,
		Site: `	handle /webhooks/workos {
		solo_auth_webhook {
			secret whsec_old_secret_being_rotated ` + webhookSecret + `
		}
	}
	handle {
		solo_auth
		respond "ok {solo.sub} {solo.sid}"
	}`,
	}
}

// deliver posts an event body as WorkOS does, signed at t with secret
// ("" for no signature header).
func deliver(t *testing.T, c *caddyProc, body, secret string, at time.Time) reply {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, c.URL+"/webhooks/workos", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if secret != "" {
		req.Header.Set(workos.SignatureHeader, workos.Sign([]byte(secret), []byte(body), at))
	}
	return send(t, req)
}

func sessionToken(sub, sid string, iat time.Time) string {
	return bearer(tu.RS256(wkKey1, "key_1", tu.SDKClaims(sub).With("sid", sid, "iat", iat.Unix(),
		"iss", "https://api.workos.com", "org_id", "org_01")))
}

// TestWebhookEventsCutOffTokens: each event kind, signed as WorkOS signs,
// refuses the right tokens (cached ones included) at once on the instance
// that took it and within revocation_poll on another sharing the storage,
// and leaves the others alone; a replay changes nothing.
func TestWebhookEventsCutOffTokens(t *testing.T) {
	t.Parallel()
	workosKeys()
	jwks := newJWKSEndpoint(t, wkPub1)
	s := webhookSpec(jwks.URL)
	s.DataDir = t.TempDir()
	a, b := startCaddy(t, s), startCaddy(t, s)
	past := time.Now().Add(-time.Minute)
	revokedSession := sessionToken("user_01", "session_01", past)
	otherSession := sessionToken("user_01", "session_02", past)
	deleted := sessionToken("user_02", "session_03", past)
	demoted := sessionToken("user_03", "session_04", past)
	sdk := bearer(tu.HS256(secret, tu.SDKClaims("svc_1")))
	for _, p := range []*caddyProc{a, b} {
		for range 2 { // the second from the token cache
			expectPass(t, p.get(t, "/", revokedSession), "ok user_01 session_01")
			expectPass(t, p.get(t, "/", deleted), "ok user_02 session_03")
		}
	}

	now := time.Now()
	events := []string{
		`{"id":"event_01","event":"session.revoked","created_at":"` + now.Format(time.RFC3339) + `","data":{"object":"session","id":"session_01","user_id":"user_01","expires_at":"` + now.Add(time.Hour).Format(time.RFC3339) + `"}}`,
		`{"id":"event_02","event":"user.deleted","created_at":"` + now.Format(time.RFC3339) + `","data":{"object":"user","id":"user_02"}}`,
		`{"id":"event_03","event":"organization_membership.updated","created_at":"` + now.Format(time.RFC3339) + `","data":{"object":"organization_membership","id":"om_03","user_id":"user_03","role":{"slug":"member"}}}`,
	}
	for _, body := range events {
		if r := deliver(t, a, body, webhookSecret, now); r.Status != http.StatusOK || r.Body != `{"outcome":"applied"}`+"\n" {
			t.Fatalf("delivery: %d %q", r.Status, r.Body)
		}
	}
	expectRefusal(t, a.get(t, "/", revokedSession), invalidToken)
	expectRefusal(t, a.get(t, "/", deleted), invalidToken)
	expectRefusal(t, a.get(t, "/", demoted), invalidToken)
	expectRefusal(t, b.awaitStatus(t, "/", http.StatusUnauthorized, 15*time.Second, demoted), invalidToken)
	after := time.Now().Add(2 * time.Second) // a token minted after the role change
	for _, p := range []*caddyProc{a, b} {
		expectRefusal(t, p.get(t, "/", revokedSession), invalidToken)
		expectRefusal(t, p.get(t, "/", deleted), invalidToken)
		expectPass(t, p.get(t, "/", otherSession), "ok user_01 session_02")
		expectPass(t, p.get(t, "/", sessionToken("user_03", "session_05", after)), "ok user_03 session_05")
		expectPass(t, p.get(t, "/", sdk), "ok svc_1 ")
	}
	listed := a.revocations(t)
	if len(listed.Revocations) != 3 {
		t.Fatalf("a lists %+v", listed.Revocations)
	}
	raw := a.adminCall(t, http.MethodGet, "/solo_auth/revocations", "").Body
	for _, id := range []string{"event_01", "event_02", "event_03"} {
		if !strings.Contains(raw, `"event":"`+id+`"`) {
			t.Errorf("the list does not name %s: %s", id, raw)
		}
	}

	// A retried delivery, to either instance: 200, nothing changes.
	for _, p := range []*caddyProc{a, b} {
		if r := deliver(t, p, events[0], webhookSecret, time.Now()); r.Status != http.StatusOK || r.Body != `{"outcome":"duplicate"}`+"\n" {
			t.Errorf("replay: %d %q", r.Status, r.Body)
		}
	}
	if n := len(a.revocations(t).Revocations); n != 3 {
		t.Errorf("%d entries after the replay, want 3", n)
	}
	// Lifted, the session's tokens pass again; a retry of its event,
	// which WorkOS sends for days after a failed delivery, does not put
	// it back: the event is remembered apart from its entry.
	sessionEntry := ""
	for _, e := range listed.Revocations {
		if e.SID == "session_01" {
			sessionEntry = e.ID
		}
	}
	if r := a.adminCall(t, http.MethodDelete, "/solo_auth/revocations/"+sessionEntry, ""); r.Status != http.StatusOK {
		t.Fatalf("lift: %d %s", r.Status, r.Body)
	}
	expectPass(t, a.get(t, "/", revokedSession), "ok user_01 session_01")
	// To A, which no longer holds the entry, in memory or in storage.
	if r := deliver(t, a, events[0], webhookSecret, time.Now()); r.Status != http.StatusOK || r.Body != `{"outcome":"duplicate"}`+"\n" {
		t.Errorf("replay after the lift: %d %q", r.Status, r.Body)
	}
	expectPass(t, b.awaitStatus(t, "/", http.StatusOK, 15*time.Second, revokedSession), "ok user_01 session_01")
	expectPass(t, a.get(t, "/", revokedSession), "ok user_01 session_01")
	if n := len(storedRevocations(t, s.DataDir)); n != 2 {
		t.Errorf("%d entries stored after the lift and replay, want 2", n)
	}
	markers, _ := filepath.Glob(filepath.Join(s.DataDir, "storage", "solo_auth", "events", "*", "*.json"))
	if len(markers) != 3 {
		t.Errorf("event markers %v, want one per event", markers)
	}

	metrics := a.adminCall(t, http.MethodGet, "/metrics", "").Body
	for _, line := range []string{
		`caddy_solo_auth_webhook_events_total{event="session.revoked",outcome="applied"} 1`,
		`caddy_solo_auth_webhook_events_total{event="session.revoked",outcome="duplicate"} 2`,
		`caddy_solo_auth_webhook_events_total{event="user.deleted",outcome="applied"} 1`,
	} {
		if !strings.Contains(metrics, line) {
			t.Errorf("metrics lack %s", line)
		}
	}
}

// TestWebhookCLI: `caddy solo-auth webhook` signs a test event as WorkOS
// does; the session's token is refused after it, a replay is answered as
// one, and a wrong secret is refused with 401.
func TestWebhookCLI(t *testing.T) {
	t.Parallel()
	workosKeys()
	jwks := newJWKSEndpoint(t, wkPub1)
	c := startCaddy(t, webhookSpec(jwks.URL))
	tok := sessionToken("user_cli", "session_cli", time.Now().Add(-time.Minute))
	expectPass(t, c.get(t, "/", tok), "ok user_cli session_cli")
	env := []string{"WORKOS_WEBHOOK_SECRET=" + webhookSecret}
	args := []string{"webhook", "--url", c.URL + "/webhooks/workos", "--event", "session.revoked",
		"--sid", "session_cli", "--user", "user_cli", "--event-id", "event_cli_1"}
	out := mustSoloAuthEnv(t, env, args...)
	if out != `200 {"outcome":"applied"}` {
		t.Errorf("first delivery: %q", out)
	}
	expectRefusal(t, c.get(t, "/", tok), invalidToken)
	if out := mustSoloAuthEnv(t, env, args...); out != `200 {"outcome":"duplicate"}` {
		t.Errorf("replay: %q", out)
	}
	stdout, _, err := soloAuthEnv(t, []string{"WORKOS_WEBHOOK_SECRET=whsec_wrong_secret_000000000000"}, args...)
	if err == nil || !strings.HasPrefix(stdout, "401 ") {
		t.Errorf("wrong secret: %q, %v", stdout, err)
	}
}

// TestWebhookDeliveriesAtOnce: one event delivered eight times at once to
// one instance is applied once: one 200 applied, seven duplicates, one
// file; a session that WorkOS says expires in 90 days is refused for 30.
func TestWebhookDeliveriesAtOnce(t *testing.T) {
	t.Parallel()
	workosKeys()
	jwks := newJWKSEndpoint(t, wkPub1)
	s := webhookSpec(jwks.URL)
	s.DataDir = t.TempDir()
	c := startCaddy(t, s)
	now := time.Now()
	body := `{"id":"event_20","event":"session.revoked","created_at":"` + now.Format(time.RFC3339) +
		`","data":{"object":"session","id":"session_20","user_id":"user_20","expires_at":"` + now.Add(90*24*time.Hour).Format(time.RFC3339) + `"}}`
	// The requests are built here and sent from goroutines without the
	// harness (whose failures must come from the test's goroutine).
	header := workos.Sign([]byte(webhookSecret), []byte(body), now)
	var wg sync.WaitGroup
	answers := make([]string, 8)
	for i := range answers {
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodPost, c.URL+"/webhooks/workos", strings.NewReader(body))
			req.Header.Set(workos.SignatureHeader, header)
			resp, err := client.Do(req)
			if err != nil {
				answers[i] = err.Error()
				return
			}
			defer resp.Body.Close()
			got, _ := io.ReadAll(resp.Body)
			answers[i] = fmt.Sprintf("%d %s", resp.StatusCode, strings.TrimSpace(string(got)))
		})
	}
	wg.Wait()
	count := map[string]int{}
	for _, a := range answers {
		count[a]++
	}
	if count[`200 {"outcome":"applied"}`] != 1 || count[`200 {"outcome":"duplicate"}`] != 7 {
		t.Errorf("answers %v, want 1 applied and 7 duplicate", count)
	}
	if files := storedRevocations(t, s.DataDir); len(files) != 1 {
		t.Errorf("storage holds %v, want one entry", files)
	}
	if markers, _ := filepath.Glob(filepath.Join(s.DataDir, "storage", "solo_auth", "events", "*", "*.json")); len(markers) != 1 {
		t.Errorf("event markers %v, want one", markers)
	}
	listed := c.revocations(t).Revocations
	if len(listed) != 1 || listed[0].SID != "session_20" {
		t.Fatalf("listed %+v", listed)
	}
	if limit := now.Add(30 * 24 * time.Hour); listed[0].Until.Before(limit.Add(-time.Minute)) || listed[0].Until.After(limit.Add(time.Minute)) {
		t.Errorf("until %v, want the 30-day cap %v", listed[0].Until, limit)
	}
	expectRefusal(t, c.get(t, "/", sessionToken("user_20", "session_20", now.Add(-time.Minute))), invalidToken)
}
