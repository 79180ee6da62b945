package soloauth

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
)

func TestWithoutParam(t *testing.T) {
	tests := []struct {
		raw, kept string
		values    []string
		malformed bool
	}{
		{"", "", nil, false},
		{"a=1&b=2", "a=1&b=2", nil, false},
		{"access_token=T", "", []string{"T"}, false},
		{"a=1&access_token=T&b=%zz&c=", "a=1&b=%zz&c=", []string{"T"}, false},
		{"access_token=T&a=1&a=2", "a=1&a=2", []string{"T"}, false},
		{"a=1&&access_token=T&", "a=1&&", []string{"T"}, false},
		{"access_token=", "", []string{""}, false},
		{"access_token", "", []string{""}, false},
		{"access_token=T&access_token=U", "", []string{"T", "U"}, false},
		{"access%5Ftoken=T", "", []string{"T"}, false},                                 // the name percent-encoded
		{"ACCESS_TOKEN=T&Access_token=U", "ACCESS_TOKEN=T&Access_token=U", nil, false}, // names are case-sensitive
		{"access_token=T%zz", "", []string{""}, true},
		{"access_token=a%2Eb", "", []string{"a.b"}, false},
		{"x=access_token", "x=access_token", nil, false},
	}
	for _, tt := range tests {
		kept, values, malformed := withoutParam(tt.raw, "access_token")
		if kept != tt.kept || !slices.Equal(values, tt.values) || malformed != tt.malformed {
			t.Errorf("withoutParam(%q) = %q %q %v, want %q %q %v", tt.raw, kept, values, malformed, tt.kept, tt.values, tt.malformed)
		}
	}
}

func TestWithoutCookie(t *testing.T) {
	tests := []struct {
		line, kept string
		values     []string
	}{
		{"a=1; b=2", "a=1; b=2", nil},
		{"tok=T", "", []string{"T"}},
		{"a=1; tok=T; b=2", "a=1; b=2", []string{"T"}},
		{"tok=T; b=2", "b=2", []string{"T"}},
		{"a=1;tok=T", "a=1", []string{"T"}},
		{`tok="T"`, "", []string{"T"}},
		{"tok=", "", []string{""}},
		{"tok=T; tok=U", "", []string{"T", "U"}},
		{"Tok=T; tokx=U; xtok=V", "Tok=T; tokx=U; xtok=V", nil},
		{"a=eyJ.x.y; tok=T", "a=eyJ.x.y", []string{"T"}},
		{"=;;;tok", "=;;", []string{""}},
		{"a b; tok=T ;c", "a b;c", []string{"T"}},
	}
	for _, tt := range tests {
		kept, values := withoutCookie(tt.line, "tok")
		if kept != tt.kept || !slices.Equal(values, tt.values) {
			t.Errorf("withoutCookie(%q) = %q %q, want %q %q", tt.line, kept, values, tt.kept, tt.values)
		}
	}
}

// TestTakeToken: where a token is read from, on which methods, and what
// is left of the request afterwards, whatever the method.
func TestTakeToken(t *testing.T) {
	tests := []struct {
		name, method, target string
		authorization        string
		cookies              []string
		token, from          string
		problem              tokenProblem
		uri                  string   // RequestURI afterwards
		cookiesAfter         []string // Cookie lines afterwards
	}{
		{name: "header", method: "GET", target: "/p?a=1", authorization: "Bearer H", token: "H", from: fromHeader, uri: "/p?a=1"},
		{name: "query on GET", method: "GET", target: "/p?a=1&access_token=Q&b=2", token: "Q", from: fromQuery, uri: "/p?a=1&b=2"},
		{name: "query on HEAD", method: "HEAD", target: "/p?access_token=Q", token: "Q", from: fromQuery, uri: "/p"},
		{name: "query on POST: removed, not honoured", method: "POST", target: "/p?access_token=Q&b=2", problem: tokenMissing, uri: "/p?b=2"},
		{name: "cookie on GET", method: "GET", target: "/p", cookies: []string{"a=1; tok=C; b=2"}, token: "C", from: fromCookie,
			uri: "/p", cookiesAfter: []string{"a=1; b=2"}},
		{name: "cookie on DELETE: removed, not honoured", method: "DELETE", target: "/p", cookies: []string{"tok=C"}, problem: tokenMissing, uri: "/p"},
		{name: "cookie on a second line (HTTP/2)", method: "GET", target: "/p", cookies: []string{"a=1", "tok=C"}, token: "C", from: fromCookie,
			uri: "/p", cookiesAfter: []string{"a=1"}},
		{name: "header and query, equal", method: "GET", target: "/p?access_token=H", authorization: "Bearer H", problem: tokenInvalid, uri: "/p"},
		{name: "header and cookie", method: "GET", target: "/p", authorization: "Bearer H", cookies: []string{"tok=C"}, problem: tokenInvalid, uri: "/p"},
		{name: "query and cookie", method: "GET", target: "/p?access_token=Q", cookies: []string{"tok=C"}, problem: tokenInvalid, uri: "/p"},
		{name: "parameter twice", method: "GET", target: "/p?access_token=Q&access_token=Q", problem: tokenInvalid, uri: "/p"},
		{name: "cookie twice", method: "GET", target: "/p", cookies: []string{"tok=C; tok=C"}, problem: tokenInvalid, uri: "/p"},
		{name: "empty parameter is no token", method: "GET", target: "/p?access_token=&a=1", problem: tokenMissing, uri: "/p?a=1"},
		{name: "empty parameter beside a header token", method: "GET", target: "/p?access_token=", authorization: "Bearer H", token: "H", from: fromHeader, uri: "/p"},
		{name: "empty cookie is no token", method: "GET", target: "/p", cookies: []string{"tok="}, problem: tokenMissing, uri: "/p"},
		{name: "broken percent-encoding in the token", method: "GET", target: "/p?access_token=Q%zz", problem: tokenInvalid, uri: "/p"},
		{name: "broken percent-encoding elsewhere", method: "GET", target: "/p?a=%zz&access_token=Q", token: "Q", from: fromQuery, uri: "/p?a=%zz"},
		{name: "another scheme and a query token", method: "GET", target: "/p?access_token=Q", authorization: "Basic YTpi", token: "Q", from: fromQuery, uri: "/p"},
		{name: "token-shaped string in another cookie", method: "GET", target: "/p", cookies: []string{"other=a.b.c"}, problem: tokenMissing,
			uri: "/p", cookiesAfter: []string{"other=a.b.c"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, tt.target, nil)
			if tt.authorization != "" {
				r.Header.Set("Authorization", tt.authorization)
			}
			if tt.cookies != nil {
				r.Header["Cookie"] = tt.cookies
			}
			st := &requestAuth{}
			f := st.takeToken(r, "access_token", "tok")
			if f.problem != tt.problem || f.token != tt.token || f.from != tt.from {
				t.Errorf("got %q from %q (problem %d, %s), want %q from %q (problem %d)", f.token, f.from, f.problem, f.reason, tt.token, tt.from, tt.problem)
			}
			if r.RequestURI != tt.uri || r.URL.RequestURI() != tt.uri {
				t.Errorf("URI afterwards %q / %q, want %q", r.RequestURI, r.URL.RequestURI(), tt.uri)
			}
			if got := r.Header["Cookie"]; !slices.Equal(got, tt.cookiesAfter) {
				t.Errorf("Cookie afterwards %q, want %q", got, tt.cookiesAfter)
			}
			// A second solo_auth line reading the same places finds the
			// same token, though the request no longer carries it.
			if again := st.takeToken(r, "access_token", "tok"); again != f {
				t.Errorf("a second line found %+v, the first %+v", again, f)
			}
		})
	}
}

// TestTakeTokenWithoutPlaces: a route that names no query parameter or
// cookie leaves both alone.
func TestTakeTokenWithoutPlaces(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "/p?access_token=Q", nil)
	r.Header.Set("Cookie", "tok=C")
	f := (&requestAuth{}).takeToken(r, "", "")
	if f.problem != tokenMissing || r.RequestURI != "/p?access_token=Q" || r.Header.Get("Cookie") != "tok=C" {
		t.Fatalf("found %+v; URI %q, Cookie %q", f, r.RequestURI, r.Header.Get("Cookie"))
	}
}
