package integration

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	tu "github.com/solo-one/caddy-solo-auth/internal/testutil"
)

// TestFleetSoak: 60 s of load on all three instances of a fleet on Redis
// while the signing key rotates, the JWKS endpoint fails for 10 s and
// recovers, subjects are revoked on one instance and lifted on another,
// and one instance reloads its config. Every answer is checked against
// what the revocations and lifts made so far require: a token revoked
// longer ago than the propagation bound never passes, a token no
// revocation touches never fails, and no answer is a 5xx. Not parallel,
// like TestSoak: it runs alone, so that its time bounds are the fleet's and
// not those of two cores shared with every other test.
func TestFleetSoak(t *testing.T) {
	_, jwks, s := fleetWorld(t)
	fleet := startFleet(t, s, 3)
	soak := newFleetSoak(fleet)

	start := time.Now()
	at := func(d time.Duration) { time.Sleep(time.Until(start.Add(d))) }
	stop := make(chan struct{})
	var workers sync.WaitGroup
	var stopOnce sync.Once
	halt := func() {
		stopOnce.Do(func() { close(stop) })
		workers.Wait()
	}
	// Should the test end early (a Fatal), no worker may outlive it:
	// one that reported afterwards would panic the whole binary.
	// Cleanups run last first, so this runs before the Caddys stop.
	t.Cleanup(halt)
	for i := range fleet {
		for range 2 {
			workers.Add(1)
			go func() { defer workers.Done(); soak.load(i, stop) }()
		}
	}
	workers.Add(1)
	go func() { defer workers.Done(); soak.revokeAndLift(t, stop) }()

	at(10 * time.Second)
	jwks.setKeys(wkPub1, wkPub2) // key_2 published...
	at(15 * time.Second)
	soak.useKey2.Store(true) // ...and used once every instance refreshed (jwks_refresh 2s)
	at(20 * time.Second)
	jwks.setMode("500")
	at(30 * time.Second)
	jwks.setMode("ok")
	at(35 * time.Second)
	reloaded := s
	reloaded.Global = strings.Replace(s.Global, "jwks_refresh 2s", "jwks_refresh 3s", 1)
	// No admin call meets the reload: Caddy replaces its admin listener
	// on every load, and a call in that instant fails in transport.
	soak.adminMu.Lock()
	fleet[1].reload(t, reloaded)
	soak.adminMu.Unlock()
	at(40 * time.Second)
	soak.retireKey1.Store(true) // no more key_1 tokens...
	at(42 * time.Second)
	jwks.setKeys(wkPub2) // ...before key_1 leaves the set
	at(60 * time.Second)
	halt()

	soak.check(t)
}

// fleetSoak is the soak's state: tokens, the revocations made, and every
// answer, judged once the load is over.
type fleetSoak struct {
	fleet      []*caddyProc
	subjects   []string
	sdk, key1  map[string]string // Authorization header by subject
	key2       map[string]string
	useKey2    atomic.Bool
	retireKey1 atomic.Bool
	client     *http.Client
	adminMu    sync.Mutex // held by each admin call, and by the reload

	mu      sync.Mutex
	revoked []*soakRevocation
	answers []soakAnswer
}

// soakRevocation is one revocation of a subject: when its POST was sent
// and returned, on which instance; when its DELETE was sent and returned,
// on which (zero while in force).
type soakRevocation struct {
	sub              string
	addSent, added   time.Time
	addOn            int
	liftSent, lifted time.Time
	liftOn           int
	addStatus        int
	id               string
}

type soakAnswer struct {
	on         int
	sub, kind  string
	start, end time.Time
	status     int
	body       string
	err        error
}

func newFleetSoak(fleet []*caddyProc) *fleetSoak {
	s := &fleetSoak{
		fleet: fleet, sdk: map[string]string{}, key1: map[string]string{}, key2: map[string]string{},
		client: &http.Client{Timeout: 30 * time.Second},
	}
	iat := time.Now().Add(-time.Minute).Unix()
	for i := range 8 {
		sub := fmt.Sprintf("user_%d", i)
		s.subjects = append(s.subjects, sub)
		claims := tu.SDKClaims(sub).With("iat", iat)
		s.sdk[sub] = "Bearer " + tu.HS256(secret, claims)
		s.key1[sub] = "Bearer " + tu.RS256(wkKey1, "key_1", claims)
		s.key2[sub] = "Bearer " + tu.RS256(wkKey2, "key_2", claims)
	}
	return s
}

// load sends requests to one instance until stop is closed.
func (s *fleetSoak) load(on int, stop <-chan struct{}) {
	url := s.fleet[on].URL + "/"
	for {
		select {
		case <-stop:
			return
		default:
		}
		sub := s.subjects[rand.IntN(len(s.subjects))]
		kind, auth := "sdk", s.sdk[sub]
		switch rand.IntN(3) {
		case 1:
			if !s.retireKey1.Load() {
				kind, auth = "key_1", s.key1[sub]
			}
		case 2:
			if s.useKey2.Load() {
				kind, auth = "key_2", s.key2[sub]
			}
		}
		a := soakAnswer{on: on, sub: sub, kind: kind, start: time.Now()}
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		req.Header.Set("Authorization", auth)
		resp, err := s.client.Do(req)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			a.status, a.body = resp.StatusCode, string(body)
		}
		a.err, a.end = err, time.Now()
		s.mu.Lock()
		s.answers = append(s.answers, a)
		s.mu.Unlock()
	}
}

// revokeAndLift revokes a subject on a random instance every 1.5 s and
// lifts it on another about 4 s later, until stop is closed.
func (s *fleetSoak) revokeAndLift(t *testing.T, stop <-chan struct{}) {
	var live []*soakRevocation
	tick := time.NewTicker(1500 * time.Millisecond)
	defer tick.Stop()
	for n := 0; ; n++ {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		now := time.Now()
		for len(live) > 0 && now.Sub(live[0].added) > 4*time.Second {
			s.lift(t, live[0])
			live = live[1:]
		}
		sub := s.subjects[n%len(s.subjects)]
		if slicesContainsSub(live, sub) {
			continue
		}
		if r := s.revoke(t, sub); r != nil {
			live = append(live, r)
		}
	}
}

func slicesContainsSub(rs []*soakRevocation, sub string) bool {
	for _, r := range rs {
		if r.sub == sub {
			return true
		}
	}
	return false
}

func (s *fleetSoak) revoke(t *testing.T, sub string) *soakRevocation {
	r := &soakRevocation{sub: sub, addOn: rand.IntN(len(s.fleet))}
	body := `{"sub":"` + sub + `"}`
	status, answer := s.admin(&r.addSent, &r.added, http.MethodPost, s.fleet[r.addOn].Admin+"/solo_auth/revocations", body)
	r.addStatus = status
	if status != http.StatusCreated {
		t.Errorf("POST %s on instance %d: %d %s", body, r.addOn, status, answer)
		return nil
	}
	var e revocation
	if err := json.Unmarshal([]byte(answer), &e); err != nil {
		t.Errorf("POST answer %q: %v", answer, err)
		return nil
	}
	r.id = e.ID
	s.mu.Lock()
	s.revoked = append(s.revoked, r)
	s.mu.Unlock()
	return r
}

// lift lifts r on an instance other than the one that took it.
func (s *fleetSoak) lift(t *testing.T, r *soakRevocation) {
	on := (r.addOn + 1 + rand.IntN(len(s.fleet)-1)) % len(s.fleet)
	var sent, done time.Time
	status, answer := s.admin(&sent, &done, http.MethodDelete, s.fleet[on].Admin+"/solo_auth/revocations/"+r.id, "")
	if status != http.StatusOK {
		t.Errorf("DELETE %s on instance %d: %d %s", r.id, on, status, answer)
		return
	}
	s.mu.Lock()
	r.liftOn, r.liftSent, r.lifted = on, sent, done
	s.mu.Unlock()
}

// admin sends one admin API call, noting when it was sent and answered;
// 0 for a transport error.
func (s *fleetSoak) admin(sent, done *time.Time, method, url, body string) (int, string) {
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	s.adminMu.Lock()
	defer s.adminMu.Unlock()
	*sent = time.Now()
	resp, err := s.client.Do(req)
	*done = time.Now()
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(answer)
}

// verdict is what the revocations require of an answer to sub on
// instance on over [start, end]: refused, passed, or either while a
// change propagates. An instance applies its own add or lift when the
// call returns; the others within fleetPoll + 1 s.
func (s *fleetSoak) verdict(a soakAnswer) string {
	bound := func(on int) time.Duration {
		if on == a.on {
			return 0
		}
		return fleetPoll + time.Second
	}
	mustRefuse, mayRefuse := false, false
	for _, r := range s.revoked {
		if r.sub != a.sub {
			continue
		}
		if !a.end.After(r.addSent) {
			continue // not sent before the request ended: no effect
		}
		lifted := !r.lifted.IsZero()
		if lifted && !r.lifted.Add(bound(r.liftOn)).After(a.start) {
			continue // lifted everywhere before the request began
		}
		mayRefuse = true
		inForce := !r.added.Add(bound(r.addOn)).After(a.start)
		stillInForce := !lifted || a.end.Before(r.liftSent)
		if inForce && stillInForce {
			mustRefuse = true
		}
	}
	switch {
	case mustRefuse:
		return "refused"
	case mayRefuse:
		return "either"
	}
	return "passed"
}

// check judges every answer once the load is over.
func (s *fleetSoak) check(t *testing.T) {
	s.mu.Lock()
	defer s.mu.Unlock()
	counts := map[string]int{}
	wrong := 0
	for _, a := range s.answers {
		want := s.verdict(a)
		refused := a.status == http.StatusUnauthorized && a.body == `{"detail":"Invalid token"}`
		passed := a.status == http.StatusOK && a.body == "ok "+a.sub+" "+map[bool]string{true: "sdk", false: "workos"}[a.kind == "sdk"]
		ok := (want == "refused" && refused) || (want == "passed" && passed) || (want == "either" && (refused || passed))
		counts[fmt.Sprintf("%s %d", want, a.status)]++
		if !ok {
			wrong++
			if wrong <= 10 {
				t.Errorf("instance %d, %s token of %s at +%v: %d %q (err %v), want %s",
					a.on, a.kind, a.sub, a.start.Sub(s.answers[0].start).Round(time.Millisecond), a.status, a.body, a.err, want)
			}
		}
	}
	kinds := map[string]int{}
	for _, a := range s.answers {
		kinds[a.kind]++
	}
	t.Logf("%d answers (%v by token), %d revocations: %v; %d wrong",
		len(s.answers), kinds, len(s.revoked), counts, wrong)
	if len(s.revoked) < 20 || kinds["key_2"] == 0 || counts["refused 401"] == 0 {
		t.Errorf("the soak did too little to prove anything: %d revocations, %v", len(s.revoked), kinds)
	}
}
