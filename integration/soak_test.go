package integration

import (
	"bufio"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	tu "github.com/solo-one/caddy-solo-auth/internal/testutil"
)

// TestSoak sends mixed traffic from many clients while the WorkOS keys
// rotate, the JWKS endpoint goes down and up, and the config is reloaded
// (rotating the SDK secret), and checks every response. Then 100 reloads
// more, and goroutines and memory must come back near where they were.
//
//	SOLO_SOAK_DURATION=5m go test ./integration -run TestSoak -v -timeout 30m
//
// The default duration is 60s.
func TestSoak(t *testing.T) {
	duration := 60 * time.Second
	if d := os.Getenv("SOLO_SOAK_DURATION"); d != "" {
		var err error
		if duration, err = time.ParseDuration(d); err != nil {
			t.Fatalf("SOLO_SOAK_DURATION: %v", err)
		}
	}
	workosKeys()
	s := newSoak(t)
	s.run(duration)
}

// soakState is what the traffic may assume at a moment: the secrets and
// keys that must verify, and those that must not any more.
type soakState struct {
	secret, retiredSecret string // retiredSecret: "" until one is retired
	key                   *rsa.PrivateKey
	kid                   string
	retiredKey            *rsa.PrivateKey // confirmed gone from Caddy's set
	retiredKID            string
}

type soak struct {
	t       *testing.T
	c       *caddyProc
	jwks    *jwksEndpoint
	secrets []string

	mu    sync.RWMutex
	state soakState

	sent, fivexx    atomic.Int64
	transport       atomic.Int64
	transportMu     sync.Mutex
	transportSample string
	wrongMu         sync.Mutex
	wrong           map[string]int
	wrongSample     map[string]string
	latMu           sync.Mutex
	latencies       []time.Duration
	reloads         atomic.Int64
}

var soakSecrets = []string{
	"soak-secret-one-0123456789abcdefghij",
	"soak-secret-two-0123456789abcdefghij",
	"soak-secret-three-0123456789abcdefgh",
}

func newSoak(t *testing.T) *soak {
	s := &soak{t: t, wrong: map[string]int{}, wrongSample: map[string]string{}}
	s.jwks = newJWKSEndpoint(t, wkPub1)
	s.state = soakState{secret: soakSecrets[0], key: wkKey1, kid: "key_1"}
	s.c = startCaddy(t, s.spec(0, []string{soakSecrets[0]}))
	return s
}

// spec is the soak's config; generation changes the response so that a
// reload always loads a new config.
func (s *soak) spec(generation int, secrets []string) spec {
	lines := ""
	for _, sec := range secrets {
		lines += "\t\tsecret " + sec + "\n"
	}
	return spec{
		Global: `	solo_auth {
` + lines + `		jwks_url ` + s.jwks.URL + `
		jwks_refresh 1s
	}`,
		Site: `	solo_auth /admin/* admin
	solo_auth
	respond "ok {solo.sub} {solo.token_type} g` + strconv.Itoa(generation) + `"`,
	}
}

func (s *soak) snapshot() soakState {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.state
}

// request is one request of the mix with the answers it may get.
type soakRequest struct {
	kind    string
	path    string
	header  string // Authorization, "" for none
	status  int
	bodyHas string // the 200 body must start with this
	body    string // exact body of a refusal
}

// rs256Memo keeps RS256 tokens minted this second: RSA signing is the
// load generator's bottleneck, and a repeated token exercises the cache.
var rs256Memo sync.Map

func memoRS256(key *rsa.PrivateKey, kid string, c tu.Claims) string {
	k := fmt.Sprint(key.N.Text(36)[:16], kid, c["sub"], c["permissions"], c["iat"])
	if tok, ok := rs256Memo.Load(k); ok {
		return tok.(string)
	}
	tok := tu.RS256(key, kid, c)
	rs256Memo.Store(k, tok)
	return tok
}

func (s *soak) next(rng *rand.Rand, st soakState) soakRequest {
	// Few subjects, so that tokens repeat within a second and the cache
	// is used (and must be right) for every class of request.
	sub := fmt.Sprintf("u%d", rng.IntN(50))
	claims := tu.SDKClaims(sub, "read")
	admin := tu.SDKClaims(sub, "admin")
	switch n := rng.IntN(100); {
	case n < 25:
		return soakRequest{kind: "valid sdk", path: "/", header: "Bearer " + tu.HS256(st.secret, claims), status: 200, bodyHas: "ok " + sub + " sdk "}
	case n < 35:
		return soakRequest{kind: "valid sdk, scoped", path: "/admin/x", header: "Bearer " + tu.HS256(st.secret, admin), status: 200, bodyHas: "ok " + sub + " sdk "}
	case n < 50:
		return soakRequest{kind: "valid workos", path: "/", header: "Bearer " + memoRS256(st.key, st.kid, claims), status: 200, bodyHas: "ok " + sub + " workos "}
	case n < 55:
		return soakRequest{kind: "valid workos, scoped", path: "/admin/y", header: "Bearer " + memoRS256(st.key, st.kid, admin), status: 200, bodyHas: "ok " + sub + " workos "}
	case n < 62:
		return soakRequest{kind: "wrong scope", path: "/admin/z", header: "Bearer " + tu.HS256(st.secret, claims), status: 403, body: `{"detail":"Not enough permissions"}`}
	case n < 69:
		exp := claims.With("exp", time.Now().Add(-time.Hour).Unix())
		return soakRequest{kind: "expired", path: "/", header: "Bearer " + tu.HS256(st.secret, exp), status: 401, body: tokenExpired.body}
	case n < 76:
		return soakRequest{kind: "forged", path: "/admin/x", header: "Bearer " + tu.HS256(otherSecret, admin), status: 401, body: invalidToken.body}
	case n < 80:
		other := wkKey2
		if st.key == wkKey2 {
			other = wkKey1
		}
		forged := memoRS256(other, st.kid, admin)
		return soakRequest{kind: "forged workos", path: "/", header: "Bearer " + forged, status: 401, body: invalidToken.body}
	case n < 82:
		// A kid nobody publishes: refused, and fetches stay rate-limited.
		return soakRequest{kind: "unknown kid", path: "/", header: "Bearer " + memoRS256(st.key, fmt.Sprint("rnd-", rng.IntN(20)), claims), status: 401, body: invalidToken.body}
	case n < 85:
		return soakRequest{kind: "malformed", path: "/", header: "Bearer " + []string{"x.y.z", "abc", "a.b", sub}[rng.IntN(4)], status: 401, body: invalidToken.body}
	case n < 90:
		return soakRequest{kind: "missing", path: "/admin/x", status: 401, body: notAuthenticated.body}
	case n < 95 && st.retiredSecret != "":
		return soakRequest{kind: "retired secret", path: "/", header: "Bearer " + tu.HS256(st.retiredSecret, claims), status: 401, body: invalidToken.body}
	case n < 100 && st.retiredKey != nil:
		return soakRequest{kind: "retired key", path: "/", header: "Bearer " + memoRS256(st.retiredKey, st.retiredKID, claims), status: 401, body: invalidToken.body}
	}
	return soakRequest{kind: "valid sdk", path: "/", header: "Bearer " + tu.HS256(st.secret, claims), status: 200, bodyHas: "ok " + sub + " sdk "}
}

func (s *soak) fail(kind, detail string) {
	s.wrongMu.Lock()
	defer s.wrongMu.Unlock()
	s.wrong[kind]++
	if _, ok := s.wrongSample[kind]; !ok {
		s.wrongSample[kind] = detail
	}
}

// client sends requests until stop, checking each.
func (s *soak) client(id int, stop <-chan struct{}, wg *sync.WaitGroup) {
	defer wg.Done()
	rng := rand.New(rand.NewPCG(uint64(id), uint64(time.Now().UnixNano())))
	httpc := &http.Client{Timeout: 30 * time.Second}
	var lats []time.Duration
	defer func() {
		s.latMu.Lock()
		s.latencies = append(s.latencies, lats...)
		s.latMu.Unlock()
	}()
	for {
		select {
		case <-stop:
			return
		default:
		}
		st := s.snapshot()
		want := s.next(rng, st)
		req, _ := http.NewRequest(http.MethodGet, s.c.URL+want.path, nil)
		if want.header != "" {
			req.Header.Set("Authorization", want.header)
		}
		start := time.Now()
		resp, err := httpc.Do(req)
		if err != nil {
			// An idle keep-alive connection that Caddy closes as a reload
			// stops the old server, in the instant the client reuses it:
			// HTTP/1.1's known race, which clients retry. Counted apart.
			s.transport.Add(1)
			s.transportMu.Lock()
			s.transportSample = err.Error()
			s.transportMu.Unlock()
			continue
		}
		body := readAll(resp)
		lats = append(lats, time.Since(start))
		s.sent.Add(1)
		if resp.StatusCode >= 500 {
			s.fivexx.Add(1)
		}
		if st != s.snapshot() {
			// The state moved while in flight, so the expected answer may
			// have changed with it, except for one thing: a token that was
			// never good must never pass.
			if resp.StatusCode == 200 && want.status != 200 && !strings.HasPrefix(want.kind, "retired") {
				s.fail("LET IN: "+want.kind+" (during a change)", body)
			}
			continue
		}
		switch {
		case resp.StatusCode != want.status:
			kind := want.kind + fmt.Sprintf(": got %d", resp.StatusCode)
			if resp.StatusCode == 200 && want.status != 200 {
				kind = "LET IN: " + kind
			}
			s.fail(kind, body)
		case want.status == 200 && !strings.HasPrefix(body, want.bodyHas):
			s.fail(want.kind+": wrong identity", fmt.Sprintf("got %q, want %q...", body, want.bodyHas))
		case want.status != 200 && body != want.body:
			s.fail(want.kind+": wrong body", body)
		}
	}
}

func readAll(resp *http.Response) string {
	defer resp.Body.Close()
	var b strings.Builder
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		b.WriteString(sc.Text())
	}
	return b.String()
}

// waitKeys waits until Caddy's key set holds exactly kids.
func (s *soak) waitKeys(kids string) {
	// jwks_refresh is 1s; a minute is for a machine under the race
	// detector and the soak's own load.
	deadline := time.Now().Add(60 * time.Second)
	re := regexp.MustCompile(`"kids":\[([^\]]*)\]`)
	for time.Now().Before(deadline) {
		r := send(s.t, mustRequest(s.t, http.MethodGet, s.c.Admin+"/solo_auth/keys"))
		if m := re.FindStringSubmatch(r.Body); m != nil && strings.ReplaceAll(m[1], `"`, "") == kids {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.t.Fatalf("Caddy's key set never became %s", kids)
}

func (s *soak) setState(f func(*soakState)) {
	s.mu.Lock()
	f(&s.state)
	s.mu.Unlock()
}

// chaos changes keys, the endpoint and the config until stop.
func (s *soak) chaos(stop <-chan struct{}) {
	generation, secretIdx := 0, 0
	keys := []struct {
		key *rsa.PrivateKey
		kid string
		pub jose.JSONWebKey
	}{{wkKey1, "key_1", wkPub1}, {wkKey2, "key_2", wkPub2}}
	keyIdx := 0
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for step := 0; ; step++ {
		select {
		case <-stop:
			s.jwks.setKeys(keys[keyIdx].pub)
			return
		case <-tick.C:
		}
		switch step % 4 {
		case 0: // rotate the WorkOS key: publish the new one beside the old
			next := (keyIdx + 1) % 2
			// The next key may be the one retired last time: stop treating
			// it as retired before it is published again.
			s.setState(func(st *soakState) { st.retiredKey = nil })
			s.jwks.setKeys(keys[keyIdx].pub, keys[next].pub)
			s.waitKeys(strings.Join(sortedPair(keys[keyIdx].kid, keys[next].kid), ","))
			// Then sign with the new one and withdraw the old; once Caddy
			// has dropped it, tokens signed with it must be refused.
			s.setState(func(st *soakState) { st.key, st.kid = keys[next].key, keys[next].kid })
			s.jwks.setKeys(keys[next].pub)
			s.waitKeys(keys[next].kid)
			s.setState(func(st *soakState) { st.retiredKey, st.retiredKID = keys[keyIdx].key, keys[keyIdx].kid })
			keyIdx = next
		case 1: // the endpoint goes down; known keys keep verifying
			s.jwks.down()
		case 2: // a reload that rotates the SDK secret, in two steps
			s.jwks.up(s.t)
			next := (secretIdx + 1) % len(soakSecrets)
			generation++
			s.c.reload(s.t, s.spec(generation, []string{soakSecrets[secretIdx], soakSecrets[next]}))
			s.reloads.Add(1)
			s.setState(func(st *soakState) { st.secret, st.retiredSecret = soakSecrets[next], "" })
			generation++
			s.c.reload(s.t, s.spec(generation, []string{soakSecrets[next]}))
			s.reloads.Add(1)
			s.setState(func(st *soakState) { st.retiredSecret = soakSecrets[secretIdx] })
			secretIdx = next
		case 3: // a plain reload
			generation++
			s.c.reload(s.t, s.spec(generation, []string{soakSecrets[secretIdx]}))
			s.reloads.Add(1)
		}
	}
}

func sortedPair(a, b string) []string {
	p := []string{a, b}
	sort.Strings(p)
	return p
}

func (s *soak) goroutines() int {
	r := send(s.t, mustRequest(s.t, http.MethodGet, s.c.Admin+"/debug/pprof/goroutine?debug=1"))
	m := regexp.MustCompile(`goroutine profile: total (\d+)`).FindStringSubmatch(r.Body)
	if m == nil {
		s.t.Fatalf("no goroutine count: %.200s", r.Body)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// memory is Caddy's resident memory and Go heap in use, in KiB, after
// asking it to collect garbage.
func (s *soak) memory() (rssKiB, heapKiB int) {
	send(s.t, mustRequest(s.t, http.MethodGet, s.c.Admin+"/debug/pprof/heap?gc=1"))
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.c.cmd.Process.Pid))
	if err != nil {
		s.t.Fatal(err)
	}
	m := regexp.MustCompile(`VmRSS:\s+(\d+) kB`).FindSubmatch(data)
	rssKiB, _ = strconv.Atoi(string(m[1]))
	var vars struct {
		Memstats struct{ HeapInuse int } `json:"memstats"`
	}
	if err := json.Unmarshal([]byte(send(s.t, mustRequest(s.t, http.MethodGet, s.c.Admin+"/debug/vars")).Body), &vars); err != nil {
		s.t.Fatal(err)
	}
	return rssKiB, vars.Memstats.HeapInuse / 1024
}

func (s *soak) run(duration time.Duration) {
	t := s.t
	// Warm up, so that "before" includes what the first requests load.
	warm := make(chan struct{})
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go s.client(1000+i, warm, &wg)
	}
	// Until a few hundred requests are answered, not for a fixed time,
	// which a loaded machine may spend on very few.
	deadline := time.Now().Add(60 * time.Second)
	for s.sent.Load() < 300 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	close(warm)
	wg.Wait()
	warmed := s.sent.Load()
	if warmed < 300 {
		t.Fatalf("only %d requests answered in a minute of warm-up", warmed)
	}
	goroutinesBefore := s.goroutines()
	rssBefore, heapBefore := s.memory()

	stop := make(chan struct{})
	chaosDone := make(chan struct{})
	go func() {
		defer close(chaosDone) // also when chaos fails the test
		s.chaos(stop)
	}()
	const clients = 32
	for i := range clients {
		wg.Add(1)
		go s.client(i, stop, &wg)
	}
	time.Sleep(duration)
	close(stop)
	wg.Wait()
	<-chaosDone

	// 100 reloads more, then goroutines and memory must come back.
	for i := range 100 {
		s.c.reload(t, s.spec(10000+i, []string{s.snapshot().secret}))
		s.reloads.Add(1)
	}
	// Old configs' goroutines wind down in their own time: ask until the
	// count is back within bounds, for at most a minute, instead of
	// sleeping a fixed time and failing a slow machine.
	goroutinesAfter := s.goroutines()
	for deadline := time.Now().Add(time.Minute); goroutinesAfter > goroutinesBefore+20 && time.Now().Before(deadline); {
		time.Sleep(200 * time.Millisecond)
		goroutinesAfter = s.goroutines()
	}
	rssAfter, heapAfter := s.memory()

	sort.Slice(s.latencies, func(i, j int) bool { return s.latencies[i] < s.latencies[j] })
	pct := func(p float64) time.Duration {
		if len(s.latencies) == 0 {
			return 0
		}
		return s.latencies[int(p*float64(len(s.latencies)-1))]
	}
	wrongTotal := 0
	var kinds []string
	for k, n := range s.wrong {
		wrongTotal += n
		kinds = append(kinds, fmt.Sprintf("  %s: %d (e.g. %.200s)", k, n, s.wrongSample[k]))
	}
	sort.Strings(kinds)
	t.Logf("soak %v: %d requests from %d clients, %d wrong answers, %d 5xx, p50 %v, p99 %v, %d reloads",
		duration, s.sent.Load(), clients, wrongTotal, s.fivexx.Load(), pct(0.5), pct(0.99), s.reloads.Load())
	t.Logf("connections closed under a request by reloads: %d (%.3f%%; e.g. %s)", s.transport.Load(),
		100*float64(s.transport.Load())/float64(max(s.sent.Load(), 1)), s.transportSample)
	t.Logf("goroutines %d before, %d after; Go heap in use %d MiB before, %d MiB after; RSS %d MiB before, %d MiB after",
		goroutinesBefore, goroutinesAfter, heapBefore/1024, heapAfter/1024, rssBefore/1024, rssAfter/1024)
	if wrongTotal > 0 {
		t.Errorf("wrong answers:\n%s", strings.Join(kinds, "\n"))
	}
	if s.fivexx.Load() > 0 {
		t.Errorf("%d responses were 5xx", s.fivexx.Load())
	}
	if float64(s.transport.Load()) > 0.001*float64(s.sent.Load()) {
		t.Errorf("%d requests lost to closed connections, over 0.1%%", s.transport.Load())
	}
	if n := s.sent.Load() - warmed; n < 100 {
		t.Errorf("only %d requests sent after the warm-up", n)
	}
	if goroutinesAfter > goroutinesBefore+20 {
		t.Errorf("goroutines grew from %d to %d over %d reloads: something leaks", goroutinesBefore, goroutinesAfter, s.reloads.Load())
	}
	// The heap is the leak check. RSS is checked too, except under the
	// race detector, whose own bookkeeping grows RSS by tens of MiB a
	// minute of this load whatever the plugin does (58 -> 59 MiB without
	// it, 122 -> 189 MiB with it, on the same code).
	if heapAfter > heapBefore+32*1024 {
		t.Errorf("Go heap in use grew from %d to %d MiB", heapBefore/1024, heapAfter/1024)
	}
	if !raceEnabled && rssAfter > rssBefore+64*1024 {
		t.Errorf("RSS grew from %d to %d MiB", rssBefore/1024, rssAfter/1024)
	}
}
