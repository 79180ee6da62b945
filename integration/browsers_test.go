package integration

// End-to-end tests of the contract's "Browsers (second round)": tokens
// from a query parameter or a cookie (token_query, token_cookie), GET and
// HEAD only, removed before the backend on every method, and
// {solo.token_source}. Each request goes through a real Caddy to a backend
// that records what reached it.

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	tu "github.com/solo-one/caddy-solo-auth/internal/testutil"
)

// arrival is what a backend received of one request.
type arrival struct {
	Method string
	URI    string   // the request target exactly as it arrived
	Cookie []string // the Cookie header lines, as they arrived
	Header http.Header
}

// uriBackend is a backend on loopback that answers "backend" and records
// the method, the raw request target and the headers of every request.
type uriBackend struct {
	*httptest.Server
	mu   sync.Mutex
	seen []arrival
}

func newURIBackend(t *testing.T) *uriBackend {
	t.Helper()
	b := &uriBackend{}
	b.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.mu.Lock()
		b.seen = append(b.seen, arrival{
			Method: r.Method,
			URI:    r.RequestURI,
			Cookie: slices.Clone(r.Header.Values("Cookie")),
			Header: r.Header.Clone(),
		})
		b.mu.Unlock()
		w.Write([]byte("backend"))
	}))
	t.Cleanup(b.Close)
	return b
}

// take returns the requests received since the last take, and forgets
// them.
func (b *uriBackend) take() []arrival {
	b.mu.Lock()
	defer b.mu.Unlock()
	seen := b.seen
	b.seen = nil
	return seen
}

// want is what one request must look like at the backend. cookie is the
// Cookie header as the backend saw it, its lines joined with "; "; ""
// means no Cookie header (absent, or one empty line). source and sub are
// the values of {solo.token_source} and {solo.sub}, sent up by header_up.
type want struct {
	method, uri, cookie string
	source, sub         string
}

// expectArrival checks that exactly one request reached the backend since
// the last check, and what it looked like there.
func (b *uriBackend) expectArrival(t *testing.T, w want) {
	t.Helper()
	seen := b.take()
	if len(seen) != 1 {
		t.Errorf("backend got %d requests, want 1", len(seen))
		return
	}
	a := seen[0]
	if a.Method != w.method {
		t.Errorf("backend method %s, want %s", a.Method, w.method)
	}
	if a.URI != w.uri {
		t.Errorf("backend URI %q, want %q", a.URI, w.uri)
	}
	if got := strings.Join(a.Cookie, "; "); got != w.cookie {
		t.Errorf("backend Cookie %q, want %q", a.Cookie, w.cookie)
	}
	for name, value := range map[string]string{"X-Solo-Source": w.source, "X-Solo-Subject": w.sub} {
		if got := a.Header.Values(name); len(got) > 1 || a.Header.Get(name) != value {
			t.Errorf("backend %s %q, want %q", name, got, value)
		}
	}
}

// expectNone checks that no request reached the backend since the last
// check.
func (b *uriBackend) expectNone(t *testing.T) {
	t.Helper()
	if seen := b.take(); len(seen) != 0 {
		t.Errorf("backend got %d requests, want none: %+v", len(seen), seen[0])
	}
}

// proxyBlock is a reverse_proxy to the backend that sends the token's
// source and subject up.
func proxyBlock(url string) string {
	return `	reverse_proxy ` + url + ` {
		header_up X-Solo-Source {solo.token_source}
		header_up X-Solo-Subject {solo.sub}
	}`
}

// browserSpecs are two Caddies that read the token from the header, the
// query parameter access_token and the cookie tok on /qc/*: one sets the
// sources in the directive, one in the global option. The first also has
// a header-only route /h/*.
func browserSpecs(backendURL string) map[string]spec {
	return map[string]spec{
		"directive": {
			Global: `	solo_auth {
		secret ` + secret + `
	}`,
			Site: `	solo_auth /qc/* {
		token_query access_token
		token_cookie tok
	}
	solo_auth /h/*
` + proxyBlock(backendURL),
		},
		"global option": {
			Global: `	solo_auth {
		secret ` + secret + `
		token_query access_token
		token_cookie tok
	}`,
			Site: `	solo_auth
` + proxyBlock(backendURL),
		},
	}
}

// Tokens of three subjects, one per place, so that the backend's
// X-Solo-Subject says which one was used.
var (
	hdrTok    = tu.HS256(secret, tu.SDKClaims("hdr-user"))
	queryTok  = tu.HS256(secret, tu.SDKClaims("query-user"))
	cookieTok = tu.HS256(secret, tu.SDKClaims("cookie-user"))
)

var stateChanging = []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch, http.MethodOptions}

// expectHeadRefusal checks a refused HEAD: the status and challenge of the
// refusal, and no body.
func expectHeadRefusal(t *testing.T, r reply, want refusal) {
	t.Helper()
	if r.Status != want.status || r.Body != "" {
		t.Errorf("HEAD: %d %q, want %d and no body", r.Status, r.Body, want.status)
	}
	if got := r.Header.Values("Www-Authenticate"); len(got) != 1 || got[0] != want.challenge {
		t.Errorf("HEAD: WWW-Authenticate %q, want %q", got, want.challenge)
	}
}

// refused checks a refusal for any method.
func refused(t *testing.T, method string, r reply, want refusal) {
	t.Helper()
	if method == http.MethodHead {
		expectHeadRefusal(t, r, want)
		return
	}
	expectRefusal(t, r, want)
}

// passed checks a pass through the proxy for any method.
func passed(t *testing.T, method string, r reply) {
	t.Helper()
	if method == http.MethodHead {
		expectPass(t, r, "")
		return
	}
	expectPass(t, r, "backend")
}

// TestBrowserMethods: on GET and HEAD the query parameter and the cookie
// authenticate; on every other method they are ignored (a request with
// only such a token is "Not authenticated", and with a header token it is
// the header's), and on every method they are removed before the backend.
func TestBrowserMethods(t *testing.T) {
	t.Parallel()
	b := newURIBackend(t)
	for name, s := range browserSpecs(b.URL) {
		t.Run(name, func(t *testing.T) {
			c := startCaddy(t, s)
			const target = "/qc/m?a=1&access_token=%s&b=2"
			query := strings.Replace(target, "%s", queryTok, 1)
			cookie := "Cookie: a=1; tok=" + cookieTok + "; b=2"

			for _, m := range []string{http.MethodGet, http.MethodHead} {
				t.Run(m, func(t *testing.T) {
					passed(t, m, c.do(t, m, query))
					b.expectArrival(t, want{m, "/qc/m?a=1&b=2", "", "query", "query-user"})

					passed(t, m, c.do(t, m, "/qc/m?x=y", cookie))
					b.expectArrival(t, want{m, "/qc/m?x=y", "a=1; b=2", "cookie", "cookie-user"})

					passed(t, m, c.do(t, m, "/qc/m?x=y", bearer(hdrTok), "Cookie: a=1; b=2"))
					b.expectArrival(t, want{m, "/qc/m?x=y", "a=1; b=2", "header", "hdr-user"})

					// Header and query, header and cookie: two places.
					refused(t, m, c.do(t, m, query, bearer(hdrTok)), invalidToken)
					refused(t, m, c.do(t, m, "/qc/m", bearer(hdrTok), cookie), invalidToken)
					b.expectNone(t)
				})
			}
			for _, m := range stateChanging {
				t.Run(m, func(t *testing.T) {
					// Only a query or cookie token: none that counts.
					expectRefusal(t, c.do(t, m, query), notAuthenticated)
					expectRefusal(t, c.do(t, m, "/qc/m", cookie), notAuthenticated)
					expectRefusal(t, c.do(t, m, query, cookie), notAuthenticated)
					b.expectNone(t)

					// With the header: the header's token, and the others
					// removed all the same.
					passed(t, m, c.do(t, m, query, bearer(hdrTok)))
					b.expectArrival(t, want{m, "/qc/m?a=1&b=2", "", "header", "hdr-user"})
					passed(t, m, c.do(t, m, "/qc/m", bearer(hdrTok), cookie))
					b.expectArrival(t, want{m, "/qc/m", "a=1; b=2", "header", "hdr-user"})
					passed(t, m, c.do(t, m, query, bearer(hdrTok), cookie))
					b.expectArrival(t, want{m, "/qc/m?a=1&b=2", "a=1; b=2", "header", "hdr-user"})
				})
			}
			expectNoTokenInLogs(t, c, queryTok, cookieTok, hdrTok)
		})
	}
}

// TestBrowserQueryRemoval: the parameter is removed from the URI that the
// backend gets, and every other parameter is kept byte for byte, in order;
// on GET, where the parameter is the token, and on POST, where it is not
// honoured (the header's token is used).
func TestBrowserQueryRemoval(t *testing.T) {
	t.Parallel()
	b := newURIBackend(t)
	c := startCaddy(t, browserSpecs(b.URL)["directive"])
	q := queryTok
	// The token with its dots percent-encoded: the parameter's value is
	// percent-decoded, as every query parameter is.
	qEnc := strings.ReplaceAll(q, ".", "%2E")
	cases := []struct {
		name, target, uri string
		getPasses         bool // on GET, the parameter is the only token and valid
	}{
		{"only the token", "/qc/p?access_token=" + q, "/qc/p", true},
		{"token first", "/qc/p?access_token=" + q + "&a=1", "/qc/p?a=1", true},
		{"token last", "/qc/p?a=1&access_token=" + q, "/qc/p?a=1", true},
		{"token between odd parameters",
			"/qc/p?a=1&b=%zz&c=&access_token=" + q + "&a=2&x=1;y=2&e=%2B+%20&Access_Token=z&flag&access_tokenx=1",
			"/qc/p?a=1&b=%zz&c=&a=2&x=1;y=2&e=%2B+%20&Access_Token=z&flag&access_tokenx=1", true},
		{"percent-encoded token", "/qc/p?access_token=" + qEnc + "&z=9", "/qc/p?z=9", true},
		// The parameter's name is percent-decoded too: access%5Ftoken
		// is access_token, and must not reach the backend either.
		{"percent-encoded name", "/qc/p?z=9&access%5Ftoken=" + q, "/qc/p?z=9", true},
		// Where the parameter is not the one valid token, it is removed
		// all the same (on POST, where the header's token is used).
		{"empty value", "/qc/p?a=1&access_token=&b=2", "/qc/p?a=1&b=2", false},
		{"no value", "/qc/p?a=1&access_token&b=2", "/qc/p?a=1&b=2", false},
		{"twice", "/qc/p?access_token=" + q + "&a=1&access_token=" + q, "/qc/p?a=1", false},
		{"broken percent-encoding in the value", "/qc/p?a=1&access_token=" + q + "%zz", "/qc/p?a=1", false},
		{"garbage value", "/qc/p?access_token=not-a-jwt&a=1", "/qc/p?a=1", false},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			passed(t, http.MethodPost, c.do(t, http.MethodPost, tt.target, bearer(hdrTok)))
			b.expectArrival(t, want{http.MethodPost, tt.uri, "", "header", "hdr-user"})
			if tt.getPasses {
				passed(t, http.MethodGet, c.get(t, tt.target))
				b.expectArrival(t, want{http.MethodGet, tt.uri, "", "query", "query-user"})
			}
		})
	}
	expectNoTokenInLogs(t, c, q, hdrTok)
}

// TestBrowserCookieRemoval: the cookie is removed from the Cookie header
// that the backend gets, and every other cookie is kept byte for byte, in
// order; on GET, where the cookie is the token, and on POST, where it is
// not honoured.
func TestBrowserCookieRemoval(t *testing.T) {
	t.Parallel()
	b := newURIBackend(t)
	c := startCaddy(t, browserSpecs(b.URL)["directive"])
	k := cookieTok
	cases := []struct {
		name      string
		lines     []string // Cookie header lines sent
		cookie    string   // what the backend gets, lines joined with "; "
		getPasses bool
	}{
		{"only the token", []string{"tok=" + k}, "", true},
		{"token last", []string{"a=1; tok=" + k}, "a=1", true},
		{"token first", []string{"tok=" + k + "; a=1"}, "a=1", true},
		{"token between", []string{"a=1; tok=" + k + "; b=2"}, "a=1; b=2", true},
		{"no spaces after ;", []string{"a=1;tok=" + k + ";b=2"}, "a=1;b=2", true},
		{"odd neighbours",
			[]string{`theme=dark mode; tok=` + k + `; q="x y"; e=; a=1; a=2; tokx=1; xtok=2; Tok=3; other=tok=abc`},
			`theme=dark mode; q="x y"; e=; a=1; a=2; tokx=1; xtok=2; Tok=3; other=tok=abc`, true},
		{"two Cookie lines", []string{"a=1", "tok=" + k + "; b=2"}, "a=1; b=2", true},
		{"empty value", []string{"a=1; tok=; b=2"}, "a=1; b=2", false},
		{"twice", []string{"tok=" + k + "; a=1; tok=" + k}, "a=1", false},
		{"twice, in two lines", []string{"tok=" + k, "a=1; tok=" + k}, "a=1", false},
		{"garbage value", []string{"tok=not-a-jwt; a=1"}, "a=1", false},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			var headers []string
			for _, l := range tt.lines {
				headers = append(headers, "Cookie: "+l)
			}
			passed(t, http.MethodPost, c.do(t, http.MethodPost, "/qc/p", append([]string{bearer(hdrTok)}, headers...)...))
			b.expectArrival(t, want{http.MethodPost, "/qc/p", tt.cookie, "header", "hdr-user"})
			if tt.getPasses {
				passed(t, http.MethodGet, c.get(t, "/qc/p", headers...))
				b.expectArrival(t, want{http.MethodGet, "/qc/p", tt.cookie, "cookie", "cookie-user"})
			}
		})
	}
	expectNoTokenInLogs(t, c, k, hdrTok)
}

// TestBrowserTwoTokens: a token in more than one place is "Invalid token",
// even when the tokens are equal, and nothing reaches the backend.
func TestBrowserTwoTokens(t *testing.T) {
	t.Parallel()
	b := newURIBackend(t)
	c := startCaddy(t, browserSpecs(b.URL)["directive"])
	forged := tu.HS256(otherSecret, tu.SDKClaims("mallory"))
	type req struct {
		target  string
		headers []string
	}
	cases := map[string]req{
		"header and query":              {"/qc/p?access_token=" + queryTok, []string{bearer(hdrTok)}},
		"header and query, equal":       {"/qc/p?access_token=" + hdrTok, []string{bearer(hdrTok)}},
		"header and cookie":             {"/qc/p", []string{bearer(hdrTok), "Cookie: tok=" + cookieTok}},
		"header and cookie, equal":      {"/qc/p", []string{bearer(hdrTok), "Cookie: tok=" + hdrTok}},
		"query and cookie":              {"/qc/p?access_token=" + queryTok, []string{"Cookie: tok=" + cookieTok}},
		"query and cookie, equal":       {"/qc/p?access_token=" + queryTok, []string{"Cookie: tok=" + queryTok}},
		"parameter twice, equal":        {"/qc/p?access_token=" + queryTok + "&access_token=" + queryTok, nil},
		"parameter twice, one forged":   {"/qc/p?access_token=" + queryTok + "&access_token=" + forged, nil},
		"parameter twice, once encoded": {"/qc/p?access_token=" + queryTok + "&access%5Ftoken=" + queryTok, nil},
		// The contract is silent here; the README says a place given
		// twice is Invalid token even when one value is empty.
		"parameter twice, one empty":       {"/qc/p?access_token=&access_token=" + queryTok, nil},
		"cookie twice, one empty":          {"/qc/p", []string{"Cookie: tok=; tok=" + cookieTok}},
		"cookie twice, equal":              {"/qc/p", []string{"Cookie: tok=" + cookieTok + "; tok=" + cookieTok}},
		"cookie twice, one forged":         {"/qc/p", []string{"Cookie: tok=" + forged + "; a=1; tok=" + cookieTok}},
		"cookie twice, in two lines":       {"/qc/p", []string{"Cookie: tok=" + cookieTok, "Cookie: tok=" + cookieTok}},
		"header, query and cookie":         {"/qc/p?access_token=" + queryTok, []string{bearer(hdrTok), "Cookie: tok=" + cookieTok}},
		"two Authorization headers, query": {"/qc/p?access_token=" + queryTok, []string{bearer(hdrTok), bearer(hdrTok)}},
	}
	for name, r := range cases {
		t.Run(name, func(t *testing.T) {
			expectRefusal(t, c.get(t, r.target, r.headers...), invalidToken)
			expectHeadRefusal(t, c.do(t, http.MethodHead, r.target, r.headers...), invalidToken)
			b.expectNone(t)
		})
	}
	expectNoTokenInLogs(t, c, hdrTok, queryTok, cookieTok, forged)
}

// TestBrowserEmptyValues: an empty parameter or cookie is no token.
func TestBrowserEmptyValues(t *testing.T) {
	t.Parallel()
	b := newURIBackend(t)
	c := startCaddy(t, browserSpecs(b.URL)["directive"])
	for name, r := range map[string]struct {
		target  string
		headers []string
	}{
		"empty parameter":            {"/qc/p?access_token=", nil},
		"parameter without =":        {"/qc/p?access_token", nil},
		"empty cookie":               {"/qc/p", []string{"Cookie: tok="}},
		"empty parameter and cookie": {"/qc/p?access_token=&a=1", []string{"Cookie: tok=; a=1"}},
	} {
		t.Run(name, func(t *testing.T) {
			expectRefusal(t, c.get(t, r.target, r.headers...), notAuthenticated)
			expectHeadRefusal(t, c.do(t, http.MethodHead, r.target, r.headers...), notAuthenticated)
			b.expectNone(t)
		})
	}
	// An empty value beside a token elsewhere: one token, which is used;
	// the empty parameter or cookie is removed all the same.
	t.Run("empty parameter beside a header token", func(t *testing.T) {
		passed(t, http.MethodGet, c.get(t, "/qc/p?a=1&access_token=", bearer(hdrTok)))
		b.expectArrival(t, want{http.MethodGet, "/qc/p?a=1", "", "header", "hdr-user"})
	})
	t.Run("empty cookie beside a header token", func(t *testing.T) {
		passed(t, http.MethodGet, c.get(t, "/qc/p", bearer(hdrTok), "Cookie: a=1; tok="))
		b.expectArrival(t, want{http.MethodGet, "/qc/p", "a=1", "header", "hdr-user"})
	})
	t.Run("empty parameter beside a cookie token", func(t *testing.T) {
		passed(t, http.MethodGet, c.get(t, "/qc/p?access_token=&a=1", "Cookie: tok="+cookieTok))
		b.expectArrival(t, want{http.MethodGet, "/qc/p?a=1", "", "cookie", "cookie-user"})
	})
	t.Run("empty cookie beside a query token", func(t *testing.T) {
		passed(t, http.MethodGet, c.get(t, "/qc/p?access_token="+queryTok, "Cookie: tok=; a=1"))
		b.expectArrival(t, want{http.MethodGet, "/qc/p", "a=1", "query", "query-user"})
	})
}

// TestBrowserBadInput: broken percent-encoding, malformed Cookie headers,
// token-shaped strings in other cookies and parameters. Each gets the
// contract's answer, nothing unauthenticated reaches the backend, and no
// token is logged.
func TestBrowserBadInput(t *testing.T) {
	t.Parallel()
	b := newURIBackend(t)
	c := startCaddy(t, browserSpecs(b.URL)["directive"])
	tok := queryTok
	refusals := []struct {
		name    string
		target  string
		headers []string
		want    refusal
	}{
		{"broken percent-encoding, no token", "/qc/p?a=%zz&b=%", nil, notAuthenticated},
		{"parameter of broken percent-encoding", "/qc/p?access_token=%zz", nil, invalidToken},
		{"token with broken percent-encoding", "/qc/p?access_token=" + tok + "%zz", nil, invalidToken},
		{"token with a stray %", "/qc/p?access_token=" + tok + "%", nil, invalidToken},
		{"garbage parameter", "/qc/p?access_token=garbage", nil, invalidToken},
		{"parameter name in another case", "/qc/p?Access_Token=" + tok, nil, notAuthenticated},
		{"parameter name in upper case", "/qc/p?ACCESS_TOKEN=" + tok, nil, notAuthenticated},
		{"parameter name with a prefix", "/qc/p?xaccess_token=" + tok, nil, notAuthenticated},
		{"token as a parameter's name", "/qc/p?" + tok, nil, notAuthenticated},
		{"query token on a header-only route", "/h/p?access_token=" + tok, nil, notAuthenticated},
		{"cookie token on a header-only route", "/h/p", []string{"Cookie: tok=" + tok}, notAuthenticated},
		{"token in another cookie", "/qc/p", []string{"Cookie: session=" + tok}, notAuthenticated},
		{"token in another cookie's value after tok=", "/qc/p", []string{"Cookie: other=tok=" + tok}, notAuthenticated},
		{"cookie name in another case", "/qc/p", []string{"Cookie: Tok=" + tok}, notAuthenticated},
		{"cookie with an empty name", "/qc/p", []string{"Cookie: =" + tok}, notAuthenticated},
		{"cookie header of separators", "/qc/p", []string{"Cookie: ;;; ;"}, notAuthenticated},
		{"cookie name without =", "/qc/p", []string{"Cookie: tok"}, notAuthenticated},
		{"cookie name without = and ;", "/qc/p", []string{"Cookie: tok;"}, notAuthenticated},
		{"garbage cookie", "/qc/p", []string{"Cookie: tok=garbage"}, invalidToken},
		{"forged cookie", "/qc/p", []string{"Cookie: tok=" + tu.HS256(otherSecret, tu.SDKClaims("m"))}, invalidToken},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			expectRefusal(t, c.get(t, tt.target, tt.headers...), tt.want)
			b.expectNone(t)
		})
	}

	// Broken percent-encoding in another parameter does not hide a good
	// token, and is passed on as sent.
	t.Run("token beside broken percent-encoding", func(t *testing.T) {
		passed(t, http.MethodGet, c.get(t, "/qc/p?a=%zz&access_token="+tok+"&b=%"))
		b.expectArrival(t, want{http.MethodGet, "/qc/p?a=%zz&b=%", "", "query", "query-user"})
	})
	// A route that does not read the query leaves an access_token
	// parameter alone: the sources are opt-in.
	t.Run("header-only route keeps the parameter", func(t *testing.T) {
		passed(t, http.MethodGet, c.get(t, "/h/p?access_token=x&a=%zz", bearer(hdrTok), "Cookie: tok=y"))
		b.expectArrival(t, want{http.MethodGet, "/h/p?access_token=x&a=%zz", "tok=y", "header", "hdr-user"})
	})
	// A token-shaped string in another cookie is another cookie.
	t.Run("token-shaped string in another cookie, with a header token", func(t *testing.T) {
		passed(t, http.MethodGet, c.get(t, "/qc/p", bearer(hdrTok), "Cookie: session=abc.def.ghi; tok="))
		b.expectArrival(t, want{http.MethodGet, "/qc/p", "session=abc.def.ghi", "header", "hdr-user"})
	})
	// Garbage around a well-formed tok pair: whatever the answer, it is
	// not a server error, and the token never reaches the backend.
	t.Run("garbage around the token cookie", func(t *testing.T) {
		r := c.get(t, "/qc/p", "Cookie: ;; =; junk; tok="+tok+";;")
		switch r.Status {
		case 200:
			seen := b.take()
			if len(seen) != 1 || strings.Contains(strings.Join(seen[0].Cookie, ";"), sigOf(tok)) ||
				seen[0].Header.Get("X-Solo-Source") != "cookie" || seen[0].Header.Get("X-Solo-Subject") != "query-user" {
				t.Errorf("passed, but the backend saw %+v", seen)
			}
		case 401:
			b.expectNone(t)
		default:
			t.Errorf("status %d %q", r.Status, r.Body)
		}
		t.Logf("garbage around the token cookie: %d %s", r.Status, r.Body)
	})
	expectNoTokenInLogs(t, c, tok, hdrTok)
}

// TestBrowserLaterHandlersSeeNoToken: handlers after solo_auth see the
// URI and the Cookie header without the token, in their placeholders too.
func TestBrowserLaterHandlersSeeNoToken(t *testing.T) {
	t.Parallel()
	c := startCaddy(t, spec{Site: `	solo_auth {
		secret ` + secret + `
		token_query access_token
		token_cookie tok
	}
	respond "uri={http.request.uri} q={http.request.uri.query} qp=[{http.request.uri.query.access_token}] c={http.request.header.Cookie} tc=[{http.request.cookie.tok}] src={solo.token_source} sub={solo.sub}"`})
	expectPass(t, c.get(t, "/r?a=1&access_token="+queryTok+"&b=2", "Cookie: x=1; y=2"),
		"uri=/r?a=1&b=2 q=a=1&b=2 qp=[] c=x=1; y=2 tc=[] src=query sub=query-user")
	expectPass(t, c.get(t, "/r?a=1", "Cookie: x=1; tok="+cookieTok+"; y=2"),
		"uri=/r?a=1 q=a=1 qp=[] c=x=1; y=2 tc=[] src=cookie sub=cookie-user")
	expectPass(t, c.get(t, "/r?a=1", bearer(hdrTok)),
		"uri=/r?a=1 q=a=1 qp=[] c= tc=[] src=header sub=hdr-user")
	// The header token wins on POST; what POST ignored is gone too.
	expectPass(t, c.do(t, http.MethodPost, "/r?access_token="+queryTok+"&a=1", bearer(hdrTok), "Cookie: tok="+cookieTok+"; x=1"),
		"uri=/r?a=1 q=a=1 qp=[] c=x=1 tc=[] src=header sub=hdr-user")
	expectNoTokenInLogs(t, c, queryTok, cookieTok, hdrTok)
}

// TestBrowserSourceOverride: a directive's token_query and token_cookie
// replace the global option's on its route.
func TestBrowserSourceOverride(t *testing.T) {
	t.Parallel()
	c := startCaddy(t, spec{
		Global: `	solo_auth {
		secret ` + secret + `
		token_query access_token
		token_cookie tok
	}`,
		Site: `	solo_auth /own/* {
		token_query jwt
		token_cookie session
	}
	solo_auth /inherit/*
	respond "{solo.token_source} {solo.sub}"`,
	})
	expectPass(t, c.get(t, "/inherit/x?access_token="+queryTok), "query query-user")
	expectPass(t, c.get(t, "/inherit/x", "Cookie: tok="+cookieTok), "cookie cookie-user")
	expectPass(t, c.get(t, "/own/x?jwt="+queryTok), "query query-user")
	expectPass(t, c.get(t, "/own/x", "Cookie: session="+cookieTok), "cookie cookie-user")
	expectRefusal(t, c.get(t, "/own/x?access_token="+queryTok), notAuthenticated)
	expectRefusal(t, c.get(t, "/own/x", "Cookie: tok="+cookieTok), notAuthenticated)
	expectRefusal(t, c.get(t, "/inherit/x?jwt="+queryTok), notAuthenticated)
}

// sigOf is a token's signature, the part that must never be logged.
func sigOf(token string) string { return token[strings.LastIndexByte(token, '.')+1:] }

// expectNoTokenInLogs fails if the signature of any of the tokens appears
// in what Caddy has logged (at debug level, as every harness Caddy does).
func expectNoTokenInLogs(t *testing.T, c *caddyProc, tokens ...string) {
	t.Helper()
	logs := flushLogs(t, c)
	if logs == "" {
		t.Fatalf("nothing logged; the check would prove nothing")
	}
	for _, tok := range tokens {
		sig := sigOf(tok)
		if len(sig) < 20 {
			t.Fatalf("token %q has no signature to look for", tok)
		}
		for _, line := range strings.Split(logs, "\n") {
			if strings.Contains(line, sig) {
				t.Errorf("a token appears in Caddy's logs: %s", line)
				break
			}
		}
	}
}

// TestBrowserChainedLines: as in the contract's example, a scoped line and
// a catch-all line both run on one request, both reading the query and the
// cookie from the global option; the token that the first line removed
// still authenticates the request on the second.
func TestBrowserChainedLines(t *testing.T) {
	t.Parallel()
	b := newURIBackend(t)
	c := startCaddy(t, spec{
		Global: `	solo_auth {
		secret ` + secret + `
		token_query access_token
		token_cookie tok
	}`,
		Site: `	solo_auth /admin/* admin
	solo_auth
` + proxyBlock(b.URL),
	})
	admin := tu.HS256(secret, tu.SDKClaims("root", "admin"))
	user := tu.HS256(secret, tu.SDKClaims("plain"))

	passed(t, http.MethodGet, c.get(t, "/admin/x?access_token="+admin+"&a=1"))
	b.expectArrival(t, want{http.MethodGet, "/admin/x?a=1", "", "query", "root"})
	passed(t, http.MethodGet, c.get(t, "/admin/x", "Cookie: tok="+admin+"; a=1"))
	b.expectArrival(t, want{http.MethodGet, "/admin/x", "a=1", "cookie", "root"})
	passed(t, http.MethodGet, c.get(t, "/other?access_token="+user))
	b.expectArrival(t, want{http.MethodGet, "/other", "", "query", "plain"})
	passed(t, http.MethodPost, c.do(t, http.MethodPost, "/admin/x?access_token="+user+"&a=1", bearer(admin), "Cookie: tok="+user))
	b.expectArrival(t, want{http.MethodPost, "/admin/x?a=1", "", "header", "root"})

	expectRefusal(t, c.get(t, "/admin/x?access_token="+user), forbidden("admin"))
	expectRefusal(t, c.get(t, "/admin/x?access_token="+admin, bearer(admin)), invalidToken)
	expectRefusal(t, c.get(t, "/admin/x?access_token="+admin, "Cookie: tok="+admin), invalidToken)
	expectRefusal(t, c.do(t, http.MethodPost, "/admin/x?access_token="+admin), notAuthenticated)
	b.expectNone(t)
	expectNoTokenInLogs(t, c, admin, user)
}

var sentinels atomic.Int64

// flushLogs returns Caddy's output once everything it logged before now
// has arrived: Caddy's output reaches the test through a pipe, so the
// last lines may still be on their way when a response is. The admin API
// logs each request's URI; a request with a fresh sentinel in it is
// logged after everything before it.
func flushLogs(t *testing.T, c *caddyProc) string {
	t.Helper()
	sentinel := "log-sentinel=" + strconv.FormatInt(sentinels.Add(1), 10)
	send(t, mustRequest(t, http.MethodGet, c.Admin+"/config/?"+sentinel))
	deadline := time.Now().Add(10 * time.Second)
	for {
		logs := c.Logs()
		if strings.Contains(logs, sentinel+`"`) {
			return logs
		}
		if time.Now().After(deadline) {
			t.Fatalf("the admin API's log line for %s never arrived:\n%s", sentinel, lastLines(logs, 10))
		}
		time.Sleep(10 * time.Millisecond)
	}
}
