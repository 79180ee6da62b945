package integration

// The second round's sub-directives in Caddy's JSON.

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	tu "github.com/solo-one/caddy-solo-auth/internal/testutil"
)

// TestBrowserJSONConfig: `caddy adapt` shows token_query, token_cookie,
// token_types and optional in JSON, Caddy runs the adapted JSON, and a
// JSON config written by hand with them works as the Caddyfile does.
func TestBrowserJSONConfig(t *testing.T) {
	t.Parallel()
	t.Run("adapted from a Caddyfile", func(t *testing.T) {
		workosKeys()
		e := newJWKSEndpoint(t, wkPub1)
		dir := t.TempDir()
		cf := filepath.Join(dir, "Caddyfile")
		port := freePort(t)
		err := os.WriteFile(cf, []byte(`{
	admin off
	auto_https off
	persist_config off
	solo_auth {
		secret {env.SOLO_SDK_SECRET}
		jwks_url `+e.URL+`
		token_query access_token
	}
}
http://127.0.0.1:`+itoa(int64(port))+` {
	solo_auth /machine/* {
		token_types sdk
		token_cookie tok
	}
	solo_auth /pub/* {
		optional
	}
	respond "src=[{solo.token_source}] sub=[{solo.sub}]"
}
`), 0o600)
		if err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(caddyBin, "adapt", "--config", cf, "--adapter", "caddyfile").CombinedOutput()
		if err != nil {
			t.Fatalf("caddy adapt: %v\n%s", err, out)
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, out); err != nil {
			t.Fatalf("%v:\n%s", err, out)
		}
		for _, want := range []string{`"token_query":"access_token"`, `"token_cookie":"tok"`, `"token_types":["sdk"]`, `"optional":true`} {
			if !strings.Contains(compact.String(), want) {
				t.Errorf("adapted config lacks %s:\n%s", want, compact.String())
			}
		}
		jsonPath := filepath.Join(dir, "caddy.json")
		if err := os.WriteFile(jsonPath, out, 0o600); err != nil {
			t.Fatal(err)
		}
		p := runConfigFile(t, jsonPath, "", port, "SOLO_SDK_SECRET="+secret)
		tok := tu.HS256(secret, tu.SDKClaims("j"))
		expectPass(t, p.get(t, "/machine/x?access_token="+tok), "src=[query] sub=[j]")
		expectPass(t, p.get(t, "/machine/x", "Cookie: tok="+tok), "src=[cookie] sub=[j]")
		expectRefusal(t, p.get(t, "/machine/x", bearer(workosToken(wkKey1, "key_1"))), invalidToken)
		expectRefusal(t, p.do(t, http.MethodPost, "/machine/x?access_token="+tok), notAuthenticated)
		expectPass(t, p.get(t, "/pub/x"), "src=[] sub=[]")
		expectPass(t, p.get(t, "/pub/x?access_token="+tok), "src=[query] sub=[j]")
		// The WorkOS token that /machine/* refuses passes where every kind
		// is accepted: token_types, not a missing key, refused it.
		expectPass(t, p.get(t, "/pub/x", bearer(workosToken(wkKey1, "key_1"))), "src=[header] sub=[user_01HWORKOS]")
		expectRefusal(t, p.get(t, "/pub/x?access_token=garbage"), invalidToken)
	})

	t.Run("written by hand", func(t *testing.T) {
		port := freePort(t)
		cfg := map[string]any{
			"admin": map[string]any{"disabled": true},
			"apps": map[string]any{"http": map[string]any{"servers": map[string]any{"s": map[string]any{
				"listen":          []string{"127.0.0.1:" + itoa(int64(port))},
				"automatic_https": map[string]any{"disable": true},
				"routes": []any{map[string]any{"handle": []any{
					map[string]any{
						"handler":      "solo_auth",
						"secrets":      []string{secret},
						"token_query":  "jwt",
						"token_cookie": "sess",
						"token_types":  []string{"sdk"},
						"optional":     true,
					},
					map[string]any{
						"handler": "static_response",
						"body":    "src=[{solo.token_source}] sub=[{solo.sub}] uri={http.request.uri}",
					},
				}}},
			}}}},
		}
		data, err := json.Marshal(cfg)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "caddy.json")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		p := runConfigFile(t, path, "", port)
		tok := tu.HS256(secret, tu.SDKClaims("h"))
		expectPass(t, p.get(t, "/x?a=1"), "src=[] sub=[] uri=/x?a=1")
		expectPass(t, p.get(t, "/x?jwt="+tok+"&a=1"), "src=[query] sub=[h] uri=/x?a=1")
		expectPass(t, p.get(t, "/x", "Cookie: sess="+tok), "src=[cookie] sub=[h] uri=/x")
		expectPass(t, p.get(t, "/x", bearer(tok)), "src=[header] sub=[h] uri=/x")
		expectPass(t, p.do(t, http.MethodPost, "/x?jwt="+tok), "src=[] sub=[] uri=/x")
		expectRefusal(t, p.get(t, "/x?jwt="+tok, bearer(tok)), invalidToken)
		expectRefusal(t, p.get(t, "/x?jwt=garbage"), invalidToken)
	})
}
