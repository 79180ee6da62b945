package integration

// End-to-end tests of `optional` and of the request metric's outcome
// `anonymous` (contract, "Browsers (second round)").

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	tu "github.com/solo-one/caddy-solo-auth/internal/testutil"
)

// anonymousEcho is what the echo route answers with every identity
// placeholder empty.
const anonymousEcho = "sub=[] user=[] type=[] src=[] perms=[] wf=[] name=[] stype=[] org=[]"

// optionalSpec: /pub/* and /echo/* are optional and read the query and
// the cookie too; /req/* requires a token. /echo/* answers with the
// placeholders, everything else goes to the backend with identity headers.
func optionalSpec(backendURL string) spec {
	return spec{
		Global: `	solo_auth {
		secret ` + secret + `
	}`,
		Site: `	@public path /pub/* /echo/*
	solo_auth @public {
		optional
		token_query access_token
		token_cookie tok
	}
	solo_auth /req/*
	respond /echo/* "sub=[{solo.sub}] user=[{http.auth.user.id}] type=[{solo.token_type}] src=[{solo.token_source}] perms=[{solo.permissions}] wf=[{solo.workflow_id}] name=[{solo.stakeholder_name}] stype=[{solo.stakeholder_type}] org=[{solo.claim.org_id}]"
	reverse_proxy ` + backendURL + ` {
		header_up X-Solo-Subject {solo.sub}
		header_up X-Solo-User {http.auth.user.id}
		header_up X-Solo-Token-Type {solo.token_type}
		header_up X-Solo-Source {solo.token_source}
		header_up X-Solo-Permissions {solo.permissions}
		header_up X-Solo-Workflow {solo.workflow_id}
	}`,
	}
}

var identityHeaders = []string{"X-Solo-Subject", "X-Solo-User", "X-Solo-Token-Type", "X-Solo-Source", "X-Solo-Permissions", "X-Solo-Workflow"}

// expectAnonymousArrival checks that one request reached the backend with
// every identity header empty: never a literal placeholder, never what the
// client sent.
func expectAnonymousArrival(t *testing.T, b *uriBackend, method, uri, cookie string) {
	t.Helper()
	seen := b.take()
	if len(seen) != 1 {
		t.Fatalf("backend got %d requests, want 1", len(seen))
	}
	a := seen[0]
	if a.Method != method || a.URI != uri || strings.Join(a.Cookie, "; ") != cookie {
		t.Errorf("backend got %s %q Cookie %q, want %s %q Cookie %q", a.Method, a.URI, a.Cookie, method, uri, cookie)
	}
	for _, name := range identityHeaders {
		if got := a.Header.Values(name); len(got) > 1 || a.Header.Get(name) != "" {
			t.Errorf("anonymous request reached the backend with %s %q, want it empty", name, got)
		}
	}
}

func TestBrowserOptional(t *testing.T) {
	t.Parallel()
	b := newURIBackend(t)
	c := startCaddy(t, optionalSpec(b.URL))
	valid := tu.HS256(secret, soloClaims())
	identity := "sub=[user_123] user=[user_123] type=[sdk] src=[%s] perms=[templates:read,identity:prefill] wf=[wf_42] name=[Ada Lovelace] stype=[signer] org=[org_7]"

	t.Run("no token: every identity placeholder empty", func(t *testing.T) {
		for name, headers := range map[string][]string{
			"nothing":            nil,
			"Basic scheme":       {"Authorization: Basic YWxpY2U6c2VjcmV0"},
			"Token scheme":       {"Authorization: Token " + valid},
			"empty bearer":       {"Authorization: Bearer "},
			"other cookies":      {"Cookie: session=" + valid + "; a=1"},
			"empty cookie":       {"Cookie: tok="},
			"spoofed identity":   {"X-Solo-Subject: admin"},
			"Basic and a cookie": {"Authorization: Basic YWxpY2U6c2VjcmV0", "Cookie: a=1"},
		} {
			t.Run(name, func(t *testing.T) {
				expectPass(t, c.get(t, "/echo/x", headers...), anonymousEcho)
			})
		}
		expectPass(t, c.get(t, "/echo/x?access_token="), anonymousEcho)
		expectPass(t, c.get(t, "/echo/x?access_token&a=1"), anonymousEcho)
		expectPass(t, c.get(t, "/echo/x?Access_Token="+valid), anonymousEcho)
	})

	t.Run("no token: identity headers to the backend empty", func(t *testing.T) {
		passed(t, http.MethodGet, c.get(t, "/pub/x?a=1", "X-Solo-Subject: admin", "X-Solo-User: admin",
			"X-Solo-Token-Type: sdk", "X-Solo-Source: header", "X-Solo-Permissions: admin", "X-Solo-Workflow: wf"))
		expectAnonymousArrival(t, b, http.MethodGet, "/pub/x?a=1", "")
		passed(t, http.MethodHead, c.do(t, http.MethodHead, "/pub/x", "Authorization: Basic YWxpY2U6c2VjcmV0"))
		expectAnonymousArrival(t, b, http.MethodHead, "/pub/x", "")
	})

	t.Run("a valid token sets the identity", func(t *testing.T) {
		expectPass(t, c.get(t, "/echo/x", bearer(valid)), strings.Replace(identity, "%s", "header", 1))
		expectPass(t, c.get(t, "/echo/x?access_token="+valid), strings.Replace(identity, "%s", "query", 1))
		expectPass(t, c.get(t, "/echo/x", "Cookie: a=1; tok="+valid), strings.Replace(identity, "%s", "cookie", 1))
		passed(t, http.MethodGet, c.get(t, "/pub/x?access_token="+valid+"&a=1", "X-Solo-Subject: admin"))
		b.expectArrival(t, want{http.MethodGet, "/pub/x?a=1", "", "query", "user_123"})
	})

	t.Run("a present token must be valid", func(t *testing.T) {
		expired := tu.HS256(secret, tu.SDKClaims("u").With("exp", time.Now().Add(-time.Hour).Unix()))
		forged := tu.HS256(otherSecret, tu.SDKClaims("u"))
		for name, r := range map[string]struct {
			target  string
			headers []string
			want    refusal
		}{
			"garbage header":          {"/pub/x", []string{bearer("garbage")}, invalidToken},
			"forged header":           {"/pub/x", []string{bearer(forged)}, invalidToken},
			"expired header":          {"/pub/x", []string{bearer(expired)}, tokenExpired},
			"forged query":            {"/pub/x?access_token=" + forged, nil, invalidToken},
			"garbage query":           {"/pub/x?access_token=garbage", nil, invalidToken},
			"broken query":            {"/pub/x?access_token=" + valid + "%zz", nil, invalidToken},
			"forged cookie":           {"/pub/x", []string{"Cookie: tok=" + forged}, invalidToken},
			"expired cookie":          {"/pub/x", []string{"Cookie: tok=" + expired}, tokenExpired},
			"two places":              {"/pub/x?access_token=" + valid, []string{bearer(valid)}, invalidToken},
			"parameter twice":         {"/pub/x?access_token=" + valid + "&access_token=" + valid, nil, invalidToken},
			"cookie twice":            {"/pub/x", []string{"Cookie: tok=" + valid + "; tok=" + valid}, invalidToken},
			"two Authorization lines": {"/pub/x", []string{bearer(valid), bearer(valid)}, invalidToken},
		} {
			t.Run(name, func(t *testing.T) {
				expectRefusal(t, c.get(t, r.target, r.headers...), r.want)
				b.expectNone(t)
			})
		}
		// On POST the header must still be valid.
		expectRefusal(t, c.do(t, http.MethodPost, "/pub/x", bearer(forged)), invalidToken)
		b.expectNone(t)
	})

	t.Run("POST ignores query and cookie: anonymous, and they are removed", func(t *testing.T) {
		for _, tok := range []string{valid, "garbage"} {
			passed(t, http.MethodPost, c.do(t, http.MethodPost, "/pub/x?a=1&access_token="+tok, "Cookie: a=1; tok="+tok))
			expectAnonymousArrival(t, b, http.MethodPost, "/pub/x?a=1", "a=1")
		}
		expectPass(t, c.do(t, http.MethodPost, "/echo/x?access_token="+valid, "Cookie: tok="+valid), anonymousEcho)
	})

	t.Run("required route unaffected", func(t *testing.T) {
		expectRefusal(t, c.get(t, "/req/x"), notAuthenticated)
		expectRefusal(t, c.get(t, "/req/x", "Authorization: Basic YWxpY2U6c2VjcmV0"), notAuthenticated)
		b.expectNone(t)
	})
	expectNoTokenInLogs(t, c, valid)
}

// TestBrowserOptionalMetrics: anonymous passes are counted under the
// outcome "anonymous", not "missing" nor "ok".
func TestBrowserOptionalMetrics(t *testing.T) {
	t.Parallel()
	c := startCaddy(t, spec{
		Global: `	solo_auth {
		secret ` + secret + `
	}`,
		Site: `	solo_auth /pub/* {
		optional
		token_query access_token
	}
	solo_auth /req/*
	respond "ok"`,
	})
	expectPass(t, c.get(t, "/pub/x"), "ok")                                                              // anonymous
	expectPass(t, c.get(t, "/pub/x", "Authorization: Basic YWxpY2U6c2VjcmV0"), "ok")                     // anonymous
	expectPass(t, c.get(t, "/pub/x?access_token="), "ok")                                                // anonymous
	expectPass(t, c.get(t, "/pub/x", bearer(tu.HS256(secret, tu.SDKClaims("m")))), "ok")                 // ok
	expectRefusal(t, c.get(t, "/pub/x", bearer(tu.HS256(otherSecret, tu.SDKClaims("m")))), invalidToken) // invalid
	expectRefusal(t, c.get(t, "/req/x"), notAuthenticated)                                               // missing

	r := send(t, mustRequest(t, http.MethodGet, c.Admin+"/metrics"))
	if r.Status != 200 {
		t.Fatalf("/metrics: %d", r.Status)
	}
	for outcome, n := range map[string]float64{"anonymous": 3, "ok": 1, "invalid": 1, "missing": 1} {
		if got := requestCount(r.Body, outcome); got != n {
			t.Errorf("requests with outcome %q: %v, want %v\n%s", outcome, got, n, metricsOf(r.Body, "caddy_solo_auth_requests_total"))
		}
	}
	if !strings.Contains(r.Body, `outcome="anonymous"`) {
		t.Errorf("no series with outcome=\"anonymous\":\n%s", metricsOf(r.Body, "caddy_solo_auth_requests_total"))
	}
}

// requestCount sums caddy_solo_auth_requests_total over the token types
// for one outcome.
func requestCount(body, outcome string) float64 {
	var sum float64
	for _, line := range strings.Split(body, "\n") {
		if !strings.HasPrefix(line, "caddy_solo_auth_requests_total{") || !strings.Contains(line, `outcome="`+outcome+`"`) {
			continue
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err == nil {
			sum += v
		}
	}
	return sum
}
