package integration

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tu "github.com/solo-one/caddy-solo-auth/internal/testutil"
)

func TestGlobalOptionDefaults(t *testing.T) {
	c := startCaddy(t, spec{
		Env: []string{"SOLO_SDK_SECRET=" + secret},
		Global: `	solo_auth {
		secret {env.SOLO_SDK_SECRET}
		scopes base
	}`,
		Site: `	solo_auth /own/* own {
		secret ` + otherSecret + `
	}
	solo_auth /admin/* admin
	solo_auth
	respond "ok {solo.sub}"`,
	})
	globalToken := tu.HS256(secret, tu.SDKClaims("g", "base", "admin", "own"))
	ownToken := tu.HS256(otherSecret, tu.SDKClaims("o", "base", "own"))

	// The global secret and the global scope apply where the directive
	// sets neither.
	expectPass(t, c.get(t, "/", bearer(globalToken)), "ok g")
	expectRefusal(t, c.get(t, "/", bearer(tu.HS256(secret, tu.SDKClaims("g", "admin")))), forbidden("base"))
	// Scopes add to the global ones.
	expectPass(t, c.get(t, "/admin/x", bearer(globalToken)), "ok g")
	expectRefusal(t, c.get(t, "/admin/x", bearer(tu.HS256(secret, tu.SDKClaims("g", "admin")))), forbidden("base admin"))
	// A directive's own secret replaces the global one on its route.
	expectRefusal(t, c.get(t, "/own/x", bearer(globalToken)), invalidToken)
	// /own/* is also under the catch-all `solo_auth`, which keeps the
	// global secret: both must pass, so no token gets through there.
	expectRefusal(t, c.get(t, "/own/x", bearer(ownToken)), invalidToken)
}

func TestSecretRotation(t *testing.T) {
	c := startCaddy(t, spec{
		Site: `	solo_auth {
		secret ` + secret + `
		secret ` + otherSecret + `
	}
	respond "ok {solo.sub}"`,
	})
	expectPass(t, c.get(t, "/", bearer(tu.HS256(secret, tu.SDKClaims("old")))), "ok old")
	expectPass(t, c.get(t, "/", bearer(tu.HS256(otherSecret, tu.SDKClaims("new")))), "ok new")
	expectRefusal(t, c.get(t, "/", bearer(tu.HS256("a-third-secret-nobody-configured-here", tu.SDKClaims("x")))), invalidToken)
}

func TestSecretFromFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := startCaddy(t, spec{
		Site: `	solo_auth {
		secret {file.` + path + `}
	}
	respond "ok {solo.sub}"`,
	})
	expectPass(t, c.get(t, "/", bearer(tu.HS256(secret, tu.SDKClaims("f")))), "ok f")
}

func TestLeeway(t *testing.T) {
	c := startCaddy(t, spec{
		Site: `	solo_auth /strict/* {
		secret ` + secret + `
		leeway 0s
	}
	solo_auth /loose/* {
		secret ` + secret + `
		leeway 2m
	}
	solo_auth /default/* {
		secret ` + secret + `
	}
	respond "ok"`,
	})
	// Each check below has at least 9 s (the nbf and iat ones on the
	// strict route, where a token minted at now may be used until a
	// second before the claim) before the clock could change its answer.
	now := time.Now()
	expiredBy := func(d time.Duration) string {
		return bearer(tu.HS256(secret, tu.SDKClaims("a").With("exp", now.Add(-d).Unix())))
	}
	notBefore := func(d time.Duration) string {
		return bearer(tu.HS256(secret, tu.SDKClaims("a").With("nbf", now.Add(d).Unix())))
	}
	issuedIn := func(d time.Duration) string {
		return bearer(tu.HS256(secret, tu.SDKClaims("a").With("iat", now.Add(d).Unix())))
	}
	expectRefusal(t, c.get(t, "/strict/", expiredBy(3*time.Second)), tokenExpired)
	expectRefusal(t, c.get(t, "/default/", expiredBy(45*time.Second)), tokenExpired)
	expectPass(t, c.get(t, "/default/", expiredBy(15*time.Second)), "ok")
	expectPass(t, c.get(t, "/loose/", expiredBy(90*time.Second)), "ok")
	expectRefusal(t, c.get(t, "/loose/", expiredBy(3*time.Minute)), tokenExpired)

	expectRefusal(t, c.get(t, "/strict/", notBefore(10*time.Second)), invalidToken)
	expectPass(t, c.get(t, "/default/", notBefore(15*time.Second)), "ok")
	expectRefusal(t, c.get(t, "/default/", notBefore(45*time.Second)), invalidToken)
	expectPass(t, c.get(t, "/loose/", notBefore(90*time.Second)), "ok")

	expectRefusal(t, c.get(t, "/strict/", issuedIn(10*time.Second)), invalidToken)
	expectPass(t, c.get(t, "/default/", issuedIn(15*time.Second)), "ok")
	expectRefusal(t, c.get(t, "/default/", issuedIn(45*time.Second)), invalidToken)
}

func TestIssuerAndAudience(t *testing.T) {
	c := startCaddy(t, spec{
		Site: `	solo_auth {
		secret ` + secret + `
		issuer https://auth.solo.one https://legacy.solo.one https://api.workos.com/
		audience solo-api solo-web
	}
	respond "ok"`,
	})
	claims := tu.SDKClaims("a")
	cases := []struct {
		name   string
		claims tu.Claims
		pass   bool
	}{
		{"listed issuer, audience string", claims.With("iss", "https://legacy.solo.one", "aud", "solo-web"), true},
		{"audience array containing one", claims.With("iss", "https://auth.solo.one", "aud", []string{"other", "solo-api"}), true},
		{"issuer not listed", claims.With("iss", "https://evil.example", "aud", "solo-api"), false},
		{"issuer missing", claims.With("aud", "solo-api"), false},
		{"audience not listed", claims.With("iss", "https://auth.solo.one", "aud", []string{"other"}), false},
		{"audience missing", claims.With("iss", "https://auth.solo.one"), false},
		{"issuer not a string", claims.With("iss", []string{"https://auth.solo.one"}, "aud", "solo-api"), false},
		// One trailing slash, on either side, names the same issuer.
		{"issuer with a slash the config lacks", claims.With("iss", "https://auth.solo.one/", "aud", "solo-api"), true},
		{"issuer without the config's slash", claims.With("iss", "https://api.workos.com", "aud", "solo-api"), true},
		{"issuer with two slashes", claims.With("iss", "https://auth.solo.one//", "aud", "solo-api"), false},
		{"issuer with a path", claims.With("iss", "https://api.workos.com/x", "aud", "solo-api"), false},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			r := c.get(t, "/", bearer(tu.HS256(secret, tt.claims)))
			if tt.pass {
				expectPass(t, r, "ok")
			} else {
				expectRefusal(t, r, invalidToken)
			}
		})
	}
}

// TestConfigErrorsStopCaddy runs the real binary on bad configs: each must
// stop Caddy at start-up with a message naming the sub-directive.
func TestConfigErrorsStopCaddy(t *testing.T) {
	cases := []struct {
		name string
		s    spec
		want string
	}{
		{"no key source", spec{Site: "	solo_auth admin\n	respond ok"}, "no key source"},
		{"short secret", spec{Site: "	solo_auth {\n		secret short-secret\n	}"}, "secret: 12 bytes"},
		{"short secret from the environment", spec{
			Env:  []string{"SOLO_SHORT=abc"},
			Site: "	solo_auth {\n		secret {env.SOLO_SHORT}\n	}",
		}, "secret: secret #1 (from {env.SOLO_SHORT}) is 3 bytes"},
		{"unknown sub-directive", spec{Site: "	solo_auth {\n		secret " + secret + "\n		permissions admin\n	}"}, `unknown sub-directive 'permissions'`},
		{"malformed leeway", spec{Site: "	solo_auth {\n		secret " + secret + "\n		leeway 30 seconds\n	}"}, "leeway: want exactly one duration"},
		{"malformed jwks_refresh", spec{Site: "	solo_auth {\n		secret " + secret + "\n		jwks_refresh hourly\n	}"}, `jwks_refresh: malformed duration 'hourly'`},
		{"malformed jwks_url", spec{Site: "	solo_auth {\n		jwks_url ://nope\n	}"}, "jwks_url: invalid URL"},
		{"webhook without a secret", spec{Site: "	solo_auth_webhook"}, "secret: required"},
		{"webhook with an unknown sub-directive", spec{Site: "	solo_auth_webhook {\n		secret whsec_x\n		signing_key y\n	}"}, "solo_auth_webhook: unknown sub-directive (want secret)"},
		{"webhook secret as an argument", spec{Site: "	solo_auth_webhook whsec_leaked_0123456789"}, "solo_auth_webhook: takes no arguments"},
		{"webhook secret as a bare line", spec{Site: "	solo_auth_webhook {\n		whsec_leaked_0123456789\n	}"}, "solo_auth_webhook: unknown sub-directive (want secret)"},
		{"webhook secret from an empty variable", spec{Site: "	solo_auth_webhook {\n		secret {env.SOLO_UNSET_WEBHOOK_SECRET}\n	}"}, "secret: secret #1 is empty"},
		{"unknown sub-directive in the global option", spec{
			Global: "	solo_auth {\n		secert " + secret + "\n	}",
			Site:   "	solo_auth",
		}, `unknown sub-directive 'secert'`},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			out := runCaddyExpectFailure(t, tt.s)
			if !strings.Contains(out, tt.want) {
				t.Fatalf("output does not contain %q:\n%s", tt.want, out)
			}
			if strings.Contains(out, secret) || strings.Contains(out, "whsec_leaked") {
				t.Fatalf("Caddy printed the secret:\n%s", out)
			}
		})
	}
}

// TestJSONConfig checks that `caddy adapt` shows the handler in JSON and
// that Caddy runs the same config from JSON.
func TestJSONConfig(t *testing.T) {
	dir := t.TempDir()
	cf := filepath.Join(dir, "Caddyfile")
	port := freePort(t)
	err := os.WriteFile(cf, []byte(`{
	admin off
	auto_https off
	persist_config off
	solo_auth {
		secret {env.SOLO_SDK_SECRET}
		leeway 10s
	}
}
http://127.0.0.1:`+itoa(int64(port))+` {
	solo_auth /admin/* admin {
		issuer https://auth.solo.one
	}
	respond "ok {solo.sub}"
}
`), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(caddyBin, "adapt", "--config", cf, "--adapter", "caddyfile").Output()
	if err != nil {
		t.Fatal(err)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, out); err != nil {
		t.Fatal(err)
	}
	want := `{"handler":"solo_auth","issuers":["https://auth.solo.one"],"leeway":10000000000,"scopes":["admin"],"secrets":["{env.SOLO_SDK_SECRET}"]}`
	if !strings.Contains(compact.String(), want) {
		t.Fatalf("adapted config lacks %s:\n%s", want, compact.String())
	}

	jsonPath := filepath.Join(dir, "caddy.json")
	if err := os.WriteFile(jsonPath, out, 0o600); err != nil {
		t.Fatal(err)
	}
	p := runConfigFile(t, jsonPath, "", port, "SOLO_SDK_SECRET="+secret)
	admin := tu.HS256(secret, tu.SDKClaims("j", "admin").With("iss", "https://auth.solo.one"))
	expectPass(t, p.get(t, "/admin/x", bearer(admin)), "ok j")
	expectRefusal(t, p.get(t, "/admin/x", bearer(tu.HS256(secret, tu.SDKClaims("j", "admin")))), invalidToken)
	expectRefusal(t, p.get(t, "/admin/x"), notAuthenticated)
	// "/" is outside the matcher: solo_auth never ran there, so its
	// placeholders are unknown and Caddy's respond leaves them as written.
	req, _ := http.NewRequest(http.MethodGet, p.URL+"/", nil)
	req.Header.Set("Authorization", "Bearer "+tu.HS256(secret, tu.SDKClaims("j")))
	expectPass(t, send(t, req), "ok {solo.sub}")
}
