package integration

// The case the browser sources exist for: a WebSocket upgrade, which a
// browser cannot give an Authorization header, authenticated by a query
// parameter or a cookie, through a real Caddy to a backend that upgrades.

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// wsBackend upgrades every request (it answers 101 and then echoes what
// it reads) and records what it received, as uriBackend does.
func newWSBackend(t *testing.T) *uriBackend {
	t.Helper()
	b := &uriBackend{}
	b.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.mu.Lock()
		b.seen = append(b.seen, arrival{Method: r.Method, URI: r.RequestURI, Cookie: r.Header.Values("Cookie"), Header: r.Header.Clone()})
		b.mu.Unlock()
		if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			http.Error(w, "not an upgrade", http.StatusBadRequest)
			return
		}
		conn, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		rw.Flush()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		io.Copy(conn, rw)
	}))
	t.Cleanup(b.Close)
	return b
}

// upgrade sends a WebSocket handshake to Caddy over a raw connection and
// returns the status line; on a 101 it also checks that bytes go through
// the tunnel both ways.
func upgrade(t *testing.T, c *caddyProc, target string, headers ...string) string {
	t.Helper()
	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(c.URL, "http://"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	req := fmt.Sprintf("GET %s HTTP/1.1\r\nHost: %s\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"+
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin: %s\r\n",
		target, strings.TrimPrefix(c.URL, "http://"), c.URL)
	for _, h := range headers {
		req += h + "\r\n"
	}
	if _, err := io.WriteString(conn, req+"\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	status := resp.Status
	if resp.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return status + " " + string(body)
	}
	if _, err := io.WriteString(conn, "ping"); err != nil {
		t.Fatal(err)
	}
	echo := make([]byte, 4)
	if _, err := io.ReadFull(br, echo); err != nil || string(echo) != "ping" {
		t.Errorf("tunnel: read %q, %v", echo, err)
	}
	return status
}

func TestBrowserWebSocketUpgrade(t *testing.T) {
	t.Parallel()
	b := newWSBackend(t)
	c := startCaddy(t, spec{
		Global: `	solo_auth {
		secret ` + secret + `
	}`,
		Site: `	solo_auth /ws/* {
		token_query access_token
		token_cookie tok
	}
` + proxyBlock(b.URL),
	})
	if got := upgrade(t, c, "/ws/room?access_token="+queryTok+"&room=1"); got != "101 Switching Protocols" {
		t.Errorf("query token: %s", got)
	}
	b.expectArrival(t, want{http.MethodGet, "/ws/room?room=1", "", "query", "query-user"})

	if got := upgrade(t, c, "/ws/room?room=1", "Cookie: a=1; tok="+cookieTok); got != "101 Switching Protocols" {
		t.Errorf("cookie token: %s", got)
	}
	b.expectArrival(t, want{http.MethodGet, "/ws/room?room=1", "a=1", "cookie", "cookie-user"})

	if got := upgrade(t, c, "/ws/room?room=1"); got != `401 Unauthorized {"detail":"Not authenticated"}` {
		t.Errorf("no token: %s", got)
	}
	if got := upgrade(t, c, "/ws/room?access_token=garbage"); got != `401 Unauthorized {"detail":"Invalid token"}` {
		t.Errorf("bad token: %s", got)
	}
	b.expectNone(t)
	expectNoTokenInLogs(t, c, queryTok, cookieTok)
}
