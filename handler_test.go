package soloauth

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/go-jose/go-jose/v4"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/solo-one/caddy-solo-auth/internal/jwt"
	"github.com/solo-one/caddy-solo-auth/internal/keys"
	tu "github.com/solo-one/caddy-solo-auth/internal/testutil"
)

// testHandler is a handler as Provision leaves it, without a Caddy
// context: the verifier it was given (shared, if the caller passes one
// verifier to several handlers) and the scopes it requires.
func testHandler(v *jwt.Verifier, keySet *keys.Set, scopes ...string) *SoloAuth {
	m := &SoloAuth{logger: zap.NewNop(), verifier: v}
	if keySet != nil {
		m.keySets = []*keys.Set{keySet}
		m.keys = keys.NewSources(m.keySets, nil)
	}
	m.requiredScopes = mergeScopes(scopes)
	m.forbidden = forbiddenResponse(m.requiredScopes)
	return m
}

// serve runs one request through handlers in order, as Caddy's route
// would, ending in a handler that answers "passed {solo.sub}".
func serve(t *testing.T, r *http.Request, handlers ...*SoloAuth) *httptest.ResponseRecorder {
	t.Helper()
	w := httptest.NewRecorder()
	repl := caddy.NewReplacer()
	r = caddyhttp.PrepareRequest(r, repl, w, &caddyhttp.Server{})
	var next caddyhttp.Handler = caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		// ReplaceKnown, as header_up does: an unknown placeholder would
		// stay as literal text.
		w.Header().Set("X-Token-Source", repl.ReplaceKnown("{solo.token_source}", ""))
		w.Header().Set("X-Backend-URI", r.RequestURI)
		w.Header().Set("X-Orig-URI", repl.ReplaceKnown("{http.request.orig_uri}", ""))
		_, err := w.Write([]byte(repl.ReplaceKnown("passed {solo.sub}", "")))
		return err
	})
	for i := len(handlers) - 1; i >= 0; i-- {
		m, inner := handlers[i], next
		next = caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error { return m.ServeHTTP(w, r, inner) })
	}
	if err := next.ServeHTTP(w, r); err != nil {
		t.Fatal(err)
	}
	return w
}

// TestHandlerRequestTable is the contract's request table ("Requests"),
// row by row, on the handler alone: exact status, body and headers.
func TestHandlerRequestTable(t *testing.T) {
	const (
		notAuthenticated = `{"detail":"Not authenticated"}`
		invalidToken     = `{"detail":"Invalid token"}`
		invalidChallenge = `Bearer error="invalid_token"`
	)
	now := time.Now()
	v := &jwt.Verifier{
		Secrets:   [][]byte{[]byte(tu.SecretA)},
		RSAKeys:   staticKeys{"k1": &tu.RSAKey.PublicKey},
		Issuers:   []string{"https://issuer"},
		Audiences: []string{"api"},
		Leeway:    30 * time.Second,
	}
	good := tu.SDKClaims("alice", "read", "write").With("iss", "https://issuer", "aud", "api")
	hs := func(c tu.Claims) string { return "Bearer " + tu.HS256(tu.SecretA, c) }
	rows := []struct {
		name          string
		authorization []string // nil: no header
		status        int
		body          string
		challenge     string
	}{
		{"no Authorization header", nil, 401, notAuthenticated, "Bearer"},
		{"empty token", []string{"Bearer "}, 401, notAuthenticated, "Bearer"},
		{"another scheme", []string{"Basic YTpi"}, 401, notAuthenticated, "Bearer"},
		{"malformed", []string{"Bearer not.a.token"}, 401, invalidToken, invalidChallenge},
		{"bad signature", []string{"Bearer " + tu.HS256("another-secret-that-is-32-bytes-long!", good)}, 401, invalidToken, invalidChallenge},
		{"alg not accepted", []string{"Bearer " + tu.Sign(jose.SigningKey{Algorithm: jose.HS384, Key: []byte(tu.SecretA + tu.SecretA)}, good, nil)}, 401, invalidToken, invalidChallenge},
		{"unknown kid", []string{"Bearer " + tu.RS256(tu.RSAKey, "k9", good)}, 401, invalidToken, invalidChallenge},
		{"iss not accepted", []string{hs(good.With("iss", "https://other"))}, 401, invalidToken, invalidChallenge},
		{"aud not accepted", []string{hs(good.With("aud", "web"))}, 401, invalidToken, invalidChallenge},
		{"nbf in the future", []string{hs(good.With("nbf", now.Add(time.Hour).Unix()))}, 401, invalidToken, invalidChallenge},
		{"iat in the future", []string{hs(good.With("iat", now.Add(time.Hour).Unix()))}, 401, invalidToken, invalidChallenge},
		{"missing exp", []string{hs(good.With("exp", nil))}, 401, invalidToken, invalidChallenge},
		{"missing sub", []string{hs(good.With("sub", nil))}, 401, invalidToken, invalidChallenge},
		{"permissions not an array of strings", []string{hs(good.With("permissions", "read write"))}, 401, invalidToken, invalidChallenge},
		{"two Authorization headers", []string{hs(good), hs(good)}, 401, invalidToken, invalidChallenge},
		{"expired", []string{hs(good.With("exp", now.Add(-time.Hour).Unix()))}, 401, `{"detail":"Token has expired"}`,
			`Bearer error="invalid_token", error_description="The token has expired"`},
		{"forged and expired", []string{"Bearer " + tu.HS256("another-secret-that-is-32-bytes-long!", good.With("exp", now.Add(-time.Hour).Unix()))},
			401, invalidToken, invalidChallenge},
		{"scope missing", []string{hs(good.With("permissions", []string{"read"}))}, 403, `{"detail":"Not enough permissions"}`,
			`Bearer error="insufficient_scope", scope="read write"`},
		{"valid, scheme in lower case", []string{"bearer " + tu.HS256(tu.SecretA, good)}, 200, "passed alice", ""},
		{"valid RS256", []string{"Bearer " + tu.RS256(tu.RSAKey, "k1", good)}, 200, "passed alice", ""},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			if row.authorization != nil {
				r.Header["Authorization"] = row.authorization
			}
			w := serve(t, r, testHandler(v, nil, "read", "write"))
			expectResponse(t, w, row.status, row.body, row.challenge)
		})
	}
}

func expectResponse(t *testing.T, w *httptest.ResponseRecorder, status int, body, challenge string) {
	t.Helper()
	if w.Code != status || w.Body.String() != body {
		t.Fatalf("got %d %q, want %d %q", w.Code, w.Body.String(), status, body)
	}
	if got := w.Header().Get("WWW-Authenticate"); got != challenge {
		t.Errorf("WWW-Authenticate %q, want %q", got, challenge)
	}
	if status != http.StatusOK {
		if ct := w.Header().Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type %q", ct)
		}
		if strings.Contains(w.Body.String(), ".") {
			t.Errorf("body %q may echo a token", w.Body.String())
		}
	}
}

// TestHandlerUnavailable: a WorkOS token while no key set has loaded is a
// 503 with Retry-After and no challenge; an SDK token still passes.
func TestHandlerUnavailable(t *testing.T) {
	keySet := keys.New(keys.Config{URL: "http://127.0.0.1:1/jwks", Clock: tu.NewClock()}) // never started
	v := &jwt.Verifier{Secrets: [][]byte{[]byte(tu.SecretA)}, RSAKeys: unavailableKeys{}}
	m := testHandler(v, keySet)
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Authorization", "Bearer "+tu.RS256(tu.RSAKey, "k1", tu.SDKClaims("w")))
	w := serve(t, r, m)
	expectResponse(t, w, 503, `{"detail":"Authentication service unavailable"}`, "")
	if ra := w.Header().Get("Retry-After"); ra != "1" {
		t.Errorf("Retry-After %q, want 1 (the next attempt is due)", ra)
	}
	r = httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Authorization", "Bearer "+tu.HS256(tu.SecretA, tu.SDKClaims("sdk")))
	expectResponse(t, serve(t, r, m), 200, "passed sdk", "")
}

// TestHandlersOfOneVerifierVerifyOnce: a request through a global
// option's line and a route's line of the same key configuration is
// verified once; each line still checks its own scopes.
func TestHandlersOfOneVerifierVerifyOnce(t *testing.T) {
	verifications := 0
	v := &jwt.Verifier{Secrets: [][]byte{[]byte(tu.SecretA)}, ObserveCache: func(bool) { verifications++ }}
	v.EnableCache(10)
	global, route := testHandler(v, nil), testHandler(v, nil, "admin")

	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Authorization", "Bearer "+tu.HS256(tu.SecretA, tu.SDKClaims("alice", "admin")))
	expectResponse(t, serve(t, r, global, route), 200, "passed alice", "")
	if verifications != 1 {
		t.Errorf("verified %d times, want once", verifications)
	}

	r = httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Authorization", "Bearer "+tu.HS256(tu.SecretA, tu.SDKClaims("bob", "read")))
	expectResponse(t, serve(t, r, global, route), 403, `{"detail":"Not enough permissions"}`,
		`Bearer error="insufficient_scope", scope="admin"`)

	other := testHandler(&jwt.Verifier{Secrets: [][]byte{[]byte(tu.SecretB)}}, nil)
	r = httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Authorization", "Bearer "+tu.HS256(tu.SecretA, tu.SDKClaims("carol")))
	expectResponse(t, serve(t, r, global, other), 401, `{"detail":"Invalid token"}`, `Bearer error="invalid_token"`)
}

// TestHandlerOptional: no token passes anonymously with every identity
// placeholder known and empty; a token that is present must be valid.
func TestHandlerOptional(t *testing.T) {
	v := &jwt.Verifier{Secrets: [][]byte{[]byte(tu.SecretA)}}
	m := testHandler(v, nil)
	m.Optional, m.TokenQuery = true, "access_token"
	tests := []struct {
		name, target, authorization string
		status                      int
		body, source                string
	}{
		{"no token", "/", "", 200, "passed ", ""},
		{"another scheme", "/", "Basic YTpi", 200, "passed ", ""},
		{"empty query token", "/?access_token=", "", 200, "passed ", ""},
		{"valid token", "/", "Bearer " + tu.HS256(tu.SecretA, tu.SDKClaims("alice")), 200, "passed alice", "header"},
		{"valid query token", "/?access_token=" + tu.HS256(tu.SecretA, tu.SDKClaims("alice")), "", 200, "passed alice", "query"},
		{"invalid token", "/", "Bearer x.y.z", 401, `{"detail":"Invalid token"}`, ""},
		{"expired token", "/", "Bearer " + tu.HS256(tu.SecretA, tu.SDKClaims("a").With("exp", time.Now().Add(-time.Hour).Unix())), 401,
			`{"detail":"Token has expired"}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, tt.target, nil)
			if tt.authorization != "" {
				r.Header.Set("Authorization", tt.authorization)
			}
			w := serve(t, r, m)
			if w.Code != tt.status || w.Body.String() != tt.body {
				t.Fatalf("got %d %q, want %d %q", w.Code, w.Body.String(), tt.status, tt.body)
			}
			if tt.status == 200 {
				if src := w.Header().Get("X-Token-Source"); src != tt.source {
					t.Errorf("{solo.token_source} %q, want %q", src, tt.source)
				}
				if uri := w.Header().Get("X-Backend-URI"); uri != "/" {
					t.Errorf("the backend saw %q", uri)
				}
			}
		})
	}
}

// TestHandlerTokenPlaces: the query and cookie tokens through the whole
// handler, and a global-option line and a route line that both read the
// query: the first removes it, the second still finds the token.
func TestHandlerTokenPlaces(t *testing.T) {
	v := &jwt.Verifier{Secrets: [][]byte{[]byte(tu.SecretA)}}
	global, route := testHandler(v, nil), testHandler(v, nil, "read")
	for _, m := range []*SoloAuth{global, route} {
		m.TokenQuery, m.TokenCookie = "access_token", "tok"
	}
	token := tu.HS256(tu.SecretA, tu.SDKClaims("alice", "read"))

	r := httptest.NewRequest(http.MethodGet, "/p?x=1&access_token="+token+"&y=%zz", nil)
	w := serve(t, r, global, route)
	if w.Code != 200 || w.Body.String() != "passed alice" || w.Header().Get("X-Token-Source") != "query" {
		t.Fatalf("got %d %q from %q", w.Code, w.Body.String(), w.Header().Get("X-Token-Source"))
	}
	if uri := w.Header().Get("X-Backend-URI"); uri != "/p?x=1&y=%zz" {
		t.Errorf("the backend saw %q", uri)
	}
	// Caddy's copy of the request as it arrived (orig_uri, FastCGI's
	// REQUEST_URI, what handle_errors routes see) loses the token too.
	if uri := w.Header().Get("X-Orig-URI"); uri != "/p?x=1&y=%zz" {
		t.Errorf("{http.request.orig_uri} is %q", uri)
	}

	r = httptest.NewRequest(http.MethodGet, "/p", nil)
	r.Header.Set("Cookie", "a=1; tok="+token)
	w = serve(t, r, global, route)
	if w.Code != 200 || w.Header().Get("X-Token-Source") != "cookie" {
		t.Fatalf("cookie: got %d %q", w.Code, w.Body.String())
	}

	r = httptest.NewRequest(http.MethodPost, "/p?access_token="+token, nil)
	r.Header.Set("Cookie", "tok="+token)
	expectResponse(t, serve(t, r, global, route), 401, `{"detail":"Not authenticated"}`, "Bearer")
	if r.URL.RawQuery != "" || r.Header.Get("Cookie") != "" {
		t.Errorf("a POST kept its query %q or cookie %q", r.URL.RawQuery, r.Header.Get("Cookie"))
	}

	r = httptest.NewRequest(http.MethodGet, "/p?access_token="+token, nil)
	r.Header.Set("Authorization", "Bearer "+token)
	expectResponse(t, serve(t, r, global, route), 401, `{"detail":"Invalid token"}`, `Bearer error="invalid_token"`)
}

// TestHandlerLogsTheSourceOfARefusedToken: the debug log of a refusal
// says where the token was found, and never holds the token.
func TestHandlerLogsTheSourceOfARefusedToken(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	m := testHandler(&jwt.Verifier{Secrets: [][]byte{[]byte(tu.SecretA)}}, nil)
	m.logger, m.TokenQuery, m.TokenCookie = zap.New(core), "access_token", "tok"
	forged := tu.HS256("another-secret-that-is-32-bytes-long!", tu.SDKClaims("alice"))
	tests := []struct {
		name, target, cookie, source string
	}{
		{"query", "/?access_token=" + forged, "", "query"},
		{"cookie", "/", "tok=" + forged, "cookie"},
		{"two places", "/?access_token=" + forged, "tok=" + forged, ""},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(http.MethodGet, tt.target, nil)
		if tt.cookie != "" {
			r.Header.Set("Cookie", tt.cookie)
		}
		expectResponse(t, serve(t, r, m), 401, `{"detail":"Invalid token"}`, `Bearer error="invalid_token"`)
		entries := logs.TakeAll()
		if len(entries) != 1 {
			t.Fatalf("%s: %d log entries", tt.name, len(entries))
		}
		fields := entries[0].ContextMap()
		if fields["source"] != tt.source {
			t.Errorf("%s: logged source %q, want %q (%v)", tt.name, fields["source"], tt.source, fields)
		}
		for k, v := range fields {
			if s, ok := v.(string); ok && strings.Contains(s, forged[strings.LastIndexByte(forged, '.')+1:]) {
				t.Errorf("%s: field %s holds the token", tt.name, k)
			}
		}
	}
}
