package integration

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestKeygenTokenThroughCaddy: the whole WorkOS path without a WorkOS
// account. The built Caddy's keygen writes a key pair, its token --rs256
// mints a token, a route trusting the written JWK set lets it through as
// a WorkOS token, and inspect --jwks-file agrees.
func TestKeygenTokenThroughCaddy(t *testing.T) {
	dir := t.TempDir()
	keyPath, jwksPath := filepath.Join(dir, "dev.key"), filepath.Join(dir, "dev-jwks.json")
	out := mustSoloAuth(t, "keygen", "--kid", "dev-1", "--key", keyPath, "--jwks", jwksPath)
	if !strings.Contains(out, jwksPath) {
		t.Errorf("keygen printed %q", out)
	}
	if fi, err := os.Stat(keyPath); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, %v", fi, err)
	}
	written, _ := os.ReadFile(keyPath)
	if _, errOut, err := soloAuth(t, "keygen", "--kid", "dev-2", "--key", keyPath, "--jwks", jwksPath); err == nil ||
		!strings.Contains(errOut, keyPath) || !strings.Contains(errOut, "--force") {
		t.Fatalf("keygen over existing files: %v\n%s", err, errOut)
	}
	if again, _ := os.ReadFile(keyPath); !bytes.Equal(again, written) {
		t.Fatal("a refused keygen changed the key file")
	}

	token := mustSoloAuth(t, "token", "--rs256", "--key", keyPath, "--kid", "dev-1", "--sub", "user_01",
		"--sid", "session_01", "--org-id", "org_7", "--role", "admin", "--permissions", "templates:read")
	// Another key under the same kid, as a forger would make.
	otherDir := t.TempDir()
	mustSoloAuth(t, "keygen", "--kid", "dev-1", "--key", filepath.Join(otherDir, "k"), "--jwks", filepath.Join(otherDir, "j"))
	forged := mustSoloAuth(t, "token", "--rs256", "--key", filepath.Join(otherDir, "k"), "--kid", "dev-1", "--sub", "user_01",
		"--permissions", "templates:read")
	unknownKid := mustSoloAuth(t, "token", "--rs256", "--key", keyPath, "--kid", "dev-9", "--sub", "user_01",
		"--permissions", "templates:read")

	// The route trusts the JWK set keygen wrote, read as a local file.
	keySource := "jwks_file " + jwksPath

	backend := newRecordingBackend(t)
	c := startCaddy(t, spec{Site: `	solo_auth templates:read {
		` + keySource + `
	}
	reverse_proxy ` + backend.URL + ` {
		header_up X-Solo-Subject {solo.sub}
		header_up X-Solo-Token-Type {solo.token_type}
		header_up X-Solo-Sid {solo.claim.sid}
		header_up X-Solo-Org {solo.claim.org_id}
		header_up X-Solo-Role {solo.claim.role}
	}`})

	expectPass(t, c.get(t, "/api/templates", bearer(token)), "backend")
	seen := backend.requests()
	if len(seen) != 1 {
		t.Fatalf("backend got %d requests", len(seen))
	}
	for name, want := range map[string]string{
		"X-Solo-Subject": "user_01", "X-Solo-Token-Type": "workos", "X-Solo-Sid": "session_01",
		"X-Solo-Org": "org_7", "X-Solo-Role": "admin",
	} {
		if got := seen[0].Values(name); len(got) != 1 || got[0] != want {
			t.Errorf("backend saw %s: %q, want %q", name, got, want)
		}
	}
	expectRefusal(t, c.get(t, "/api/templates", bearer(forged)), invalidToken)
	expectRefusal(t, c.get(t, "/api/templates", bearer(unknownKid)), invalidToken)
	if n := len(backend.requests()); n != 1 {
		t.Fatalf("refused tokens reached the backend: %d requests", n)
	}

	for _, tt := range []struct{ name, token, want string }{
		{"good", token, "decision: pass: sub=user_01 token_type=workos permissions=templates:read"},
		{"forged", forged, "decision: 401 Invalid token (bad signature)"},
	} {
		out := mustSoloAuth(t, "inspect", "--jwks-file", jwksPath, "--scopes", "templates:read", tt.token)
		if !strings.Contains(out, tt.want) {
			t.Errorf("inspect %s:\n%s\nwant a line with %q", tt.name, out, tt.want)
		}
	}
	if out := mustSoloAuth(t, "inspect", "--jwks-file", jwksPath, token); !strings.Contains(out, `"sid":"session_01"`) {
		t.Errorf("inspect shows no sid claim:\n%s", out)
	}
	if _, errOut, err := soloAuth(t, "inspect", "--jwks-file", keyPath, token); err == nil ||
		!strings.Contains(errOut, "--jwks-file: "+keyPath+": not a JWK set") {
		t.Errorf("inspect with the private key as JWK set: %v\n%s", err, errOut)
	}
}
