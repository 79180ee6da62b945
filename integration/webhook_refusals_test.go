package integration

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/solo-one/caddy-solo-auth/internal/workos"
)

// TestWebhookRefusals: a bad or missing signature is 401, a stale one 400
// (t in seconds too), an oversized body 413, a GET 405, a signed body that
// is not an applicable event 400; an unknown event is 200 and counted, an
// event past the 30-day cap 200 expired; none of them stores anything, and
// only the signed refusals are logged above debug, none quoting the body.
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
	expectPass(t, c.get(t, "/", sessionToken("user_09", "s", time.Now().Add(-time.Minute))), "ok user_09 s")
	logs := c.Logs()
	if strings.Contains(logs, webhookSecret) {
		t.Error("the webhook secret is in Caddy's logs")
	}
	if strings.Contains(logs, "body_value_x") {
		t.Error("a refusal's log quotes the body")
	}
	// Refusals without a good signature are logged at debug only: anyone
	// can send them. The signed ones are warnings: four bodies that are
	// not events, and three stale timestamps (a skewed clock here, or a
	// replayed delivery).
	warned := map[string]int{}
	for line := range strings.Lines(logs) {
		if strings.Contains(line, "delivery refused") && !strings.Contains(line, `"level":"debug"`) {
			switch {
			case strings.Contains(line, `"status":400`) && strings.Contains(line, "not a WorkOS event"):
				warned["invalid"]++
			case strings.Contains(line, `"status":400`) && strings.Contains(line, "outside the window"):
				warned["stale"]++
			default:
				t.Errorf("logged above debug: %s", line)
			}
		}
	}
	if warned["invalid"] != 4 || warned["stale"] != 3 {
		t.Errorf("refusals logged above debug: %v, want 4 invalid and 3 stale", warned)
	}
	metrics := c.adminCall(t, http.MethodGet, "/metrics", "").Body
	if !strings.Contains(metrics, `caddy_solo_auth_webhook_events_total{event="other",outcome="ignored"}`) {
		t.Error("the unknown event is not counted under event=\"other\"")
	}
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
