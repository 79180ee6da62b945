package integration

// End-to-end tests of `token_types` and of the second round's config
// errors (contract, "Browsers (second round)").

import (
	"strings"
	"testing"
	"time"

	tu "github.com/solo-one/caddy-solo-auth/internal/testutil"
)

// TestBrowserTokenTypes: a route limited to one kind refuses the other as
// "Invalid token", as if it had no key for it.
func TestBrowserTokenTypes(t *testing.T) {
	t.Parallel()
	workosKeys()
	e := newJWKSEndpoint(t, wkPub1)
	sdk := bearer(tu.HS256(secret, tu.SDKClaims("user_01HWORKOS")))
	workos := bearer(workosToken(wkKey1, "key_1"))
	// Of the other kind and also expired, or naming an unknown kid: still
	// "Invalid token", never "Token has expired" nor a key fetch's 503.
	sdkExpired := bearer(tu.HS256(secret, tu.SDKClaims("user_01HWORKOS").With("exp", time.Now().Add(-time.Hour).Unix())))
	workosExpired := bearer(tu.RS256(wkKey1, "key_1", tu.SDKClaims("user_01HWORKOS").With("exp", time.Now().Add(-time.Hour).Unix())))
	workosUnknownKid := bearer(workosToken(wkKey2, "key_2"))

	check := func(t *testing.T, c *caddyProc, workosOnly, sdkOnly, both []string) {
		for _, path := range workosOnly {
			expectPass(t, c.get(t, path, workos), "workos user_01HWORKOS")
			expectRefusal(t, c.get(t, path, sdk), invalidToken)
			expectRefusal(t, c.get(t, path, sdkExpired), invalidToken)
			expectRefusal(t, c.get(t, path, workosExpired), tokenExpired)
		}
		for _, path := range sdkOnly {
			expectPass(t, c.get(t, path, sdk), "sdk user_01HWORKOS")
			expectRefusal(t, c.get(t, path, workos), invalidToken)
			expectRefusal(t, c.get(t, path, workosExpired), invalidToken)
			expectRefusal(t, c.get(t, path, workosUnknownKid), invalidToken)
			expectRefusal(t, c.get(t, path, sdkExpired), tokenExpired)
		}
		for _, path := range both {
			expectPass(t, c.get(t, path, workos), "workos user_01HWORKOS")
			expectPass(t, c.get(t, path, sdk), "sdk user_01HWORKOS")
		}
	}

	t.Run("in directives", func(t *testing.T) {
		c := startCaddy(t, spec{
			Global: `	solo_auth {
		secret ` + secret + `
		jwks_url ` + e.URL + `
	}`,
			Site: `	solo_auth /dash/* {
		token_types workos
	}
	solo_auth /machine/* {
		token_types sdk
	}
	solo_auth /both/* {
		token_types sdk workos
	}
	solo_auth /default/*
	respond "{solo.token_type} {solo.sub}"`,
		})
		check(t, c, []string{"/dash/x"}, []string{"/machine/x"}, []string{"/both/x", "/default/x"})
	})
	t.Run("in the global option, overridden by a directive", func(t *testing.T) {
		c := startCaddy(t, spec{
			Global: `	solo_auth {
		secret ` + secret + `
		jwks_url ` + e.URL + `
		token_types workos
	}`,
			Site: `	solo_auth /machine/* {
		token_types sdk
	}
	solo_auth /dash/*
	respond "{solo.token_type} {solo.sub}"`,
		})
		check(t, c, []string{"/dash/x"}, []string{"/machine/x"}, nil)
	})
	t.Run("with a query token", func(t *testing.T) {
		c := startCaddy(t, spec{
			Global: `	solo_auth {
		secret ` + secret + `
		jwks_url ` + e.URL + `
		token_query access_token
	}`,
			Site: `	solo_auth /dash/* {
		token_types workos
	}
	solo_auth /machine/* {
		token_types sdk
	}
	respond "{solo.token_type} {solo.token_source} {solo.sub}"`,
		})
		w, s := workosToken(wkKey1, "key_1"), tu.HS256(secret, tu.SDKClaims("user_01HWORKOS"))
		expectPass(t, c.get(t, "/dash/x?access_token="+w), "workos query user_01HWORKOS")
		expectRefusal(t, c.get(t, "/dash/x?access_token="+s), invalidToken)
		expectPass(t, c.get(t, "/machine/x?access_token="+s), "sdk query user_01HWORKOS")
		expectRefusal(t, c.get(t, "/machine/x?access_token="+w), invalidToken)
	})
}

// TestBrowserConfigErrors: the second round's config errors stop Caddy at
// start-up with a message naming the sub-directive.
func TestBrowserConfigErrors(t *testing.T) {
	t.Parallel()
	// Nothing listens on port 1: a JWKS URL that never answers, so that
	// only the config decides.
	const deadJWKS = "http://127.0.0.1:1/jwks"
	cases := []struct {
		name string
		s    spec
		want string
	}{
		{"workos without a key source", spec{Site: "	solo_auth {\n		secret " + secret + "\n		token_types workos\n	}\n	respond ok"}, "token_types"},
		{"sdk without a secret", spec{Site: "	solo_auth {\n		jwks_url " + deadJWKS + "\n		token_types sdk\n	}\n	respond ok"}, "token_types"},
		{"sdk and workos, no JWKS", spec{Site: "	solo_auth {\n		secret " + secret + "\n		token_types sdk workos\n	}\n	respond ok"}, "token_types"},
		{"workos in the global option, no key source", spec{
			Global: "	solo_auth {\n		secret " + secret + "\n		token_types workos\n	}",
			Site:   "	solo_auth\n	respond ok",
		}, "token_types"},
		{"an unknown kind", spec{Site: "	solo_auth {\n		secret " + secret + "\n		token_types jwt\n	}\n	respond ok"}, "token_types"},
		{"no kind", spec{Site: "	solo_auth {\n		secret " + secret + "\n		token_types\n	}\n	respond ok"}, "token_types"},
		{"optional with an inline scope", spec{Site: "	solo_auth admin {\n		secret " + secret + "\n		optional\n	}\n	respond ok"}, "optional"},
		{"optional with scopes", spec{Site: "	solo_auth {\n		secret " + secret + "\n		optional\n		scopes admin\n	}\n	respond ok"}, "optional"},
		{"optional with global scopes", spec{
			Global: "	solo_auth {\n		secret " + secret + "\n		scopes base\n	}",
			Site:   "	solo_auth {\n		optional\n	}\n	respond ok",
		}, "optional"},
		{"optional in the global option, scopes in a directive", spec{
			Global: "	solo_auth {\n		secret " + secret + "\n		optional\n	}",
			Site:   "	solo_auth /admin/* admin\n	respond ok",
		}, "optional"},
		{"optional with an argument", spec{Site: "	solo_auth {\n		secret " + secret + "\n		optional yes\n	}\n	respond ok"}, "optional"},
		{"token_query without a name", spec{Site: "	solo_auth {\n		secret " + secret + "\n		token_query\n	}\n	respond ok"}, "token_query"},
		{"token_query with two names", spec{Site: "	solo_auth {\n		secret " + secret + "\n		token_query a b\n	}\n	respond ok"}, "token_query"},
		{"token_cookie without a name", spec{Site: "	solo_auth {\n		secret " + secret + "\n		token_cookie\n	}\n	respond ok"}, "token_cookie"},
		{"token_cookie with two names", spec{Site: "	solo_auth {\n		secret " + secret + "\n		token_cookie a b\n	}\n	respond ok"}, "token_cookie"},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out := runCaddyExpectFailure(t, tt.s)
			if !strings.Contains(out, tt.want) {
				t.Fatalf("output does not name %q:\n%s", tt.want, lastLines(out, 10))
			}
			if strings.Contains(out, secret) {
				t.Fatalf("Caddy printed the secret:\n%s", out)
			}
		})
	}
}
