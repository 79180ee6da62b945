package integration

import (
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	tu "github.com/solo-one/caddy-solo-auth/internal/testutil"
)

// TestFleetRevocationPropagates: a revocation posted to A refuses the
// token on B and C within revocation_poll + 1 s, tokens they have cached
// included, and from the moment the POST returns on A; a lift on B frees
// it everywhere within the same bound.
//
// Not parallel, like the soaks: it measures a time bound, which the other
// tests' load on two cores must not stretch.
func TestFleetRevocationPropagates(t *testing.T) {
	redis, _, s := fleetWorld(t)
	fleet := startFleet(t, s, 3)
	a, b := fleet[0], fleet[1]
	sdk := aliceAt(time.Now().Add(-time.Minute))
	rs := bearer(tu.RS256(wkKey1, "key_1", tu.SDKClaims("alice").With("iat", time.Now().Add(-time.Minute).Unix())))
	for _, p := range fleet {
		for range 2 { // the second answer comes from the token cache
			expectPass(t, p.get(t, "/", sdk), "ok alice sdk")
			expectPass(t, p.get(t, "/", rs), "ok alice workos")
		}
	}

	e := a.revoke(t, `{"sub":"alice"}`)
	expectRefusal(t, a.get(t, "/", sdk), invalidToken)
	bound := fleetPoll + time.Second
	took := awaitEvery(t, fleet, "/", http.StatusUnauthorized, bound, sdk)
	t.Logf("revocation in force on all three after %v (bound %v)", took, bound)
	for i, p := range fleet {
		expectRefusal(t, p.get(t, "/", sdk), invalidToken)
		expectRefusal(t, p.get(t, "/", rs), invalidToken)
		if l := p.revocations(t); len(l.Revocations) != 1 || l.Revocations[0].ID != e.ID {
			t.Errorf("instance %d lists %+v", i, l.Revocations)
		}
	}
	// A later token of the same subject is not revoked.
	fresh := bearer(tu.HS256(secret, tu.SDKClaims("alice").With("iat", time.Now().Add(2*time.Second).Unix())))
	for _, p := range fleet {
		expectPass(t, p.get(t, "/", fresh), "ok alice sdk")
	}

	if r := b.adminCall(t, http.MethodDelete, "/solo_auth/revocations/"+e.ID, ""); r.Status != http.StatusOK {
		t.Fatalf("DELETE on b: %d %s", r.Status, r.Body)
	}
	expectPass(t, b.get(t, "/", sdk), "ok alice sdk")
	took = awaitEvery(t, fleet, "/", http.StatusOK, bound, sdk)
	t.Logf("lift in force on all three after %v", took)
	for _, p := range fleet {
		expectPass(t, p.get(t, "/", rs), "ok alice workos")
	}
	if values, listed := redis.revocationKeys(t); len(values) != 0 || len(listed) != 0 {
		t.Errorf("Redis still holds %v / lists %v after the lift", values, listed)
	}
}

// TestFleetSavedKeySet: C, restarted while the JWKS endpoint is down,
// verifies RS256 tokens from the key set saved in Redis. The set it finds
// there is one that A fetched after C had stopped (with key_2, which C
// never saw), so C's keys can only have come from Redis.
func TestFleetSavedKeySet(t *testing.T) {
	t.Parallel()
	_, jwks, s := fleetWorld(t)
	a, c := startCaddy(t, s), startCaddy(t, s)
	key1 := bearer(workosToken(wkKey1, "key_1"))
	key2 := bearer(workosToken(wkKey2, "key_2"))
	for _, p := range []*caddyProc{a, c} {
		expectPass(t, p.get(t, "/", key1), "ok user_01HWORKOS workos")
	}
	c.Stop()
	jwks.setKeys(wkPub1, wkPub2)
	// A meets key_2's kid, fetches the new set and saves it.
	expectPass(t, a.awaitStatus(t, "/", http.StatusOK, 15*time.Second, key2), "ok user_01HWORKOS workos")
	a.Stop()

	jwks.setMode("500")
	before := jwks.requests.Load()
	c = startCaddy(t, s)
	expectPass(t, c.get(t, "/", key2), "ok user_01HWORKOS workos")
	expectPass(t, c.get(t, "/", key1), "ok user_01HWORKOS workos")
	expectPass(t, c.get(t, "/", aliceAt(time.Now())), "ok alice sdk")
	if jwks.requests.Load() == before {
		t.Error("C never tried the endpoint: the test proves nothing about the saved copy")
	}
	// A kid the saved copy does not have cannot be verified while the
	// endpoint is down: 401 or 503, never a pass.
	if r := c.get(t, "/", bearer(workosToken(wkKey1, "key_3"))); r.Status != 401 && r.Status != 503 {
		t.Errorf("unknown kid during the outage: %d %q", r.Status, r.Body)
	}
	waitForLog(t, c, "using the saved key set until a fetch succeeds")
}

// TestFleetRedisOutage: Redis stopped for 20 s. Every instance keeps
// serving with the entries it has, a POST answers 503 and writes nothing,
// a GET still lists what the instance applies; once Redis is back the
// fleet converges, with nothing lost and nothing half-written. It runs in
// parallel with other tests, so it waits for propagation with a loose
// bound; TestFleetRevocationPropagates measures the real one alone.
func TestFleetRedisOutage(t *testing.T) {
	t.Parallel()
	redis, _, s := fleetWorld(t)
	fleet := startFleet(t, s, 3)
	a, b, c := fleet[0], fleet[1], fleet[2]
	alice := aliceAt(time.Now().Add(-time.Minute))
	bob := bearer(tu.HS256(secret, tu.SDKClaims("bob").With("iat", time.Now().Add(-time.Minute).Unix())))
	carol := bearer(tu.HS256(secret, tu.SDKClaims("carol").With("iat", time.Now().Add(-time.Minute).Unix())))
	first := a.revoke(t, `{"sub":"alice"}`)
	const bound = 15 * time.Second
	awaitEvery(t, fleet, "/", http.StatusUnauthorized, bound, alice)

	redis.Stop()
	outage := time.Now()
	refusedPosts := 0
	for time.Since(outage) < 20*time.Second {
		for i, p := range fleet {
			if r := p.get(t, "/", alice); r.Status != http.StatusUnauthorized {
				t.Fatalf("instance %d let alice in during the outage: %d %q", i, r.Status, r.Body)
			}
			expectPass(t, p.get(t, "/", bob), "ok bob sdk")
			expectPass(t, p.get(t, "/", bearer(workosToken(wkKey1, "key_1"))), "ok user_01HWORKOS workos")
		}
		if r := b.adminCall(t, http.MethodPost, "/solo_auth/revocations", `{"sub":"carol"}`); r.Status != http.StatusServiceUnavailable {
			t.Fatalf("POST during the outage: %d %s, want 503", r.Status, r.Body)
		}
		refusedPosts++
		expectPass(t, c.get(t, "/", carol), "ok carol sdk")
		l := c.revocations(t)
		if len(l.Revocations) != 1 || l.Revocations[0].ID != first.ID {
			t.Fatalf("GET during the outage: %+v", l)
		}
		// A poll has failed by then, and the status says so.
		if time.Since(outage) > 5*time.Second && l.Storage["storage_ok"] != false {
			t.Fatalf("storage status during the outage: %+v", l.Storage)
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Logf("%d POSTs refused with 503 during a 20 s outage", refusedPosts)

	redis.Start()
	// The POSTs that got a 503 left nothing behind, and alice's entry
	// survived the restart of Redis.
	values, listed := redis.revocationKeys(t)
	if len(values) != 1 || len(listed) != 1 || !slices.Contains(listed, first.ID+".json") {
		t.Fatalf("Redis after the outage holds %v, lists %v; want only %s", values, listed, first.ID)
	}
	// Each instance's next poll reaches Redis again (its client redials
	// within about a second); the status says so.
	back := time.Now()
	for i, p := range fleet {
		for p.revocations(t).Storage["storage_ok"] != true {
			if time.Since(back) > 10*time.Second {
				t.Fatalf("instance %d still reports storage down 10 s after Redis came back", i)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	t.Logf("all three read Redis again %v after it came back", time.Since(back))
	second := b.revoke(t, `{"sub":"carol"}`)
	awaitEvery(t, fleet, "/", http.StatusUnauthorized, bound, carol)
	for i, p := range fleet {
		expectRefusal(t, p.get(t, "/", alice), invalidToken)
		expectPass(t, p.get(t, "/", bob), "ok bob sdk")
		l := p.revocations(t)
		if len(l.Revocations) != 2 || l.Storage["storage_ok"] != true {
			t.Errorf("instance %d after the outage lists %+v", i, l)
		}
	}
	if r := c.adminCall(t, http.MethodDelete, "/solo_auth/revocations/"+first.ID, ""); r.Status != http.StatusOK {
		t.Fatalf("DELETE after the outage: %d %s", r.Status, r.Body)
	}
	awaitEvery(t, fleet, "/", http.StatusOK, bound, alice)
	if values, _ := redis.revocationKeys(t); len(values) != 1 || !slices.Contains(values, "caddy/solo_auth/revocations/"+second.ID+".json") {
		t.Errorf("Redis holds %v, want only %s", values, second.ID)
	}
}

// TestFleetCaddyfile runs fleet/Caddyfile, the one scripts/fleet.sh starts
// three times, on the test's Redis and JWKS endpoint: both token kinds
// pass, and a revocation posted to its admin endpoint lands in Redis.
func TestFleetCaddyfile(t *testing.T) {
	t.Parallel()
	redis, jwks, _ := fleetWorld(t)
	port, admin := freePort(t), freePort(t)
	p := runBinConfigFile(t, fleetBinary(t), "../fleet/Caddyfile", "caddyfile", port,
		"SOLO_SDK_SECRET="+secret, "FLEET_NAME=A", fmt.Sprintf("FLEET_PORT=%d", port),
		fmt.Sprintf("FLEET_ADMIN=%d", admin), "FLEET_REDIS="+redis.Addr, "FLEET_JWKS_URL="+jwks.URL)
	p.Admin = fmt.Sprintf("http://127.0.0.1:%d", admin)
	expectPass(t, p.get(t, "/", aliceAt(time.Now())), "A: alice (sdk)")
	expectPass(t, p.get(t, "/", bearer(workosToken(wkKey1, "key_1"))), "A: user_01HWORKOS (workos)")
	e := p.revoke(t, `{"sub":"alice"}`)
	if _, listed := redis.revocationKeys(t); len(listed) != 1 || listed[0] != e.ID+".json" {
		t.Errorf("Redis lists %v, want %s", listed, e.ID)
	}
}
