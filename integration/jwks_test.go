package integration

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"net"
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

// jwksEndpoint is a JWKS server on loopback that the test controls.
type jwksEndpoint struct {
	URL string
	// path is the endpoint's own: once it is down, its port may go to
	// another test's endpoint, which must not answer for it.
	path     string
	listener net.Listener
	server   *http.Server
	requests atomic.Int64
	// held and unheld count the requests that began and ended a hang
	// (mode "hang", or any mode while hold is on): a hang ends when the
	// gate is closed or the client (Caddy's fetch) gives up. held >
	// unheld means a fetch is in flight and cannot finish until then.
	held, unheld atomic.Int64

	mu   sync.Mutex
	mode string // "ok", "500", "garbage", "huge", "hang"
	hold bool   // every request hangs first, then gets mode's answer
	keys []jose.JSONWebKey
	// raw keys are served after keys, as written: JWK members that
	// go-jose cannot write, such as key_ops.
	raw  []json.RawMessage
	gate chan struct{} // closed to release hanging requests
	last time.Time     // when the last request arrived
}

func newJWKSEndpoint(t *testing.T, keys ...jose.JSONWebKey) *jwksEndpoint {
	t.Helper()
	e := &jwksEndpoint{mode: "ok", keys: keys, gate: make(chan struct{}),
		path: "/sso/jwks/client_test_" + strconv.FormatInt(endpointCount.Add(1), 10)}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.URL = "http://" + l.Addr().String() + e.path
	e.serve(l)
	t.Cleanup(e.down)
	return e
}

func (e *jwksEndpoint) serve(l net.Listener) {
	e.listener = l
	e.server = &http.Server{Handler: http.HandlerFunc(e.handle)}
	go e.server.Serve(l)
}

var endpointCount atomic.Int64

func (e *jwksEndpoint) handle(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != e.path {
		http.NotFound(w, r)
		return
	}
	e.mu.Lock()
	e.requests.Add(1)
	e.last = time.Now()
	mode, keys, raw, gate, hold := e.mode, e.keys, e.raw, e.gate, e.hold
	e.mu.Unlock()
	if hold || mode == "hang" {
		e.held.Add(1)
		select {
		case <-gate:
		case <-r.Context().Done():
		}
		e.unheld.Add(1)
	}
	switch mode {
	case "500":
		http.Error(w, "upstream trouble", http.StatusInternalServerError)
	case "garbage":
		w.Write([]byte("<html>maintenance</html>"))
	case "huge":
		w.Write([]byte(`{"keys":[],"padding":"` + strings.Repeat("x", 2<<20) + `"}`))
	case "hang":
	default:
		set := struct {
			Keys []any `json:"keys"`
		}{}
		for _, k := range keys {
			set.Keys = append(set.Keys, k)
		}
		for _, k := range raw {
			set.Keys = append(set.Keys, k)
		}
		json.NewEncoder(w).Encode(set)
	}
}

// jwkWith is key as JSON with members added or replaced.
func jwkWith(t *testing.T, key jose.JSONWebKey, members map[string]any) json.RawMessage {
	t.Helper()
	data, err := json.Marshal(key)
	if err != nil {
		t.Fatal(err)
	}
	var obj map[string]any
	if err := json.Unmarshal(data, &obj); err != nil {
		t.Fatal(err)
	}
	for name, value := range members {
		obj[name] = value
	}
	if data, err = json.Marshal(obj); err != nil {
		t.Fatal(err)
	}
	return data
}

func (e *jwksEndpoint) setMode(mode string) {
	e.mu.Lock()
	e.mode = mode
	e.mu.Unlock()
}

// setHold makes every request hang until the hold is lifted (or the
// client gives up), then answer as the mode says.
func (e *jwksEndpoint) setHold(on bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.hold && !on {
		select {
		case <-e.gate: // already released by down
		default:
			close(e.gate)
		}
		e.gate = make(chan struct{})
	}
	e.hold = on
}

// lastFetch is how many requests the endpoint has had and when the last
// one arrived. Caddy starts its unknown-kid window when it starts a fetch,
// before the request arrives: the window of that fetch is over by
// last + window at the latest.
func (e *jwksEndpoint) lastFetch() (int64, time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.requests.Load(), e.last
}

func (e *jwksEndpoint) setKeys(keys ...jose.JSONWebKey) {
	e.mu.Lock()
	e.keys = keys
	e.mu.Unlock()
}

// down closes the endpoint: connections are refused.
func (e *jwksEndpoint) down() {
	e.mu.Lock()
	select {
	case <-e.gate:
	default:
		close(e.gate)
	}
	e.mu.Unlock()
	if e.server != nil {
		e.server.Close()
		e.server = nil
	}
}

// up listens again on the same address.
func (e *jwksEndpoint) up(t *testing.T) {
	t.Helper()
	e.mu.Lock()
	e.gate = make(chan struct{})
	e.mu.Unlock()
	l, err := net.Listen("tcp", e.listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	e.serve(l)
}

var (
	wkOnce           sync.Once
	wkKey1, wkKey2   *rsa.PrivateKey
	wkPub1, wkPub2   jose.JSONWebKey
	workosClaimsBase tu.Claims
)

func workosKeys() {
	wkOnce.Do(func() {
		var err error
		if wkKey1, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if wkKey2, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		wkPub1 = jose.JSONWebKey{Key: &wkKey1.PublicKey, KeyID: "key_1", Algorithm: "RS256", Use: "sig"}
		wkPub2 = jose.JSONWebKey{Key: &wkKey2.PublicKey, KeyID: "key_2", Algorithm: "RS256", Use: "sig"}
	})
}

// workosToken is shaped like a WorkOS access token.
func workosToken(key *rsa.PrivateKey, kid string, permissions ...string) string {
	claims := tu.SDKClaims("user_01HWORKOS", permissions...).With(
		"iss", "https://api.workos.com",
		"sid", "session_01H",
		"org_id", "org_01H",
		"role", "member",
	)
	return tu.RS256(key, kid, claims)
}

// workosSpec is a Caddy with both key sources in the global option, an
// admin route and a catch-all, answering with the identity.
func workosSpec(url string, extra string) spec {
	return spec{
		Global: `	solo_auth {
		workos_client_id client_test
		jwks_url ` + url + `
		secret ` + secret + `
` + extra + `
	}`,
		Site: `	solo_auth /admin/* admin
	solo_auth
	respond "{solo.token_type} {solo.sub} org={solo.claim.org_id} sid={solo.claim.sid} role={solo.claim.role} perms={solo.permissions}"`,
	}
}

const workosOK = "workos user_01HWORKOS org=org_01H sid=session_01H role=member perms="

func TestWorkOSTokenEndToEnd(t *testing.T) {
	t.Parallel()
	workosKeys()
	e := newJWKSEndpoint(t, wkPub1)
	launched := time.Now() // before the start-up fetch
	c := startCaddy(t, workosSpec(e.URL, ""))

	expectPass(t, c.get(t, "/", bearer(workosToken(wkKey1, "key_1", "read"))), workosOK+"read")
	expectPass(t, c.get(t, "/admin/x", bearer(workosToken(wkKey1, "key_1", "admin"))), workosOK+"admin")
	expectRefusal(t, c.get(t, "/admin/x", bearer(workosToken(wkKey1, "key_1", "read"))), forbidden("admin"))
	// Signed by a key that is not in the set, under a kid that is.
	expectRefusal(t, c.get(t, "/", bearer(workosToken(wkKey2, "key_1"))), invalidToken)
	// A kid the set does not have.
	expectRefusal(t, c.get(t, "/", bearer(workosToken(wkKey2, "key_2"))), invalidToken)
	// An RS256 token whose claims are bad is refused like an SDK token.
	expired := tu.RS256(wkKey1, "key_1", tu.SDKClaims("u").With("exp", time.Now().Add(-time.Hour).Unix()))
	expectRefusal(t, c.get(t, "/", bearer(expired)), tokenExpired)
	// The JWKS key is never an HMAC secret: an HS256 token "signed" with
	// the public key's JSON is invalid.
	pubJSON, _ := json.Marshal(wkPub1)
	expectRefusal(t, c.get(t, "/", bearer(tu.HS256(string(pubJSON), tu.SDKClaims("u")))), invalidToken)
	// SDK tokens work beside WorkOS tokens.
	expectPass(t, c.get(t, "/", bearer(tu.HS256(secret, tu.SDKClaims("user_01HWORKOS").With("org_id", "org_01H", "sid", "session_01H", "role", "member")))),
		strings.Replace(workosOK, "workos", "sdk", 1))
	// Production's 30 s window: the unknown kid above, answered within
	// 30 s of the start-up fetch, caused no fetch. (Only a machine that
	// took 30 s to get here could allow one more.)
	if n := e.requests.Load(); n < 1 || n > 1+fetchesAllowed(launched, time.Now(), 30*time.Second) {
		t.Errorf("%d JWKS fetches, want 1: the unknown kid came within 30s of the first fetch", n)
	}
}

// TestWorkOSOnlyRoute: an SDK token where no secret is set is invalid.
func TestWorkOSOnlyRoute(t *testing.T) {
	t.Parallel()
	workosKeys()
	e := newJWKSEndpoint(t, wkPub1)
	c := startCaddy(t, spec{Site: `	solo_auth {
		jwks_url ` + e.URL + `
	}
	respond "ok {solo.token_type}"`})
	expectPass(t, c.get(t, "/", bearer(workosToken(wkKey1, "key_1"))), "ok workos")
	expectRefusal(t, c.get(t, "/", bearer(tu.HS256(secret, tu.SDKClaims("u")))), invalidToken)
}

// testWindow is the unknown-kid window that the on-demand tests give
// their Caddy through the test hook, instead of production's 30 s.
//
// Caddy opens a window when it starts a fetch, at a moment the tests do
// not see; they bound it instead: it is after some moment they noted
// ("opened", such as just before sending the request that made the
// fetch), and before the endpoint saw the fetch arrive. So the window
// surely lasts until opened+testWindow and is surely over at
// arrival+testWindow. A check that needs the window open counts only for
// requests answered before the first, a check that needs it closed only
// for requests sent after the second; a slow machine can make a check
// inconclusive, and the test then tries again, but never wrong. Three
// seconds are long enough that a request sent right after a fetch is
// answered well inside the window even with the race detector on a
// loaded machine.
const testWindow = 3 * time.Second

// expectWindow fails unless c runs with the test hook's window d: a hook
// that did nothing would leave 30 s, and the tests would prove little.
func expectWindow(t *testing.T, c *caddyProc, d time.Duration) {
	t.Helper()
	if !strings.Contains(c.Logs(), "solo_auth test hook: unknown-kid window "+d.String()+"\n") {
		t.Fatalf("caddy does not run with the test hook's %v window:\n%s", d, lastLines(c.Logs(), 20))
	}
}

// probe is one request sent while the endpoint's counter is watched.
type probe struct {
	r          reply
	sent, done time.Time
	fetches    int64 // fetches that reached the endpoint meanwhile
}

// sendProbe sends token to "/". A request with an unknown kid that makes
// Caddy fetch waits for the fetch, so the fetch has reached the endpoint
// by the time the answer is back.
func sendProbe(t *testing.T, c *caddyProc, e *jwksEndpoint, token string) probe {
	t.Helper()
	before := e.requests.Load()
	p := probe{sent: time.Now()}
	p.r = c.get(t, "/", token)
	p.done = time.Now()
	p.fetches = e.requests.Load() - before
	return p
}

// fetchesAllowed is the most fetches that unknown kids may cause between
// opened (before a fetch that opened a window) and done, with window w:
// each fetch opens a window that no other fetch may start in.
func fetchesAllowed(opened, done time.Time, w time.Duration) int64 {
	return int64(done.Sub(opened) / w)
}

// awaitWindow sends token, whose kid Caddy's key set does not hold, every
// 50 ms until one makes Caddy fetch, and checks both edges of the window
// of the last fetch, which began after opened: no request answered while
// the window is surely open fetches (each is refused as Invalid token),
// and the first one sent after it is surely over fetches, exactly once.
// It returns that request, and how many were answered, without a fetch,
// while the window was surely open.
func awaitWindow(t *testing.T, c *caddyProc, e *jwksEndpoint, opened time.Time, w time.Duration, token string) (fetched probe, inside int) {
	t.Helper()
	_, last := e.lastFetch()
	for {
		p := sendProbe(t, c, e, token)
		if p.fetches > fetchesAllowed(opened, p.done, w) {
			t.Fatalf("%d fetches for an unknown kid %v after the window of %v opened", p.fetches, p.done.Sub(opened), w)
		}
		if p.fetches == 1 {
			return p, inside
		}
		if p.fetches > 1 {
			t.Fatalf("one request caused %d fetches", p.fetches)
		}
		expectRefusal(t, p.r, invalidToken)
		if p.sent.After(last.Add(w)) {
			t.Fatalf("no fetch for an unknown kid %v after the last fetch arrived, with a %v window", p.sent.Sub(last), w)
		}
		if p.done.Before(opened.Add(w)) {
			inside++
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// flood sends all tokens at once; each must be refused as Invalid token.
func flood(t *testing.T, c *caddyProc, tokens []string) {
	t.Helper()
	var wg sync.WaitGroup
	var wrong atomic.Int64
	var sample atomic.Value
	for _, tok := range tokens {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := c.get(t, "/", bearer(tok))
			if r.Status != 401 || r.Body != invalidToken.body {
				wrong.Add(1)
				sample.Store(fmt.Sprintf("%d %s", r.Status, r.Body))
			}
		}()
	}
	wg.Wait()
	if n := wrong.Load(); n != 0 {
		t.Fatalf("%d of %d random-kid requests not refused as Invalid token (e.g. %v)", n, len(tokens), sample.Load())
	}
}

// randomKids are n tokens signed by key under kids no set publishes,
// signed ahead so that a flood is quick to send.
func randomKids(key *rsa.PrivateKey, prefix string, n int) []string {
	tokens := make([]string, n)
	for i := range tokens {
		tokens[i] = workosToken(key, fmt.Sprintf("%s-%d", prefix, i))
	}
	return tokens
}

// TestJWKSOnDemand: with the window shortened by the test hook, a rotated
// key is not fetched for inside the window of the last fetch and is
// fetched, once, by the first token that names it after; a flood of
// random kids inside the window causes no fetch at all.
func TestJWKSOnDemand(t *testing.T) {
	t.Parallel()
	workosKeys()
	e := newJWKSEndpoint(t, wkPub1)
	randoms := randomKids(wkKey2, "random", 300)
	launched := time.Now()
	c := startCaddy(t, withWindow(workosSpec(e.URL, ""), testWindow))
	expectWindow(t, c, testWindow)
	expectPass(t, c.get(t, "/", bearer(workosToken(wkKey1, "key_1"))), workosOK)
	if n := e.requests.Load(); n != 1 {
		t.Fatalf("%d fetches, want 1 (start)", n)
	}

	// Rotation: key_2 is published, key_1 withdrawn. Inside the window
	// of the start-up fetch the rotated token is refused without a
	// fetch; after it, the next one fetches once and passes.
	rotated := bearer(workosToken(wkKey2, "key_2"))
	opened := launched // the start-up fetch began after this
	var rotation probe
	for attempt := 1; ; attempt++ {
		e.setKeys(wkPub2)
		var inside int
		rotation, inside = awaitWindow(t, c, e, opened, testWindow, rotated)
		expectPass(t, rotation.r, workosOK)
		if inside > 0 {
			break
		}
		// No answer came while the window was surely open (under the
		// race detector start-up alone may take longer): withdraw key_2
		// again, open a window with a fetch of our own, and retry.
		if attempt == 3 {
			t.Fatalf("%d times no request was answered within %v of a fetch: too slow to see the window", attempt, testWindow)
		}
		t.Logf("no answer inside the window (the fetch came %v after it opened): again", rotation.done.Sub(opened))
		e.setKeys(wkPub1)
		reset, _ := awaitWindow(t, c, e, rotation.sent, testWindow, bearer(workosToken(wkKey1, "reset")))
		expectRefusal(t, reset.r, invalidToken)
		opened = reset.sent
	}
	expectRefusal(t, c.get(t, "/", bearer(workosToken(wkKey1, "key_1"))), invalidToken)

	// Flood: inside the window of the rotation fetch, hundreds of random
	// kids cause no fetch at all and are refused; known kids keep passing.
	opened = rotation.sent
	for attempt := 1; ; attempt++ {
		before := e.requests.Load()
		flood(t, c, randoms)
		done := time.Now()
		n := e.requests.Load() - before
		if n > fetchesAllowed(opened, done, testWindow) {
			t.Fatalf("a flood of random kids, answered %v after the window of %v opened, caused %d fetches", done.Sub(opened), testWindow, n)
		}
		if fetchesAllowed(opened, done, testWindow) == 0 {
			break // the whole flood was answered inside the window
		}
		// The flood outlasted the window: open a new one and flood again.
		if attempt == 3 {
			t.Fatalf("%d times a flood outlasted the %v window: too slow to test it", attempt, testWindow)
		}
		t.Logf("the flood was answered %v after the window opened, with %d fetches: again", done.Sub(opened), n)
		reopen, _ := awaitWindow(t, c, e, opened, testWindow, bearer(workosToken(wkKey2, "reopen")))
		expectRefusal(t, reopen.r, invalidToken)
		opened = reopen.sent
	}
	expectPass(t, c.get(t, "/", rotated), workosOK)
}

// TestJWKSFloodAfterRateLimit: once the window of the last fetch is over,
// a concurrent flood of random kids merges into exactly one fetch.
func TestJWKSFloodAfterRateLimit(t *testing.T) {
	t.Parallel()
	workosKeys()
	e := newJWKSEndpoint(t, wkPub1)
	tokens := randomKids(wkKey1, "flood", 300)
	c := startCaddy(t, withWindow(workosSpec(e.URL, ""), testWindow))
	expectWindow(t, c, testWindow)
	for attempt := 1; ; attempt++ {
		// Wait until the window of the last fetch is surely over.
		before, last := e.lastFetch()
		time.Sleep(time.Until(last.Add(testWindow)))
		began := time.Now()
		flood(t, c, tokens)
		done := time.Now()
		n := e.requests.Load() - before
		if n == 0 {
			t.Fatalf("a flood of random kids after the window caused no fetch")
		}
		// The flood's first fetch began after began; any further one
		// only a window later.
		if n > 1+fetchesAllowed(began, done, testWindow) {
			t.Fatalf("a flood of random kids, answered in %v, caused %d fetches", done.Sub(began), n)
		}
		if n == 1 {
			return
		}
		// The flood outlasted its fetch's window, so a second fetch was
		// allowed: flood again.
		if attempt == 3 {
			t.Fatalf("%d times a flood outlasted the %v window: too slow to test it", attempt, testWindow)
		}
		t.Logf("the flood took %v, with %d fetches: again", done.Sub(began), n)
	}
}

// TestJWKSDownAtStart: Caddy starts anyway, SDK tokens work, WorkOS
// tokens get 503 with Retry-After, and the background retry recovers.
func TestJWKSDownAtStart(t *testing.T) {
	t.Parallel()
	workosKeys()
	// How long a Caddy takes to start here and now, with the endpoint up.
	up := newJWKSEndpoint(t, wkPub1)
	launched := time.Now()
	startCaddy(t, workosSpec(up.URL, "")).Stop()
	reference := time.Since(launched) // includes the Stop: more generous

	e := newJWKSEndpoint(t, wkPub1)
	e.down()
	launched = time.Now()
	c := startCaddy(t, workosSpec(e.URL, ""))
	// A refused connection fails the fetch at once: start-up must not
	// wait for the endpoint, nor for anything as long as a fetch may
	// take (10 s). Compared with the start just before, not with a fixed
	// time, which a race-detector build on a loaded machine may need.
	if d := time.Since(launched); d > reference+10*time.Second {
		t.Errorf("start-up took %v with the JWKS down, %v with it up", d, reference)
	}
	expectPass(t, c.get(t, "/", bearer(tu.HS256(secret, tu.SDKClaims("sdk-user")))), "sdk sdk-user org= sid= role= perms=")
	r := c.get(t, "/", bearer(workosToken(wkKey1, "key_1")))
	expectRefusal(t, r, unavailable)
	// Without keys no RS256 signature can be checked: a forged token
	// gets the same 503, never a pass.
	expectRefusal(t, c.get(t, "/", bearer(workosToken(wkKey2, "key_1"))), unavailable)
	// A token whose payload holds a character outside base64url is
	// malformed whatever its kid: 401 at the shape check, before any key
	// is looked up, even while no key set has loaded.
	expectRefusal(t, c.get(t, "/", bearer(plusInPayload(workosToken(wkKey1, "key_1")))), invalidToken)
	e.up(t)
	// The retry backoff is capped at a minute.
	deadline := time.Now().Add(90 * time.Second)
	for {
		r = c.get(t, "/", bearer(workosToken(wkKey1, "key_1")))
		if r.Status == 200 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	expectPass(t, r, workosOK)
}

// TestJWKSFailedRefreshKeepsKeys: with jwks_refresh 1s the endpoint is
// asked again and again while it fails in each way; the last good set stays
// in use, and known kids never wait for a refresh.
func TestJWKSFailedRefreshKeepsKeys(t *testing.T) {
	t.Parallel()
	workosKeys()
	for _, mode := range []string{"500", "garbage", "huge", "hang"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			e := newJWKSEndpoint(t, wkPub1)
			c := startCaddy(t, workosSpec(e.URL, "		jwks_refresh 1s"))
			tok := bearer(workosToken(wkKey1, "key_1"))
			expectPass(t, c.get(t, "/", tok), workosOK)
			e.setMode(mode)
			before := e.requests.Load()
			// A hanging fetch takes 10 s to fail, then a second starts.
			deadline := time.Now().Add(60 * time.Second)
			for e.requests.Load() < before+2 && time.Now().Before(deadline) {
				time.Sleep(100 * time.Millisecond)
			}
			if e.requests.Load() < before+2 {
				t.Fatalf("the failing endpoint was not asked again")
			}
			expectPass(t, c.get(t, "/", tok), workosOK)

			// Known kids do not wait for a refresh in flight: each answer
			// comes while the endpoint still holds the refresh that was in
			// flight when the request was sent. ("hang" holds every
			// request; the other modes answer as before once released.)
			// If Caddy gives the refresh up (after 10 s) while a request
			// is out, that request proves nothing and another is sent.
			e.setHold(true)
			proved, unproven := 0, 0
			for proved < 20 {
				deadline := time.Now().Add(60 * time.Second)
				for e.held.Load() == e.unheld.Load() && time.Now().Before(deadline) {
					time.Sleep(20 * time.Millisecond)
				}
				if e.held.Load() == e.unheld.Load() {
					t.Fatalf("no refresh in flight for a minute, with jwks_refresh 1s")
				}
				ended := e.unheld.Load()
				expectPass(t, c.get(t, "/", tok), workosOK)
				if e.unheld.Load() == ended {
					proved++
					continue
				}
				if unproven++; unproven == 5 {
					t.Fatalf("%d known-kid answers came only after the refresh in flight ended", unproven)
				}
			}
			e.setHold(false)
			if !strings.Contains(c.Logs(), "jwks: fetch failed; keeping the last good key set") {
				t.Errorf("no log line for the failed refresh")
			}
		})
	}
}

// TestJWKSSharedAcrossDirectivesAndReloads: several directives with one URL
// cause one fetch; a reload with the endpoint gone keeps the keys.
func TestJWKSSharedAcrossDirectivesAndReloads(t *testing.T) {
	t.Parallel()
	workosKeys()
	e := newJWKSEndpoint(t, wkPub1)
	three := `	solo_auth /a/* a {
		jwks_url ` + e.URL + `
	}
	solo_auth /b/* b {
		jwks_url ` + e.URL + `
	}
	solo_auth {
		jwks_url ` + e.URL + `
	}
	respond "ok {solo.sub}"`
	c := startCaddy(t, spec{Site: three})
	if n := e.requests.Load(); n != 1 {
		t.Fatalf("%d fetches for three directives sharing a URL, want 1", n)
	}
	tok := bearer(workosToken(wkKey1, "key_1", "a", "b"))
	expectPass(t, c.get(t, "/a/x", tok), "ok user_01HWORKOS")

	e.down()
	c.reload(t, spec{Site: strings.Replace(three, `respond "ok {solo.sub}"`, `respond "reloaded {solo.sub}"`, 1)})
	expectPass(t, c.get(t, "/b/x", tok), "reloaded user_01HWORKOS")
	c.reload(t, spec{Site: strings.Replace(three, `respond "ok {solo.sub}"`, `respond "again {solo.sub}"`, 1)})
	expectPass(t, c.get(t, "/", tok), "again user_01HWORKOS")
	if n := e.requests.Load(); n != 1 {
		t.Fatalf("%d fetches after reloads, want 1: the key set did not survive", n)
	}

	// A config that no longer uses the URL releases the key set.
	c.reload(t, spec{Site: `	solo_auth {
		secret ` + secret + `
	}
	respond "sdk only"`})
	r := send(t, mustRequest(t, http.MethodGet, c.Admin+"/solo_auth/keys"))
	if r.Body != "{\"key_sets\":[]}\n" {
		t.Fatalf("key sets after the last user left: %s", r.Body)
	}
}

// TestJWKSHangingAtStart: an endpoint that accepts and never answers holds
// Caddy's start-up no more than a few seconds.
func TestJWKSHangingAtStart(t *testing.T) {
	t.Parallel()
	workosKeys()
	// How long a Caddy takes to serve after its start-up fetch began,
	// here and now, when the endpoint answers at once.
	ok := newJWKSEndpoint(t, wkPub1)
	c := startCaddy(t, workosSpec(ok.URL, ""))
	reference := sinceFetch(ok)
	c.Stop()

	e := newJWKSEndpoint(t, wkPub1)
	e.setMode("hang")
	c = startCaddy(t, workosSpec(e.URL, ""))
	held := sinceFetch(e) - reference
	// The start-up fetch would hang until Caddy gives it up after 10 s.
	// Start-up waits for it 3 s (keys.DefaultStartupWait), then perhaps up to 3 s
	// more for a saved key set (keys.StorageTimeout): 8 s leaves margin for
	// a loaded machine and is still less than the fetch's 10 s. Measured
	// from the fetch's arrival, the time a race-detector build takes to
	// launch does not count.
	if held > 8*time.Second {
		t.Errorf("start-up was held %v longer by a hanging JWKS endpoint than by one that answers (%v)", held, reference)
	}
	expectPass(t, c.get(t, "/", bearer(tu.HS256(secret, tu.SDKClaims("s")))), "sdk s org= sid= role= perms=")
	expectRefusal(t, c.get(t, "/", bearer(workosToken(wkKey1, "key_1"))), unavailable)
	if !strings.Contains(c.Logs(), "first fetch still running") {
		t.Errorf("no log line says start-up went on without the key set")
	}
}

// sinceFetch is the time since e's last request arrived, 0 if none has:
// a Caddy that serves before its start-up fetch even arrived was not held
// by it.
func sinceFetch(e *jwksEndpoint) time.Duration {
	if _, last := e.lastFetch(); !last.IsZero() {
		return time.Since(last)
	}
	return 0
}

// TestJWKSSavedAcrossRestart: a restart during an outage of the endpoint
// still verifies, from the key set saved in Caddy's storage.
func TestJWKSSavedAcrossRestart(t *testing.T) {
	t.Parallel()
	workosKeys()
	e := newJWKSEndpoint(t, wkPub1)
	dataDir := t.TempDir()
	tok := bearer(workosToken(wkKey1, "key_1"))

	withData := workosSpec(e.URL, "")
	withData.DataDir = dataDir
	first := startCaddy(t, withData)
	expectPass(t, first.get(t, "/", tok), workosOK)
	first.Stop()

	e.down()
	second := startCaddy(t, withData)
	expectPass(t, second.get(t, "/", tok), workosOK)
	expectRefusal(t, second.get(t, "/", bearer(workosToken(wkKey2, "key_2"))), invalidToken)
	if !strings.Contains(second.Logs(), "using the saved key set") {
		t.Errorf("no log line says the saved key set is in use")
	}
	keys := send(t, mustRequest(t, http.MethodGet, second.Admin+"/solo_auth/keys")).Body
	if !strings.Contains(keys, `"source":"storage"`) || !strings.Contains(keys, `"kids":["key_1"]`) || !strings.Contains(keys, `"last_error":"jwks `) {
		t.Errorf("admin API during the outage: %s", keys)
	}
	second.Stop()

	// Without the saved set, the same outage means 503.
	third := startCaddy(t, workosSpec(e.URL, ""))
	expectRefusal(t, third.get(t, "/", tok), unavailable)
}

// TestJWKSHygiene: keys that must not be used are skipped one by one over
// real HTTP: a kid on two keys, a 1024-bit key, a key for encryption, an
// RS384 key, a key whose key_ops do not include verify, and a symmetric
// key whose bytes sign an HS256 token; the good keys beside them still
// verify.
func TestJWKSHygiene(t *testing.T) {
	t.Parallel()
	workosKeys()
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	octSecret := "symmetric-key-in-the-jwks-0123456789"
	e := newJWKSEndpoint(t,
		wkPub1,
		jose.JSONWebKey{Key: &wkKey2.PublicKey, KeyID: "dup", Algorithm: "RS256", Use: "sig"},
		jose.JSONWebKey{Key: &wkKey1.PublicKey, KeyID: "dup", Algorithm: "RS256", Use: "sig"},
		jose.JSONWebKey{Key: &small.PublicKey, KeyID: "small", Algorithm: "RS256", Use: "sig"},
		jose.JSONWebKey{Key: &wkKey2.PublicKey, KeyID: "enc", Use: "enc"},
		jose.JSONWebKey{Key: &wkKey2.PublicKey, KeyID: "rs384", Algorithm: "RS384"},
		jose.JSONWebKey{Key: []byte(octSecret), KeyID: "oct", Algorithm: "HS256", Use: "sig"},
	)
	e.raw = []json.RawMessage{
		jwkWith(t, jose.JSONWebKey{Key: &wkKey2.PublicKey, KeyID: "ops-encrypt", Algorithm: "RS256"},
			map[string]any{"key_ops": []string{"encrypt", "wrapKey"}}),
		jwkWith(t, jose.JSONWebKey{Key: &wkKey2.PublicKey, KeyID: "ops-verify", Algorithm: "RS256"},
			map[string]any{"key_ops": []string{"verify"}}),
		// Present but malformed (the wrong JSON type): never used.
		jwkWith(t, jose.JSONWebKey{Key: &wkKey2.PublicKey, KeyID: "use-number", Algorithm: "RS256"},
			map[string]any{"use": 5}),
		jwkWith(t, jose.JSONWebKey{Key: &wkKey2.PublicKey, KeyID: "alg-array"},
			map[string]any{"alg": []string{"RS256"}}),
		jwkWith(t, jose.JSONWebKey{Key: &wkKey2.PublicKey, KeyID: "ops-string", Algorithm: "RS256"},
			map[string]any{"key_ops": "verify"}),
	}
	c := startCaddy(t, spec{Site: `	solo_auth {
		jwks_url ` + e.URL + `
	}
	respond "ok {solo.sub}"`})
	expectPass(t, c.get(t, "/", bearer(workosToken(wkKey1, "key_1"))), "ok user_01HWORKOS")
	expectPass(t, c.get(t, "/", bearer(workosToken(wkKey2, "ops-verify"))), "ok user_01HWORKOS")
	for name, token := range map[string]string{
		"key_ops without verify": workosToken(wkKey2, "ops-encrypt"),
		"kid on two keys":        workosToken(wkKey2, "dup"),
		"1024-bit key":           workosToken(small, "small"),
		"use enc":                workosToken(wkKey2, "enc"),
		"alg RS384":              workosToken(wkKey2, "rs384"),
		"oct key as HS256":       tu.Sign(jose.SigningKey{Algorithm: jose.HS256, Key: []byte(octSecret)}, tu.SDKClaims("m"), map[jose.HeaderKey]any{"kid": "oct"}),
		"oct key as a kid":       workosToken(wkKey2, "oct"),
		"good kid, bad key":      workosToken(wkKey2, "key_1"),
		"use a number":           workosToken(wkKey2, "use-number"),
		"alg an array":           workosToken(wkKey2, "alg-array"),
		"key_ops a string":       workosToken(wkKey2, "ops-string"),
	} {
		t.Run(name, func(t *testing.T) {
			expectRefusal(t, c.get(t, "/", bearer(token)), invalidToken)
		})
	}
	keys := send(t, mustRequest(t, http.MethodGet, c.Admin+"/solo_auth/keys")).Body
	if !strings.Contains(keys, `"kids":["key_1","ops-verify"]`) {
		t.Errorf("keys in use: %s", keys)
	}
}

// TestJWKSRedirectNotFollowed: a JWKS endpoint that redirects, even to a
// good key set, is a failed fetch: the target is never asked, and a
// WorkOS token gets the 503 of a key set never loaded.
func TestJWKSRedirectNotFollowed(t *testing.T) {
	t.Parallel()
	workosKeys()
	target := newJWKSEndpoint(t, wkPub1)
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL, http.StatusFound)
	}))
	t.Cleanup(redirect.Close)
	c := startCaddy(t, spec{Site: `	solo_auth {
		jwks_url ` + redirect.URL + `/jwks
		secret ` + secret + `
	}
	respond "ok {solo.sub}"`})
	expectRefusal(t, c.get(t, "/", bearer(workosToken(wkKey1, "key_1"))), unavailable)
	expectPass(t, c.get(t, "/", bearer(tu.HS256(secret, tu.SDKClaims("m")))), "ok m")
	if n := target.requests.Load(); n != 0 {
		t.Fatalf("the redirect's target was fetched %d times", n)
	}
}
