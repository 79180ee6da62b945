package integration

import (
	"net/http"
	"testing"

	tu "github.com/solo-one/caddy-solo-auth/internal/testutil"
)

func TestReportOnly(t *testing.T) {
	backend := newRecordingBackend(t)
	c := startCaddy(t, spec{
		Site: `	solo_auth admin {
		secret ` + secret + `
		report_only
	}
	reverse_proxy ` + backend.URL + ` {
		header_up X-Solo-Subject {solo.sub}
		header_up X-Solo-Error {solo.error}
	}`,
	})
	cases := []struct {
		name    string
		headers []string
		subject string
		errText string
	}{
		{"valid with scope", []string{bearer(tu.HS256(secret, tu.SDKClaims("alice", "admin")))}, "alice", ""},
		{"missing token", nil, "", "Not authenticated"},
		{"forged token, spoofed identity header", []string{bearer(tu.HS256(otherSecret, tu.SDKClaims("alice", "admin"))), "X-Solo-Subject: alice"}, "", "Invalid token"},
		{"missing scope", []string{bearer(tu.HS256(secret, tu.SDKClaims("bob")))}, "", "Not enough permissions"},
	}
	for i, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			expectPass(t, c.get(t, "/", tt.headers...), "backend")
			h := backend.requests()[i]
			if got := h.Get("X-Solo-Subject"); got != tt.subject {
				t.Errorf("backend saw X-Solo-Subject %q, want %q", got, tt.subject)
			}
			if got := h.Get("X-Solo-Error"); got != tt.errText {
				t.Errorf("backend saw X-Solo-Error %q, want %q", got, tt.errText)
			}
		})
	}
}

// TestReportOnlyChained: a request that one report_only handler would have
// refused keeps no identity, whichever order the handlers run in.
func TestReportOnlyChained(t *testing.T) {
	c := startCaddy(t, spec{
		Global: `	solo_auth {
		secret ` + secret + `
	}`,
		Site: `	solo_auth /strict-first/*
	solo_auth /strict-first/* admin {
		report_only
	}
	solo_auth /report-first/* admin {
		report_only
	}
	solo_auth /report-first/*
	respond "sub=[{solo.sub}] user=[{http.auth.user.id}] error=[{solo.error}] reason=[{solo.error_reason}]"`,
	})
	token := bearer(tu.HS256(secret, tu.SDKClaims("alice")))
	// Lines with equal matchers run in the order written: strict then
	// report_only on one path, report_only then strict on the other.
	want := "sub=[] user=[] error=[Not enough permissions] reason=[missing scopes: admin]"
	expectPass(t, c.get(t, "/strict-first/x", token), want)
	expectPass(t, c.get(t, "/report-first/x", token), want)
	// With the scope, nothing is refused and the identity is there.
	admin := bearer(tu.HS256(secret, tu.SDKClaims("alice", "admin")))
	expectPass(t, c.get(t, "/strict-first/x", admin), "sub=[alice] user=[alice] error=[] reason=[]")
}

func TestCORSPreflight(t *testing.T) {
	c := startCaddy(t, spec{
		Site: `	solo_auth /open/* {
		secret ` + secret + `
		allow_cors_preflight
	}
	solo_auth /closed/* {
		secret ` + secret + `
	}
	respond "ok sub=[{solo.sub}]"`,
	})
	preflight := []string{"Origin: https://app.solo.one", "Access-Control-Request-Method: POST"}
	expectPass(t, c.do(t, http.MethodOptions, "/open/x", preflight...), "ok sub=[]")
	expectRefusal(t, c.do(t, http.MethodOptions, "/closed/x", preflight...), notAuthenticated)
	// Only a real preflight passes: OPTIONS without its headers, or a
	// GET with them, is still checked.
	expectRefusal(t, c.do(t, http.MethodOptions, "/open/x", "Origin: https://app.solo.one"), notAuthenticated)
	expectRefusal(t, c.do(t, http.MethodGet, "/open/x", preflight...), notAuthenticated)
}

func TestScopeClaims(t *testing.T) {
	c := startCaddy(t, spec{
		Site: `	solo_auth read {
		secret ` + secret + `
		scope_claims permissions scope
	}
	respond "ok {solo.sub}"`,
	})
	m2m := tu.SDKClaims("m2m").With("permissions", nil, "scope", "write read")
	expectPass(t, c.get(t, "/", bearer(tu.HS256(secret, m2m))), "ok m2m")
	expectPass(t, c.get(t, "/", bearer(tu.HS256(secret, tu.SDKClaims("user", "read")))), "ok user")
	expectPass(t, c.get(t, "/", bearer(tu.HS256(secret, tu.SDKClaims("arr").With("scope", []string{"read"})))), "ok arr")
	expectRefusal(t, c.get(t, "/", bearer(tu.HS256(secret, m2m.With("scope", "write")))), forbidden("read"))
	expectRefusal(t, c.get(t, "/", bearer(tu.HS256(secret, m2m.With("scope", 7)))), invalidToken)
}
