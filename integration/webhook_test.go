package integration

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
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

// deliverWithHeader posts an event body with the signature header given.
func deliverWithHeader(t *testing.T, c *caddyProc, body, header string) reply {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, c.URL+"/webhooks/workos", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set(workos.SignatureHeader, header)
	return send(t, req)
}

// signAt signs as WorkOS's scheme does, written out here apart from
// workos.Sign, with the timestamp as given.
func signAt(secret, body, ts string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "." + body))
	return "t=" + ts + ", v1=" + hex.EncodeToString(mac.Sum(nil))
}

// storedRevocations is the revocation files in a Caddy's data folder.
func storedRevocations(t *testing.T, dataDir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dataDir, "storage", "solo_auth", "revocations", "*"))
	if err != nil {
		t.Fatal(err)
	}
	return files
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
	metrics := a.adminCall(t, http.MethodGet, "/metrics", "").Body
	for _, line := range []string{
		`caddy_solo_auth_webhook_events_total{event="session.revoked",outcome="applied"} 1`,
		`caddy_solo_auth_webhook_events_total{event="session.revoked",outcome="duplicate"} 1`,
		`caddy_solo_auth_webhook_events_total{event="user.deleted",outcome="applied"} 1`,
	} {
		if !strings.Contains(metrics, line) {
			t.Errorf("metrics lack %s", line)
		}
	}
}

// TestWebhookRefusals: a bad or missing signature is 401, a stale one 400,
// an oversized body 413, a GET 405; an unknown event is 200 and counted;
// none of them stores anything.
func TestWebhookRefusals(t *testing.T) {
	t.Parallel()
	workosKeys()
	jwks := newJWKSEndpoint(t, wkPub1)
	s := webhookSpec(jwks.URL)
	s.DataDir = t.TempDir()
	c := startCaddy(t, s)
	now := time.Now()
	monthAgo := now.Add(-31 * 24 * time.Hour).Format(time.RFC3339)
	body := `{"id":"event_09","event":"user.deleted","created_at":"` + now.Format(time.RFC3339) + `","data":{"id":"user_09"}}`
	huge := `{"id":"event_10","event":"user.deleted","data":{"id":"user_10","pad":"` + strings.Repeat("x", 1<<20) + `"}}`
	for _, tt := range []struct {
		name   string
		body   string
		secret string
		at     time.Time
		status int
		answer string
		header string // replaces the signature header the secret makes
	}{
		{"no signature", body, "", now, 401, `{"error":"bad or missing signature","outcome":"refused"}`, ""},
		{"another secret", body, "whsec_attacker_secret_0000000000", now, 401, `{"error":"bad or missing signature","outcome":"refused"}`, ""},
		{"stale", body, webhookSecret, now.Add(-200 * time.Second), 400, `{"error":"signature timestamp outside the window","outcome":"stale"}`, ""},
		{"from the future", body, webhookSecret, now.Add(200 * time.Second), 400, `{"error":"signature timestamp outside the window","outcome":"stale"}`, ""},
		{"over 1 MiB", huge, webhookSecret, now, 413, `{"error":"body over 1 MiB","outcome":"refused"}`, ""},
		{"unknown event", `{"id":"event_11","event":"user.created","data":{"id":"user_11"}}`, webhookSecret, now, 200, `{"outcome":"ignored"}`, ""},
		{"unknown event with an odd created_at", `{"id":"event_12","event":"user.created","created_at":"yesterday"}`, webhookSecret, now, 200, `{"outcome":"ignored"}`, ""},
		{"not an event", `{"hello":1}`, webhookSecret, now, 400, `{"error":"not a WorkOS event: id and event are required","outcome":"invalid"}`, ""},
		{"data missing", `{"id":"event_13","event":"user.deleted"}`, webhookSecret, now, 400,
			`{"error":"not a WorkOS event: user.deleted: data is not the object the event is about","outcome":"invalid"}`, ""},
		{"data null", `{"id":"event_14","event":"session.revoked","data":null}`, webhookSecret, now, 400,
			`{"error":"not a WorkOS event: session.revoked: data is not the object the event is about","outcome":"invalid"}`, ""},
		{"created_at not a time", `{"id":"event_15","event":"user.deleted","created_at":"body_value_x","data":{"id":"user_15"}}`, webhookSecret, now, 400,
			`{"error":"not a WorkOS event: created_at is not an RFC 3339 time","outcome":"invalid"}`, ""},
		{"an event older than the 30-day cap", `{"id":"event_16","event":"user.deleted","created_at":"` + monthAgo + `","data":{"id":"user_16"}}`, webhookSecret, now, 200,
			`{"outcome":"expired"}`, ""},
		{"t in seconds, signed", body, "", now, 400, `{"error":"signature timestamp outside the window","outcome":"stale"}`,
			signAt(webhookSecret, body, strconv.FormatInt(now.Unix(), 10))},
		{"signed over another body", body, "", now, 401, `{"error":"bad or missing signature","outcome":"refused"}`,
			signAt(webhookSecret, `{"id":"event_x"}`, strconv.FormatInt(now.UnixMilli(), 10))},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var r reply
			if tt.header != "" {
				r = deliverWithHeader(t, c, tt.body, tt.header)
			} else {
				r = deliver(t, c, tt.body, tt.secret, tt.at)
			}
			if r.Status != tt.status || (tt.answer != "" && r.Body != tt.answer+"\n") {
				t.Errorf("%d %q, want %d %q", r.Status, r.Body, tt.status, tt.answer)
			}
		})
	}
	if r := c.get(t, "/webhooks/workos"); r.Status != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d %q", r.Status, r.Body)
	}
	if n := len(c.revocations(t).Revocations); n != 0 {
		t.Errorf("%d entries stored by refused deliveries", n)
	}
	if files := storedRevocations(t, s.DataDir); len(files) != 0 {
		t.Errorf("storage holds %v after refused deliveries", files)
	}
	logs := c.Logs()
	if strings.Contains(logs, "body_value_x") {
		t.Error("a refusal's log quotes the body")
	}
	// Unsigned refusals are logged at debug only: anyone can send them.
	// The four signed bodies that cannot be applied are warnings.
	warned := 0
	for line := range strings.Lines(logs) {
		if strings.Contains(line, "delivery refused") && !strings.Contains(line, `"level":"debug"`) {
			warned++
			if !strings.Contains(line, `"status":400`) || !strings.Contains(line, "not a WorkOS event") {
				t.Errorf("logged above debug: %s", line)
			}
		}
	}
	if warned != 4 {
		t.Errorf("%d refusals logged above debug, want the 4 signed bodies that are not events", warned)
	}
	metrics := c.adminCall(t, http.MethodGet, "/metrics", "").Body
	if !strings.Contains(metrics, `caddy_solo_auth_webhook_events_total{event="other",outcome="ignored"}`) {
		t.Error(fmt.Sprintf("the unknown event is not counted as other: %s", "caddy_solo_auth_webhook_events_total"))
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
	var wg sync.WaitGroup
	answers := make([]reply, 8)
	for i := range answers {
		wg.Go(func() { answers[i] = deliver(t, c, body, webhookSecret, now) })
	}
	wg.Wait()
	count := map[string]int{}
	for _, r := range answers {
		if r.Status != http.StatusOK {
			t.Errorf("delivery: %d %q", r.Status, r.Body)
		}
		count[strings.TrimSpace(r.Body)]++
	}
	if count[`{"outcome":"applied"}`] != 1 || count[`{"outcome":"duplicate"}`] != 7 {
		t.Errorf("answers %v, want 1 applied and 7 duplicate", count)
	}
	if files := storedRevocations(t, s.DataDir); len(files) != 1 {
		t.Errorf("storage holds %v, want one entry", files)
	}
	listed := c.revocations(t).Revocations
	if len(listed) != 1 || listed[0].SID != "session_20" {
		t.Fatalf("listed %+v", listed)
	}
	if cap := now.Add(30 * 24 * time.Hour); listed[0].Until.Before(cap.Add(-time.Minute)) || listed[0].Until.After(cap.Add(time.Minute)) {
		t.Errorf("until %v, want the 30-day cap %v", listed[0].Until, cap)
	}
	expectRefusal(t, c.get(t, "/", sessionToken("user_20", "session_20", now.Add(-time.Minute))), invalidToken)
}
