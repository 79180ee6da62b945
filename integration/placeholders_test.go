package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tu "github.com/solo-one/caddy-solo-auth/internal/testutil"
)

func soloClaims() tu.Claims {
	return tu.SDKClaims("user_123", "templates:read", "identity:prefill").With(
		"https://api.solo.one/workflow_id", "wf_42",
		"https://api.solo.one/stakeholder_name", "Ada Lovelace",
		"https://api.solo.one/stakeholder_type", "signer",
		"org_id", "org_7",
		"roles", []string{"a", "b"},
		"count", 3,
	)
}

func TestPlaceholdersInRespond(t *testing.T) {
	c := startCaddy(t, spec{
		Site: `	solo_auth {
		secret ` + secret + `
	}
	respond "id={http.auth.user.id}|sub={solo.sub}|type={solo.token_type}|perms={solo.permissions}|wf={solo.workflow_id}|name={solo.stakeholder_name}|stype={solo.stakeholder_type}|org={solo.claim.org_id}|roles={solo.claim.roles}|count={solo.claim.count}|absent={solo.claim.nope}|full={solo.claim.https://api.solo.one/workflow_id}"`,
	})
	r := c.get(t, "/", bearer(tu.HS256(secret, soloClaims())))
	want := "id=user_123|sub=user_123|type=sdk|perms=templates:read,identity:prefill|wf=wf_42|name=Ada Lovelace|stype=signer|org=org_7|roles=a,b|count=3|absent=|full=wf_42"
	expectPass(t, r, want)
}

// TestPlaceholdersAuthKit: a WorkOS AuthKit access token's claims reach a
// backend through header_up, under the placeholders the README lists:
// the session, organization, role and roles, entitlements and, while an
// admin impersonates the user, the impersonator. A token without them
// sends the headers empty (header_up sets what the placeholder gives).
func TestPlaceholdersAuthKit(t *testing.T) {
	t.Parallel()
	workosKeys()
	jwks := newJWKSEndpoint(t, wkPub1)
	backend := newRecordingBackend(t)
	c := startCaddy(t, spec{
		Global: `	solo_auth {
		jwks_url ` + jwks.URL + `
		secret ` + secret + `
	}`,
		Site: `	solo_auth
	reverse_proxy ` + backend.URL + ` {
		header_up X-Solo-Session {solo.sid}
		header_up X-Solo-Org {solo.org_id}
		header_up X-Solo-Role {solo.role}
		header_up X-Solo-Roles {solo.roles}
		header_up X-Solo-Entitlements {solo.entitlements}
		header_up X-Solo-Impersonator {solo.act_sub}
	}`,
	})
	claims := tu.SDKClaims("user_01H").With(
		"iss", "https://api.workos.com",
		"sid", "session_01H",
		"org_id", "org_01H",
		"role", "admin",
		"roles", []string{"admin", "billing"},
		"entitlements", []string{"audit-logs", "sso"},
		"act", map[string]any{"sub": "user_support_7"},
	)
	expectPass(t, c.get(t, "/", bearer(tu.RS256(wkKey1, "key_1", claims))), "backend")
	expectPass(t, c.get(t, "/", bearer(tu.HS256(secret, tu.SDKClaims("svc_1")))), "backend")
	seen := backend.requests()
	if len(seen) != 2 {
		t.Fatalf("backend got %d requests", len(seen))
	}
	want := map[string]string{
		"X-Solo-Session": "session_01H", "X-Solo-Org": "org_01H", "X-Solo-Role": "admin",
		"X-Solo-Roles": "admin,billing", "X-Solo-Entitlements": "audit-logs,sso",
		"X-Solo-Impersonator": "user_support_7",
	}
	for name, value := range want {
		if got := seen[0].Values(name); len(got) != 1 || got[0] != value {
			t.Errorf("AuthKit token: %s %q, want %q", name, got, value)
		}
		if got := seen[1].Values(name); len(got) > 1 || len(got) == 1 && got[0] != "" {
			t.Errorf("SDK token without the claim: %s %q, want it empty", name, got)
		}
	}
}

func TestPlaceholdersInMatchers(t *testing.T) {
	// Later handlers' matchers see the identity: a route can branch on
	// a claim after solo_auth has run.
	c := startCaddy(t, spec{
		Site: `	solo_auth {
		secret ` + secret + `
	}
	@signer expression {solo.stakeholder_type} == "signer"
	respond @signer "signer {solo.sub}"
	respond "other {solo.sub}"`,
	})
	expectPass(t, c.get(t, "/", bearer(tu.HS256(secret, soloClaims()))), "signer user_123")
	expectPass(t, c.get(t, "/", bearer(tu.HS256(secret, tu.SDKClaims("bob")))), "other bob")
}

// TestPlaceholdersThroughReverseProxy checks the main use: identity
// headers sent to a backend, overwriting whatever the client sent.
func TestPlaceholdersThroughReverseProxy(t *testing.T) {
	backend := newRecordingBackend(t)
	c := startCaddy(t, spec{
		Site: `	solo_auth /api/admin/* admin
	solo_auth {
		secret ` + secret + `
	}
	reverse_proxy ` + backend.URL + ` {
		header_up X-Solo-Subject {solo.sub}
		header_up X-Solo-Token-Type {solo.token_type}
		header_up X-Solo-Permissions {solo.permissions}
		header_up X-Solo-Workflow {solo.workflow_id}
		header_up X-Solo-Org {solo.claim.org_id}
		header_up -Authorization
	}`,
		Global: `	solo_auth {
		secret ` + secret + `
	}`,
	})

	r := c.get(t, "/api/thing", bearer(tu.HS256(secret, soloClaims())),
		"X-Solo-Subject: admin-impersonated", "X-Solo-Org: evil-org")
	expectPass(t, r, "backend")
	seen := backend.requests()
	if len(seen) != 1 {
		t.Fatalf("backend got %d requests", len(seen))
	}
	h := seen[0]
	want := map[string]string{
		"X-Solo-Subject":     "user_123",
		"X-Solo-Token-Type":  "sdk",
		"X-Solo-Permissions": "templates:read,identity:prefill",
		"X-Solo-Workflow":    "wf_42",
		"X-Solo-Org":         "org_7",
	}
	for name, value := range want {
		if got := h.Values(name); len(got) != 1 || got[0] != value {
			t.Errorf("backend saw %s: %q, want exactly %q", name, got, value)
		}
	}
	if h.Get("Authorization") != "" {
		t.Errorf("Authorization reached the backend although header_up removed it")
	}

	// A refused request never reaches the backend.
	expectRefusal(t, c.get(t, "/api/admin/x", bearer(tu.HS256(secret, soloClaims()))), forbidden("admin"))
	expectRefusal(t, c.get(t, "/api/thing"), notAuthenticated)
	if seen = backend.requests(); len(seen) != 1 {
		t.Errorf("refused requests reached the backend: %d requests", len(seen))
	}
}

func TestAccessLogRecordsUserID(t *testing.T) {
	dir := t.TempDir()
	logPath := filepath.Join(dir, "access.log")
	c := startCaddy(t, spec{
		Site: `	log {
		output file ` + logPath + `
		format json
	}
	solo_auth {
		secret ` + secret + `
	}
	respond "ok"`,
	})
	token := tu.HS256(secret, tu.SDKClaims("user_log_1"))
	expectPass(t, c.get(t, "/", bearer(token)), "ok")
	expectRefusal(t, c.get(t, "/", bearer(token+"x")), invalidToken)

	var entries []map[string]any
	deadline := time.Now().Add(10 * time.Second)
	for len(entries) < 2 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		data, _ := os.ReadFile(logPath)
		entries = entries[:0]
		for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			var e map[string]any
			if json.Unmarshal([]byte(line), &e) == nil {
				entries = append(entries, e)
			}
		}
	}
	if len(entries) != 2 {
		t.Fatalf("%d access log entries, want 2", len(entries))
	}
	if entries[0]["user_id"] != "user_log_1" {
		t.Errorf("access log user_id %v, want user_log_1", entries[0]["user_id"])
	}
	if uid, _ := entries[1]["user_id"].(string); uid != "" {
		t.Errorf("refused request logged with user_id %q", uid)
	}
	data, _ := os.ReadFile(logPath)
	sig := token[strings.LastIndexByte(token, '.')+1:]
	if strings.Contains(string(data), sig) {
		t.Errorf("the token appears in the access log")
	}
}
