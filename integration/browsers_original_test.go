package integration

// Caddy keeps a copy of the request as it arrived (the "original
// request"), and its own modules read it: a handler error restores it for
// the error routes and the error log, php_fastcgi sends its URI to PHP as
// REQUEST_URI, and {http.request.orig_uri} gives it to any config. The
// contract's "a token there never reaches a backend", "removed ... before
// later handlers run" and "the token is never logged" hold on these paths
// too, or a query token leaks whenever an upstream fails.

import (
	"fmt"
	"net"
	"net/http"
	"net/http/fcgi"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// waitForLog polls Caddy's output until it contains s.
func waitForLog(t *testing.T, c *caddyProc, s string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(c.Logs(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("Caddy did not log %q:\n%s", s, lastLines(c.Logs(), 20))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestBrowserUpstreamErrorLogsNoToken: a request authenticated by its
// query parameter whose upstream is down is a 502 that Caddy logs at error
// level with the request as it arrived, before any handler ran, so no
// handler can take the token out of that line. The README's global log
// filter does: with it, the token is in no log line, and the error log
// still gives the URI without it.
func TestBrowserUpstreamErrorLogsNoToken(t *testing.T) {
	t.Parallel()
	dead := freePort(t) // nothing listens there
	port, admin := freePort(t), freePort(t)
	cfg := filepath.Join(t.TempDir(), "Caddyfile")
	caddyfile := fmt.Sprintf(`{
	admin 127.0.0.1:%d
	auto_https off
	persist_config off
	log {
		output stderr
		level DEBUG
		format filter {
			request>uri query {
				delete access_token
			}
		}
	}
}
http://127.0.0.1:%d {
	solo_auth {
		secret %s
		token_query access_token
	}
	reverse_proxy 127.0.0.1:%d
}
`, admin, port, secret, dead)
	if err := os.WriteFile(cfg, []byte(caddyfile), 0o600); err != nil {
		t.Fatal(err)
	}
	c := runConfigFile(t, cfg, "caddyfile", port)
	c.Admin = fmt.Sprintf("http://127.0.0.1:%d", admin)
	r := c.get(t, "/down?a=1&access_token="+queryTok)
	if r.Status != http.StatusBadGateway {
		t.Fatalf("status %d %q, want Caddy's 502", r.Status, r.Body)
	}
	waitForLog(t, c, `"logger":"http.log.error"`)
	expectNoTokenInLogs(t, c, queryTok)
	for _, line := range strings.Split(c.Logs(), "\n") {
		if strings.Contains(line, `"logger":"http.log.error"`) && !strings.Contains(line, `"uri":"/down?a=1"`) {
			t.Errorf("the error log does not give the URI without the token: %s", line)
		}
	}
}

// TestBrowserErrorRoutesSeeNoToken: handle_errors routes run after
// solo_auth; they see neither the parameter nor the cookie, and a backend
// they proxy to gets no token.
func TestBrowserErrorRoutesSeeNoToken(t *testing.T) {
	t.Parallel()
	b := newURIBackend(t)
	dead := freePort(t)
	c := startCaddy(t, spec{Site: fmt.Sprintf(`	solo_auth {
		secret %s
		token_query access_token
		token_cookie tok
	}
	reverse_proxy 127.0.0.1:%d
	handle_errors {
		handle /proxied/* {
			reverse_proxy %s
		}
		handle {
			respond "{err.status_code} uri={http.request.uri} q={http.request.uri.query} c={http.request.header.Cookie}"
		}
	}`, secret, dead, b.URL)})

	r := c.get(t, "/x?a=1&access_token="+queryTok+"&b=2")
	if r.Status != http.StatusBadGateway || r.Body != "502 uri=/x?a=1&b=2 q=a=1&b=2 c=" {
		t.Errorf("error route answered %d %q, want 502 %q", r.Status, r.Body, "502 uri=/x?a=1&b=2 q=a=1&b=2 c=")
	}
	r = c.get(t, "/x?a=1", "Cookie: a=1; tok="+cookieTok)
	if r.Status != http.StatusBadGateway || r.Body != "502 uri=/x?a=1 q=a=1 c=a=1" {
		t.Errorf("error route answered %d %q, want 502 %q", r.Status, r.Body, "502 uri=/x?a=1 q=a=1 c=a=1")
	}
	b.expectNone(t)

	if r := c.get(t, "/proxied/x?a=1&access_token="+queryTok); r.Status != http.StatusOK || r.Body != "backend" {
		t.Errorf("error route's proxy: %d %q", r.Status, r.Body)
	}
	seen := b.take()
	if len(seen) != 1 {
		t.Fatalf("error backend got %d requests, want 1", len(seen))
	}
	if seen[0].URI != "/proxied/x?a=1" {
		t.Errorf("the backend of an error route got URI %q, want %q", seen[0].URI, "/proxied/x?a=1")
	}
}

// TestBrowserOriginalURIHasNoToken: {http.request.orig_uri} (and its query)
// carry no token to a backend.
func TestBrowserOriginalURIHasNoToken(t *testing.T) {
	t.Parallel()
	b := newURIBackend(t)
	c := startCaddy(t, spec{Site: `	solo_auth {
		secret ` + secret + `
		token_query access_token
	}
	reverse_proxy ` + b.URL + ` {
		header_up X-Original-URI {http.request.orig_uri}
		header_up X-Original-Query {http.request.orig_uri.query}
	}`})
	passed(t, http.MethodGet, c.get(t, "/x?a=1&access_token="+queryTok))
	seen := b.take()
	if len(seen) != 1 {
		t.Fatalf("backend got %d requests, want 1", len(seen))
	}
	if got := seen[0].Header.Get("X-Original-URI"); got != "/x?a=1" {
		t.Errorf("X-Original-URI %q, want %q", got, "/x?a=1")
	}
	if got := seen[0].Header.Get("X-Original-Query"); got != "a=1" {
		t.Errorf("X-Original-Query %q, want %q", got, "a=1")
	}
}

// TestBrowserOriginalURIHasNoTokenAfterRewrite: a rewrite before
// solo_auth that removed the parameter from the current URI (here
// `uri query -access_token`, or a rewrite to a URI with a query of its
// own) leaves it in
// Caddy's copy of the request as it arrived. solo_auth strips that copy
// too, so {http.request.orig_uri} still carries no token; the token the
// rewrite took away is not honoured (the request has none left).
func TestBrowserOriginalURIHasNoTokenAfterRewrite(t *testing.T) {
	t.Parallel()
	c := startCaddy(t, spec{Site: `	route {
		uri /dropped/* query -access_token
		rewrite /moved/* /elsewhere?kept=1
		solo_auth {
			secret ` + secret + `
			token_query access_token
			optional
		}
		respond "sub=[{solo.sub}] uri={http.request.uri} orig={http.request.orig_uri} origq={http.request.orig_uri.query}"
	}`})
	for _, tt := range []struct{ path, want string }{
		{"/dropped/x?a=1&access_token=" + queryTok, "sub=[] uri=/dropped/x?a=1 orig=/dropped/x?a=1 origq=a=1"},
		{"/moved/x?access_token=" + queryTok + "&b=2", "sub=[] uri=/elsewhere?kept=1 orig=/moved/x?b=2 origq=b=2"},
	} {
		expectPass(t, c.get(t, tt.path), tt.want)
	}
}

// fcgiBackend is a FastCGI responder on loopback that records the URI
// and Cookie header each request arrived with. Go's net/http/fcgi builds
// the request's URL from REQUEST_URI, as PHP frameworks do, so the URI it
// records is REQUEST_URI.
type fcgiBackend struct {
	addr string
	mu   sync.Mutex
	seen []string
}

func newFCGIBackend(t *testing.T) *fcgiBackend {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	f := &fcgiBackend{addr: l.Addr().String()}
	go fcgi.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.seen = append(f.seen, "REQUEST_URI="+r.URL.RequestURI()+" HTTP_COOKIE="+r.Header.Get("Cookie"))
		f.mu.Unlock()
		w.Write([]byte("fcgi"))
	}))
	return f
}

// TestBrowserFastCGIGetsNoToken: php_fastcgi's transport sends PHP the
// original request's URI as REQUEST_URI; a query token must not be in it.
func TestBrowserFastCGIGetsNoToken(t *testing.T) {
	t.Parallel()
	f := newFCGIBackend(t)
	c := startCaddy(t, spec{Site: `	root * ` + t.TempDir() + `
	solo_auth {
		secret ` + secret + `
		token_query access_token
		token_cookie tok
	}
	reverse_proxy ` + f.addr + ` {
		transport fastcgi
	}`})
	for _, req := range []struct{ target, cookie string }{
		{"/index.php?a=1&access_token=" + queryTok + "&b=2", ""},
		{"/index.php?a=1&b=2", "a=1; tok=" + cookieTok},
	} {
		var headers []string
		if req.cookie != "" {
			headers = append(headers, "Cookie: "+req.cookie)
		}
		if r := c.get(t, req.target, headers...); r.Status != 200 || r.Body != "fcgi" {
			t.Fatalf("%d %q", r.Status, r.Body)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	want := []string{
		"REQUEST_URI=/index.php?a=1&b=2 HTTP_COOKIE=",
		"REQUEST_URI=/index.php?a=1&b=2 HTTP_COOKIE=a=1",
	}
	if len(f.seen) != len(want) {
		t.Fatalf("FastCGI backend got %q", f.seen)
	}
	for i := range want {
		if f.seen[i] != want[i] {
			t.Errorf("FastCGI backend got\n\t%s\nwant\n\t%s", f.seen[i], want[i])
		}
	}
}
