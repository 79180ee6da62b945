package integration

// The access-log filter the README shows for a query token, on a real
// Caddy that writes its access log to a file.

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tu "github.com/solo-one/caddy-solo-auth/internal/testutil"
)

// readAccessLog waits until the file holds n JSON lines and returns them
// with the raw text.
func readAccessLog(t *testing.T, path string, n int) ([]map[string]any, string) {
	t.Helper()
	var entries []map[string]any
	var data []byte
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		data, _ = os.ReadFile(path)
		entries = entries[:0]
		for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			var e map[string]any
			if json.Unmarshal([]byte(line), &e) == nil {
				entries = append(entries, e)
			}
		}
		if len(entries) >= n {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(entries) != n {
		t.Fatalf("%d access log entries, want %d:\n%s", len(entries), n, data)
	}
	return entries, string(data)
}

func requestField(e map[string]any, name string) string {
	req, _ := e["request"].(map[string]any)
	s, _ := req[name].(string)
	return s
}

// TestAccessLogQueryFilter: with the README's `format filter` for the
// access_token parameter, no token reaches the access log, and the user
// is recorded.
func TestAccessLogQueryFilter(t *testing.T) {
	t.Parallel()
	logPath := filepath.Join(t.TempDir(), "access.log")
	c := startCaddy(t, spec{
		Site: `	log {
		output file ` + logPath + `
		format filter {
			request>uri query {
				delete access_token
			}
		}
	}
	solo_auth {
		secret ` + secret + `
		token_query access_token
		token_cookie tok
	}
	respond "ok {solo.sub}"`,
	})
	good := tu.HS256(secret, tu.SDKClaims("user_q"))
	forged := tu.HS256(otherSecret, tu.SDKClaims("user_f"))
	header := tu.HS256(secret, tu.SDKClaims("user_h"))
	ignored := tu.HS256(secret, tu.SDKClaims("user_i"))
	cookie := tu.HS256(secret, tu.SDKClaims("user_c"))

	expectPass(t, c.get(t, "/p?a=1&access_token="+good+"&b=2"), "ok user_q")
	expectRefusal(t, c.get(t, "/p?access_token="+forged), invalidToken)
	expectPass(t, c.do(t, http.MethodPost, "/p?access_token="+ignored, bearer(header)), "ok user_h")
	expectPass(t, c.get(t, "/p", "Cookie: a=1; tok="+cookie), "ok user_c")

	entries, raw := readAccessLog(t, logPath, 4)
	for _, tok := range []string{good, forged, header, ignored, cookie} {
		if strings.Contains(raw, sigOf(tok)) {
			t.Errorf("a token appears in the access log:\n%s", raw)
		}
		if strings.Contains(raw, "access_token="+tok[:10]) {
			t.Errorf("access_token=<token> appears in the access log:\n%s", raw)
		}
	}
	wantURI := []string{"/p?a=1&b=2", "/p", "/p", "/p"}
	wantUser := []string{"user_q", "", "user_h", "user_c"}
	for i, e := range entries {
		if got := requestField(e, "uri"); got != wantURI[i] {
			t.Errorf("entry %d: uri %q, want %q", i, got, wantURI[i])
		}
		if got, _ := e["user_id"].(string); got != wantUser[i] {
			t.Errorf("entry %d: user_id %q, want %q", i, got, wantUser[i])
		}
	}
	expectNoTokenInLogs(t, c, good, forged, header, ignored, cookie)
}

// TestAccessLogRefusalReason: {solo.error_reason} is set on every
// refusal, not only in report_only, so that an access log records why a
// request was refused with log_append. A request that passes records an
// empty reason.
func TestAccessLogRefusalReason(t *testing.T) {
	t.Parallel()
	logPath := filepath.Join(t.TempDir(), "access.log")
	c := startCaddy(t, spec{
		Site: `	log {
		output file ` + logPath + `
		format json
	}
	log_append solo_reason {solo.error_reason}
	solo_auth /admin/* admin
	solo_auth
	respond "ok {solo.sub}"`,
		Global: `	solo_auth {
		secret ` + secret + `
	}`,
	})
	good := bearer(tu.HS256(secret, tu.SDKClaims("alice")))
	cases := []struct {
		path, auth string
		status     int
		reason     string
	}{
		{"/", "", http.StatusUnauthorized, "no bearer token"},
		{"/", bearer(tu.HS256(strings.Repeat("x", 32), tu.SDKClaims("alice"))), http.StatusUnauthorized, "bad signature"},
		{"/", bearer(tu.HS256(secret, tu.SDKClaims("alice").With("exp", time.Now().Add(-time.Hour).Unix()))), http.StatusUnauthorized, "expired"},
		{"/admin/x", good, http.StatusForbidden, "missing scopes: admin"},
		{"/", good, http.StatusOK, ""},
	}
	for _, tc := range cases {
		var r reply
		if tc.auth == "" {
			r = c.get(t, tc.path)
		} else {
			r = c.get(t, tc.path, tc.auth)
		}
		if r.Status != tc.status {
			t.Fatalf("%s: %d %q, want %d", tc.reason, r.Status, r.Body, tc.status)
		}
	}
	entries, _ := readAccessLog(t, logPath, len(cases))
	for i, tc := range cases {
		if got, _ := entries[i]["solo_reason"].(string); got != tc.reason {
			t.Errorf("request %d (%d): solo_reason %q, want %q", i, tc.status, got, tc.reason)
		}
	}
}
