package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	tu "github.com/solo-one/caddy-solo-auth/internal/testutil"
)

// TestCaddyfileExample runs the README's Caddyfile.example, on free ports
// instead of its fixed ones, and makes the requests the quick start shows.
func TestCaddyfileExample(t *testing.T) {
	raw, err := os.ReadFile("../Caddyfile.example")
	if err != nil {
		t.Fatal(err)
	}
	gw, backend := freePort(t), freePort(t)
	dir := t.TempDir()
	// The development key pair scripts/demo.sh makes on first run.
	keyPath, jwksPath := filepath.Join(dir, "dev.key"), filepath.Join(dir, "dev-jwks.json")
	mustSoloAuth(t, "keygen", "--kid", "demo-dev-1", "--key", keyPath, "--jwks", jwksPath)
	cf := string(raw)
	for old, new := range map[string]string{
		"jwks_file demo-keys/dev-jwks.json": "jwks_file " + jwksPath,
		"localhost:8080":                    fmt.Sprintf("127.0.0.1:%d", gw),
		"127.0.0.1:9080":                    fmt.Sprintf("127.0.0.1:%d", backend),
		"http://:9080":                      fmt.Sprintf("http://:%d", backend),
		"\tauto_https off":                  "\tauto_https off\n\tadmin off\n\tpersist_config off",
	} {
		if !strings.Contains(cf, old) {
			t.Fatalf("Caddyfile.example no longer contains %q; update this test", old)
		}
		cf = strings.ReplaceAll(cf, old, new)
	}
	path := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(path, []byte(cf), 0o600); err != nil {
		t.Fatal(err)
	}
	const demoSecret = "demo-secret-not-for-production-0123456789"
	demoEnv := []string{"SOLO_SDK_SECRET=" + demoSecret}
	const demoWebhookSecret = "whsec_demo_not_for_production"
	p := runConfigFile(t, path, "caddyfile", gw, "SOLO_SDK_SECRET="+demoSecret, "WORKOS_WEBHOOK_SECRET="+demoWebhookSecret)

	// The tokens the quick start mints with `caddy solo-auth token`.
	token := mustSoloAuthEnv(t, demoEnv, "token",
		"--sub", "user_123", "--permissions", "templates:read,identity:prefill", "--workflow-id", "wf_1")
	workos := mustSoloAuthEnv(t, demoEnv, "token", "--rs256", "--key", keyPath, "--kid", "demo-dev-1",
		"--sub", "user_456", "--sid", "session_demo", "--permissions", "templates:read")

	expectPass(t, p.get(t, "/api/templates/identity_prefill/42", bearer(token), "X-Solo-Subject: spoofed"),
		`{"path":"/api/templates/identity_prefill/42","subject":"user_123","token_type":"sdk","permissions":"templates:read,identity:prefill","workflow_id":"wf_1"}`)
	expectRefusal(t, p.get(t, "/api/admin/users", bearer(token)), forbidden("admin"))
	expectRefusal(t, p.get(t, "/api/templates"), notAuthenticated)
	expectRefusal(t, p.get(t, "/anything-else"), notAuthenticated)
	expectPass(t, p.get(t, "/health"), "ok")
	// Both token kinds; the dashboard's API takes WorkOS tokens only.
	expectPass(t, p.get(t, "/api/dashboard/home", bearer(workos)),
		`{"path":"/api/dashboard/home","subject":"user_456","token_type":"workos","permissions":"templates:read","workflow_id":""}`)
	expectRefusal(t, p.get(t, "/api/dashboard/home", bearer(token)), invalidToken)
	expectRefusal(t, p.get(t, "/api/admin/users", bearer(workos)), forbidden("admin"))
	// The session's sign-out, as WorkOS would send it (the README's
	// command): the WorkOS token is refused from then on, the SDK token
	// is not.
	out := mustSoloAuthEnv(t, []string{"WORKOS_WEBHOOK_SECRET=" + demoWebhookSecret}, "webhook",
		"--url", p.URL+"/webhooks/workos", "--event", "session.revoked", "--sid", "session_demo", "--user", "user_456")
	if out != `200 {"outcome":"applied"}` {
		t.Errorf("webhook: %q", out)
	}
	expectRefusal(t, p.get(t, "/api/dashboard/home", bearer(workos)), invalidToken)
	expectPass(t, p.get(t, "/api/templates/identity_prefill/42", bearer(token)),
		`{"path":"/api/templates/identity_prefill/42","subject":"user_123","token_type":"sdk","permissions":"templates:read,identity:prefill","workflow_id":"wf_1"}`)
	admin := tu.HS256(demoSecret, tu.SDKClaims("ops", "admin"))
	if r := p.get(t, "/api/admin/users", bearer(admin)); r.Status != 200 || !strings.Contains(r.Body, `"subject":"ops"`) {
		t.Errorf("admin token: %d %q", r.Status, r.Body)
	}
}
