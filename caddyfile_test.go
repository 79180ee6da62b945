package soloauth

import (
	"encoding/json"
	"strings"
	"testing"

	tu "github.com/solo-one/caddy-solo-auth/internal/testutil"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	_ "github.com/caddyserver/caddy/v2/modules/standard"
)

// adapt runs Caddy's Caddyfile adapter on input.
func adapt(t *testing.T, input string) ([]byte, error) {
	t.Helper()
	out, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(input), map[string]any{"filename": "Caddyfile"})
	return out, err
}

// handlers returns the solo_auth handlers of an adapted config, in order.
func handlers(t *testing.T, cfg []byte) []map[string]any {
	t.Helper()
	var found []map[string]any
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if v["handler"] == "solo_auth" {
				found = append(found, v)
			}
			for _, c := range v {
				walk(c)
			}
		case []any:
			for _, c := range v {
				walk(c)
			}
		}
	}
	var root any
	if err := json.Unmarshal(cfg, &root); err != nil {
		t.Fatal(err)
	}
	walk(root)
	return found
}

func TestCaddyfileAdapt(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  []string // JSON of each solo_auth handler, in route order
	}{
		{
			name: "inline scopes, sub-directives and matcher",
			input: `:80 {
	solo_auth /api/admin/* admin ops {
		secret ` + tu.SecretA + `
		scopes audit
		issuer https://a https://b
		audience api
		leeway 5s
		jwks_url http://127.0.0.1:9/jwks
		jwks_refresh 10m
		scope_claims permissions scope
		allow_cors_preflight
		report_only
	}
}`,
			want: []string{`{"allow_cors_preflight":true,"audiences":["api"],"handler":"solo_auth","issuers":["https://a","https://b"],"jwks_refresh":600000000000,"jwks_url":"http://127.0.0.1:9/jwks","leeway":5000000000,"report_only":true,"scope_claims":["permissions","scope"],"scopes":["admin","ops","audit"],"secrets":["` + tu.SecretA + `"]}`},
		},
		{
			name: "global option gives defaults; directives override, scopes add",
			input: `{
	solo_auth {
		secret {env.SOLO_SDK_SECRET}
		workos_client_id client_123
		scopes base
		leeway 10s
	}
}
:80 {
	solo_auth /admin/* admin
	solo_auth /other/* {
		secret {env.OTHER}
		leeway 0s
	}
	solo_auth
}`,
			want: []string{
				`{"handler":"solo_auth","leeway":10000000000,"scopes":["base","admin"],"secrets":["{env.SOLO_SDK_SECRET}"],"workos_client_id":"client_123"}`,
				`{"handler":"solo_auth","leeway":0,"scopes":["base"],"secrets":["{env.OTHER}"],"workos_client_id":"client_123"}`,
				`{"handler":"solo_auth","leeway":10000000000,"scopes":["base"],"secrets":["{env.SOLO_SDK_SECRET}"],"workos_client_id":"client_123"}`,
			},
		},
		{
			name: "a route's own client ID drops an inherited jwks_url",
			input: `{
	solo_auth {
		jwks_url http://127.0.0.1:9/global
	}
}
:80 {
	solo_auth /a/* {
		workos_client_id client_a
	}
	solo_auth /b/* {
		workos_client_id client_b
		jwks_url http://127.0.0.1:9/b
	}
	solo_auth
}`,
			want: []string{
				`{"handler":"solo_auth","workos_client_id":"client_a"}`,
				`{"handler":"solo_auth","jwks_url":"http://127.0.0.1:9/b","workos_client_id":"client_b"}`,
				`{"handler":"solo_auth","jwks_url":"http://127.0.0.1:9/global"}`,
			},
		},
		{
			name: "repeated secret lines rotate",
			input: `:80 {
	solo_auth {
		secret ` + tu.SecretA + `
		secret ` + tu.SecretB + `
	}
}`,
			want: []string{`{"handler":"solo_auth","secrets":["` + tu.SecretA + `","` + tu.SecretB + `"]}`},
		},
		{
			name: "browser settings: global defaults, a route overrides",
			input: `{
	solo_auth {
		secret ` + tu.SecretA + `
		workos_client_id client_123
		token_query access_token
		token_cookie solo_session
	}
}
:80 {
	solo_auth /ws/* {
		token_types workos
		token_query t
	}
	solo_auth /public/* {
		optional
	}
}`,
			want: []string{
				// Caddy puts the longer path first.
				`{"handler":"solo_auth","optional":true,"secrets":["` + tu.SecretA + `"],"token_cookie":"solo_session","token_query":"access_token","workos_client_id":"client_123"}`,
				`{"handler":"solo_auth","secrets":["` + tu.SecretA + `"],"token_cookie":"solo_session","token_query":"t","token_types":["workos"],"workos_client_id":"client_123"}`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := adapt(t, tt.input)
			if err != nil {
				t.Fatal(err)
			}
			got := handlers(t, out)
			if len(got) != len(tt.want) {
				t.Fatalf("%d handlers, want %d: %s", len(got), len(tt.want), out)
			}
			for i, h := range got {
				b, _ := json.Marshal(h)
				if string(b) != tt.want[i] {
					t.Errorf("handler %d:\n got %s\nwant %s", i, b, tt.want[i])
				}
			}
		})
	}
}

func TestCaddyfileDirectiveOrder(t *testing.T) {
	// No `order` option: solo_auth must still run before respond and
	// reverse_proxy, whatever order the lines are written in.
	out, err := adapt(t, `:80 {
	respond "hi"
	solo_auth {
		secret `+tu.SecretA+`
	}
}`)
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	if strings.Index(s, `"solo_auth"`) > strings.Index(s, `"static_response"`) {
		t.Fatalf("solo_auth ordered after respond: %s", s)
	}
}

func TestCaddyfileErrors(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  string // substring of the error
	}{
		{"no key source", `:80 {
	solo_auth admin
}`, "no key source"},
		{"short secret", `:80 {
	solo_auth {
		secret short
	}
}`, "secret: 5 bytes"},
		{"secret without value", `:80 {
	solo_auth {
		secret
	}
}`, "secret: want exactly one value"},
		{"unknown sub-directive", `:80 {
	solo_auth {
		secret ` + tu.SecretA + `
		scope admin
	}
}`, `unknown sub-directive 'scope'`},
		{"malformed leeway", `:80 {
	solo_auth {
		secret ` + tu.SecretA + `
		leeway soon
	}
}`, `leeway: malformed duration 'soon'`},
		{"negative leeway", `:80 {
	solo_auth {
		secret ` + tu.SecretA + `
		leeway -5s
	}
}`, "leeway: duration '-5s' must not be negative"},
		{"malformed jwks_refresh", `:80 {
	solo_auth {
		secret ` + tu.SecretA + `
		jwks_refresh 1x
	}
}`, "jwks_refresh: malformed duration"},
		{"zero jwks_refresh", `:80 {
	solo_auth {
		secret ` + tu.SecretA + `
		jwks_refresh 0s
	}
}`, "jwks_refresh: duration must be more than zero"},
		{"malformed jwks_url", `:80 {
	solo_auth {
		jwks_url ftp://keys.example/jwks
	}
}`, "jwks_url: invalid URL"},
		{"relative jwks_url", `:80 {
	solo_auth {
		jwks_url /jwks
	}
}`, "jwks_url: invalid URL"},
		{"scope with a quote", `:80 {
	solo_auth {
		secret ` + tu.SecretA + `
		scopes a"b
	}
}`, "scopes:"},
		{"leeway twice", `:80 {
	solo_auth {
		secret ` + tu.SecretA + `
		leeway 1s
		leeway 2s
	}
}`, "leeway: given more than once"},
		{"flag with an argument", `:80 {
	solo_auth {
		secret ` + tu.SecretA + `
		report_only yes
	}
}`, "report_only: takes no arguments"},
		{"global option with arguments", `{
	solo_auth admin {
		secret ` + tu.SecretA + `
	}
}
:80 {
	solo_auth
}`, "global option takes no arguments"},
		{"token_query without a name", `:80 {
	solo_auth {
		secret ` + tu.SecretA + `
		token_query
	}
}`, "token_query: want exactly one"},
		{"token_cookie not a cookie name", `:80 {
	solo_auth {
		secret ` + tu.SecretA + `
		token_cookie "a;b"
	}
}`, "token_cookie: want exactly one cookie name"},
		{"token_types unknown kind", `:80 {
	solo_auth {
		secret ` + tu.SecretA + `
		token_types sdk browser
	}
}`, "token_types: unknown kind 'browser'"},
		{"optional with an argument", `:80 {
	solo_auth {
		secret ` + tu.SecretA + `
		optional yes
	}
}`, "optional: takes no arguments"},
		{"token_query twice", `:80 {
	solo_auth {
		secret ` + tu.SecretA + `
		token_query a
		token_query b
	}
}`, "token_query: given more than once"},
		{"unknown sub-directive in the global option", `{
	solo_auth {
		secrets ` + tu.SecretA + `
	}
}
:80 {
	solo_auth
}`, `unknown sub-directive 'secrets'`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := adapt(t, tt.input)
			if err == nil {
				t.Fatalf("adapted without error")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q, want it to contain %q", err, tt.want)
			}
			if strings.Contains(err.Error(), tu.SecretA) {
				t.Fatalf("error echoes the secret: %q", err)
			}
		})
	}
}

// TestProvisionErrors covers what only start-up can know: placeholders
// resolved to bad values, and JSON configs that skip the Caddyfile checks.
func TestProvisionErrors(t *testing.T) {
	t.Setenv("SOLO_TEST_SHORT_SECRET", "too-short")
	tests := []struct {
		name    string
		handler string
		want    string
	}{
		{"no key source", `{"handler":"solo_auth"}`, "no key source"},
		{"short secret from env", `{"handler":"solo_auth","secrets":["{env.SOLO_TEST_SHORT_SECRET}"]}`,
			"secret: secret #1 (from {env.SOLO_TEST_SHORT_SECRET}) is 9 bytes"},
		{"unset env secret", `{"handler":"solo_auth","secrets":["{env.SOLO_TEST_UNSET_XYZ}"]}`, "is 0 bytes"},
		{"short literal secret in JSON", `{"handler":"solo_auth","secrets":["hunter2"]}`, "secret: secret #1 is 7 bytes"},
		{"bad jwks_url in JSON", `{"handler":"solo_auth","jwks_url":"not a url"}`, "jwks_url: invalid URL"},
		{"bad scope in JSON", `{"handler":"solo_auth","secrets":["` + tu.SecretA + `"],"scopes":["a b"]}`, "scopes: #1"},
		{"negative leeway in JSON", `{"handler":"solo_auth","secrets":["` + tu.SecretA + `"],"leeway":-1}`, "leeway"},
		{"token_types sdk without a secret", `{"handler":"solo_auth","jwks_url":"http://127.0.0.1:9/jwks","token_types":["sdk"]}`,
			"token_types: sdk tokens need a `secret`"},
		{"token_types workos without a key set", `{"handler":"solo_auth","secrets":["` + tu.SecretA + `"],"token_types":["workos"]}`,
			"token_types: workos tokens need `workos_client_id`, `jwks_url` or `jwks_file`"},
		{"token_types unknown in JSON", `{"handler":"solo_auth","secrets":["` + tu.SecretA + `"],"token_types":["SDK"]}`,
			"token_types: unknown kind 'SDK'"},
		{"optional with scopes", `{"handler":"solo_auth","secrets":["` + tu.SecretA + `"],"optional":true,"scopes":["admin"]}`,
			"optional: not with scopes (admin)"},
		{"token_cookie not a cookie name in JSON", `{"handler":"solo_auth","secrets":["` + tu.SecretA + `"],"token_cookie":"a b"}`,
			"token_cookie: 'a b' is not a cookie name"},
		{"token_query with '=' in JSON", `{"handler":"solo_auth","secrets":["` + tu.SecretA + `"],"token_query":"a=b"}`,
			"token_query: 'a=b' is not a plain query parameter name"},
		{"token_query that would need encoding", `{"handler":"solo_auth","secrets":["` + tu.SecretA + `"],"token_query":"a b"}`,
			"token_query: 'a b' is not a plain query parameter name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := `{"admin":{"disabled":true},"apps":{"http":{"servers":{"s":{"listen":["127.0.0.1:0"],"routes":[{"handle":[` + tt.handler + `]}]}}}}}`
			var c caddy.Config
			if err := json.Unmarshal([]byte(cfg), &c); err != nil {
				t.Fatal(err)
			}
			err := caddy.Validate(&c)
			if err == nil {
				t.Fatal("validated without error")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q, want it to contain %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "too-short") {
				t.Fatalf("error echoes the secret: %q", err)
			}
		})
	}
}
