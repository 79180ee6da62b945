package integration

import (
	"crypto/rand"
	"crypto/rsa"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	tu "github.com/solo-one/caddy-solo-auth/internal/testutil"
)

const (
	secret      = "integration-secret-0123456789abcdef"
	otherSecret = "an-attackers-secret-0123456789abcdef"
)

var (
	rsaKeyOnce sync.Once
	rsaKey     *rsa.PrivateKey
)

func testRSAKey() *rsa.PrivateKey {
	rsaKeyOnce.Do(func() {
		var err error
		if rsaKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
	})
	return rsaKey
}

// requestTableCaddy starts the Caddy of the request-table tests: a
// global secret and three routes with different scopes.
func requestTableCaddy(t *testing.T) *caddyProc {
	t.Helper()
	return startCaddy(t, spec{
		Global: `	solo_auth {
		secret ` + secret + `
	}`,
		Site: `	solo_auth /admin/* admin
	solo_auth /prefill/* templates:read identity:prefill
	solo_auth
	respond "ok {solo.sub}"`,
	})
}

func TestRequestNotAuthenticated(t *testing.T) {
	c := requestTableCaddy(t)
	cases := map[string][]string{
		"no Authorization header": nil,
		"empty bearer token":      {"Authorization: Bearer "},
		"scheme alone":            {"Authorization: Bearer"},
		"bearer and spaces":       {"Authorization: Bearer    "},
		"another scheme (Basic)":  {"Authorization: Basic YWxpY2U6c2VjcmV0"},
		"another scheme (Token)":  {"Authorization: Token " + tu.HS256(secret, tu.SDKClaims("alice"))},
		"empty header":            {"Authorization: "},
	}
	for name, headers := range cases {
		t.Run(name, func(t *testing.T) {
			expectRefusal(t, c.get(t, "/", headers...), notAuthenticated)
		})
	}
}

func TestRequestInvalidToken(t *testing.T) {
	c := requestTableCaddy(t)
	valid := tu.SDKClaims("alice")
	inAnHour := time.Now().Add(time.Hour).Unix()
	okClaims := `{"sub":"alice","exp":` + itoa(inAnHour) + `}`
	cases := map[string]string{
		"malformed: not a JWT":             "not-a-jwt",
		"malformed: garbage segments":      "abc.def.ghi",
		"malformed: bad JSON header":       tu.RawHS256(`{"alg":"HS256"`, okClaims, secret),
		"bad signature":                    tu.HS256(otherSecret, valid),
		"signature of another token":       swapSignature(tu.HS256(secret, valid), tu.HS256(secret, valid.With("sub", "bob"))),
		"alg none":                         tu.B64(`{"alg":"none","typ":"JWT"}`) + "." + tu.B64(okClaims) + ".",
		"alg HS384":                        tu.Sign(jose.SigningKey{Algorithm: jose.HS384, Key: []byte(secret + secret)}, valid, nil),
		"alg hs256 (lower case)":           tu.RawHS256(`{"alg":"hs256"}`, okClaims, secret),
		"alg PS256":                        tu.Sign(jose.SigningKey{Algorithm: jose.PS256, Key: testRSAKey()}, valid, nil),
		"RS256 where no JWKS is set":       tu.RS256(testRSAKey(), "k1", valid),
		"missing exp":                      tu.HS256(secret, valid.With("exp", nil)),
		"exp as a string":                  tu.HS256(secret, valid.With("exp", itoa(inAnHour))),
		"missing sub":                      tu.HS256(secret, valid.With("sub", nil)),
		"empty sub":                        tu.HS256(secret, valid.With("sub", "")),
		"nbf in the future":                tu.HS256(secret, valid.With("nbf", time.Now().Add(5*time.Minute).Unix())),
		"iat in the future":                tu.HS256(secret, valid.With("iat", time.Now().Add(5*time.Minute).Unix())),
		"permissions a string":             tu.HS256(secret, valid.With("permissions", "admin")),
		"permissions not all strings":      tu.HS256(secret, valid.With("permissions", []any{"admin", 7})),
		"crit header":                      tu.RawHS256(`{"alg":"HS256","crit":["x"],"x":1}`, okClaims, secret),
		"duplicate claim":                  tu.RawHS256(`{"alg":"HS256"}`, `{"sub":"alice","sub":"root","exp":`+itoa(inAnHour)+`}`, secret),
		"over 16 KiB":                      tokenOfLength(t, 17<<10),
		"forged and expired":               tu.HS256(otherSecret, valid.With("exp", time.Now().Add(-time.Hour).Unix())),
		"padding in a segment":             strings.Replace(tu.HS256(secret, valid), ".", "==.", 1),
		"standard base64 + in the payload": plusInPayload(tu.HS256(secret, valid)),
		"not ASCII in the header":          "é" + tu.HS256(secret, valid)[2:],
		"two tokens in one header (comma)": tu.HS256(secret, valid) + ", " + tu.HS256(secret, valid),
	}
	for name, token := range cases {
		t.Run(name, func(t *testing.T) {
			expectRefusal(t, c.get(t, "/", bearer(token)), invalidToken)
		})
	}
	t.Run("more than one Authorization header", func(t *testing.T) {
		token := tu.HS256(secret, valid)
		expectRefusal(t, c.get(t, "/", bearer(token), bearer(token)), invalidToken)
	})
}

func TestRequestExpired(t *testing.T) {
	c := requestTableCaddy(t)
	token := tu.HS256(secret, tu.SDKClaims("alice").With("exp", time.Now().Add(-2*time.Minute).Unix()))
	expectRefusal(t, c.get(t, "/", bearer(token)), tokenExpired)
}

func TestRequestForbidden(t *testing.T) {
	c := requestTableCaddy(t)
	t.Run("one scope missing of one", func(t *testing.T) {
		token := tu.HS256(secret, tu.SDKClaims("alice", "templates:read"))
		expectRefusal(t, c.get(t, "/admin/users", bearer(token)), forbidden("admin"))
	})
	t.Run("one scope missing of two", func(t *testing.T) {
		token := tu.HS256(secret, tu.SDKClaims("alice", "templates:read"))
		expectRefusal(t, c.get(t, "/prefill/x", bearer(token)), forbidden("templates:read identity:prefill"))
	})
	t.Run("no permissions claim at all", func(t *testing.T) {
		token := tu.HS256(secret, tu.SDKClaims("alice").With("permissions", nil))
		expectRefusal(t, c.get(t, "/admin/", bearer(token)), forbidden("admin"))
	})
}

func TestRequestPasses(t *testing.T) {
	c := requestTableCaddy(t)
	cases := []struct {
		name, path string
		token      string
		scheme     string
	}{
		{"unscoped route, no permissions", "/", tu.HS256(secret, tu.SDKClaims("alice")), "Bearer"},
		{"scheme in lower case", "/", tu.HS256(secret, tu.SDKClaims("alice")), "bearer"},
		{"scheme in upper case", "/", tu.HS256(secret, tu.SDKClaims("alice")), "BEARER"},
		{"scoped route with its scope", "/admin/x", tu.HS256(secret, tu.SDKClaims("alice", "admin")), "Bearer"},
		{"two scopes, both granted, among others", "/prefill/x",
			tu.HS256(secret, tu.SDKClaims("alice", "x", "identity:prefill", "templates:read")), "Bearer"},
		{"exp within the default leeway", "/",
			tu.HS256(secret, tu.SDKClaims("alice").With("exp", time.Now().Add(-10*time.Second).Unix())), "Bearer"},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			expectPass(t, c.get(t, tt.path, "Authorization: "+tt.scheme+" "+tt.token), "ok alice")
		})
	}
}

// TestTokenNeverInLogs reads everything Caddy logged, at debug level, for
// the tokens and the secret.
func TestTokenNeverInLogs(t *testing.T) {
	c := startCaddy(t, spec{
		Global: `	solo_auth {
		secret ` + secret + `
	}`,
		Site: `	log {
		output stderr
		format json
	}
	solo_auth /admin/* admin
	solo_auth
	respond "ok {solo.sub}"`,
	})
	valid := tu.HS256(secret, tu.SDKClaims("log-check", "admin"))
	forged := tu.HS256(otherSecret, tu.SDKClaims("log-check"))
	c.get(t, "/admin/x", bearer(valid))
	c.get(t, "/", bearer(forged))
	// Access log lines are written after the response: wait for both.
	var logs string
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(logs, `"logger":"http.log.access`) < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		logs = c.Logs()
	}
	if !strings.Contains(logs, `"user_id":"log-check"`) {
		t.Fatalf("access log not captured; the check below would prove nothing:\n%s", lastLines(logs, 20))
	}
	for _, tok := range []string{valid, forged, secret} {
		sig := tok[strings.LastIndexByte(tok, '.')+1:]
		if strings.Contains(logs, sig) {
			t.Fatalf("a token or secret appears in Caddy's logs")
		}
	}
	if !strings.Contains(logs, `"reason":"bad signature"`) {
		t.Errorf("no debug log line gives the reason of a refusal:\n%s", lastLines(logs, 20))
	}
}

func swapSignature(token, donor string) string {
	return token[:strings.LastIndexByte(token, '.')] + donor[strings.LastIndexByte(donor, '.'):]
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// TestInlineScopesSubdirectiveAndMatcher: all three on one directive.
func TestInlineScopesSubdirectiveAndMatcher(t *testing.T) {
	c := startCaddy(t, spec{
		Site: `	@reports path /reports/* /exports/*
	solo_auth @reports reports:read {
		secret ` + secret + `
		scopes reports:export
	}
	respond "ok"`,
	})
	both := bearer(tu.HS256(secret, tu.SDKClaims("a", "reports:read", "reports:export")))
	one := bearer(tu.HS256(secret, tu.SDKClaims("a", "reports:read")))
	expectPass(t, c.get(t, "/reports/1", both), "ok")
	expectPass(t, c.get(t, "/exports/1", both), "ok")
	expectRefusal(t, c.get(t, "/exports/1", one), forbidden("reports:read reports:export"))
	expectPass(t, c.get(t, "/public", one), "ok")
	expectPass(t, c.get(t, "/public"), "ok")
}

// TestKeysFromTheTokenNeverUsed: tokens that bring their own key (jwk) or
// point at one (jku, x5u) are refused, and nothing is fetched.
func TestKeysFromTheTokenNeverUsed(t *testing.T) {
	var hits atomic.Int64
	keyServer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
	}))
	defer keyServer.Close()
	c := startCaddy(t, spec{Site: `	solo_auth {
		secret ` + secret + `
	}
	respond "ok"`})
	attacker := testRSAKey()
	claims := tu.SDKClaims("mallory", "admin")
	pub := jose.JSONWebKey{Key: &attacker.PublicKey, KeyID: "evil"}
	tokens := map[string]string{
		"embedded jwk":   tu.Sign(jose.SigningKey{Algorithm: jose.RS256, Key: attacker}, claims, map[jose.HeaderKey]any{"jwk": pub, "kid": "evil"}),
		"jku":            tu.Sign(jose.SigningKey{Algorithm: jose.RS256, Key: attacker}, claims, map[jose.HeaderKey]any{"jku": keyServer.URL + "/jwks", "kid": "evil"}),
		"x5u":            tu.Sign(jose.SigningKey{Algorithm: jose.RS256, Key: attacker}, claims, map[jose.HeaderKey]any{"x5u": keyServer.URL + "/cert", "kid": "evil"}),
		"HS256 with jku": tu.Sign(jose.SigningKey{Algorithm: jose.HS256, Key: []byte(otherSecret)}, claims, map[jose.HeaderKey]any{"jku": keyServer.URL + "/jwks"}),
		"oct jwk, HS256": tu.Sign(jose.SigningKey{Algorithm: jose.HS256, Key: []byte(otherSecret)}, claims, map[jose.HeaderKey]any{"jwk": map[string]string{"kty": "oct", "k": tu.B64(otherSecret)}}),
	}
	for name, token := range tokens {
		t.Run(name, func(t *testing.T) {
			expectRefusal(t, c.get(t, "/", bearer(token)), invalidToken)
		})
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("a server named in a token got %d requests", n)
	}
}

// TestSizeLimit: 16 KiB is the largest token parsed.
func TestSizeLimit(t *testing.T) {
	c := startCaddy(t, spec{Site: `	solo_auth {
		secret ` + secret + `
	}
	respond "ok"`})
	expectPass(t, c.get(t, "/", bearer(tokenOfLength(t, 16<<10))), "ok")
	expectRefusal(t, c.get(t, "/", bearer(tokenOfLength(t, 16<<10+1))), invalidToken)

	// Caddy 2.11 reads at most max_header_size (16 KiB by default) of
	// headers, and Go 4 KiB more: a larger request is Caddy's own 431 and
	// never reaches solo_auth. The README says so.
	huge := tokenOfLength(t, 24<<10)
	if r := c.get(t, "/", bearer(huge)); r.Status != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("24 KiB token on default settings: status %d, want Caddy's 431", r.Status)
	}
	raised := startCaddy(t, spec{Global: `	servers {
		max_header_size 64KiB
	}`, Site: `	solo_auth {
		secret ` + secret + `
	}
	respond "ok"`})
	expectRefusal(t, raised.get(t, "/", bearer(huge)), invalidToken)
}

// tokenOfLength mints a valid token exactly n bytes long by padding a claim.
func tokenOfLength(t *testing.T, n int) string {
	t.Helper()
	for pad := n * 3 / 4; pad > 0; pad-- {
		tok := tu.HS256(secret, tu.SDKClaims("big").With("pad", strings.Repeat("x", pad)))
		switch {
		case len(tok) == n:
			return tok
		case len(tok) < n-8:
			t.Fatalf("no padding gives a %d-byte token", n)
		}
	}
	t.Fatalf("no padding gives a %d-byte token", n)
	return ""
}

// TestRefusalHeadersSurviveHeaderEdits: a deferred `header` handler that
// rewrites a refusal's headers on one route must not change another's.
func TestRefusalHeadersSurviveHeaderEdits(t *testing.T) {
	c := startCaddy(t, spec{Site: `	header /problem/* {
		>Content-Type json problem+json
		>Www-Authenticate Bearer Token
	}
	solo_auth {
		secret ` + secret + `
	}
	respond "ok"`})
	for range 3 {
		r := c.get(t, "/problem/x")
		if r.Header.Get("Content-Type") != "application/problem+json" {
			t.Fatalf("header edit did not apply: %q", r.Header.Get("Content-Type"))
		}
		expectRefusal(t, c.get(t, "/plain"), notAuthenticated)
		expectRefusal(t, c.get(t, "/plain", bearer("x.y.z")), invalidToken)
	}
}

// plusInPayload puts '+', standard base64's character and not base64url's,
// at the start of the token's payload segment.
func plusInPayload(token string) string {
	dot := strings.IndexByte(token, '.')
	return token[:dot+1] + "+" + token[dot+2:]
}
