package integration

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	tu "github.com/solo-one/caddy-solo-auth/internal/testutil"
)

var (
	fileKeyOnce sync.Once
	fileKey     *rsa.PrivateKey
)

// fileKeys is the key that the tests' jwks_file sets publish.
func fileKeys() {
	workosKeys()
	fileKeyOnce.Do(func() {
		var err error
		if fileKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
	})
}

// severalSetsSpec: /one/* trusts set a alone; every other path trusts
// a, b and the file, and the SDK secret.
func severalSetsSpec(a, b, file string) spec {
	return spec{Site: `	solo_auth /one/* {
		jwks_url ` + a + `
	}
	solo_auth {
		jwks_url ` + a + `
		jwks_url ` + b + `
		jwks_file ` + file + `
		secret ` + secret + `
	}
	respond "ok {solo.token_type} {solo.sub}"`}
}

const severalOK = "ok workos user_01HWORKOS"

// TestKeySourcesSeveralSets: a token of each set passes; a rotation in
// the second set is found by one refresh of that set and none of the
// first (whose window another route's unknown kid has just opened); the
// admin API and the metrics show every set; an outage of the second
// set's endpoint disturbs neither the first set's tokens nor SDK tokens.
func TestKeySourcesSeveralSets(t *testing.T) {
	t.Parallel()
	fileKeys()
	a := newJWKSEndpoint(t, wkPub1)
	bPub := jose.JSONWebKey{Key: &wkKey2.PublicKey, KeyID: "b_1", Algorithm: "RS256", Use: "sig"}
	b := newJWKSEndpoint(t, bPub)
	file := writeJWKSFile(t, t.TempDir(), "file_1", &fileKey.PublicKey)
	c := startCaddy(t, withWindow(severalSetsSpec(a.URL, b.URL, file), testWindow))
	expectWindow(t, c, testWindow)

	expectPass(t, c.get(t, "/", bearer(workosToken(wkKey1, "key_1"))), severalOK)
	expectPass(t, c.get(t, "/", bearer(workosToken(wkKey2, "b_1"))), severalOK)
	expectPass(t, c.get(t, "/", bearer(workosToken(fileKey, "file_1"))), severalOK)
	expectPass(t, c.get(t, "/", bearer(tu.HS256(secret, tu.SDKClaims("user_01HWORKOS")))), "ok sdk user_01HWORKOS")
	// A kid of one set signed by another set's key is no key of either.
	expectRefusal(t, c.get(t, "/", bearer(workosToken(wkKey2, "key_1"))), invalidToken)
	if na, nb := a.requests.Load(), b.requests.Load(); na != 1 || nb != 1 {
		t.Fatalf("fetches a=%d b=%d at start, want 1 each (a is shared by both directives)", na, nb)
	}

	for attempt := 1; ; attempt++ {
		rotated := fmt.Sprintf("b_rot_%d", attempt)
		b.setKeys(bPub, jose.JSONWebKey{Key: &wkKey2.PublicKey, KeyID: rotated, Algorithm: "RS256", Use: "sig"})
		// Both sets' windows over: the last fetch of each arrived more
		// than a window ago.
		_, lastA := a.lastFetch()
		_, lastB := b.lastFetch()
		for time.Since(lastA) <= testWindow || time.Since(lastB) <= testWindow {
			time.Sleep(50 * time.Millisecond)
		}
		beforeA, beforeB := a.requests.Load(), b.requests.Load()
		opened := time.Now()
		// /one/* knows set a alone: its unknown kid refreshes a.
		expectRefusal(t, c.get(t, "/one/x", bearer(workosToken(wkKey1, "nobody_"+rotated))), invalidToken)
		if n := a.requests.Load() - beforeA; n != 1 || b.requests.Load() != beforeB {
			t.Fatalf("an unknown kid on a route of set a: %d fetches of a, %d of b; want 1, 0", n, b.requests.Load()-beforeB)
		}
		r := c.get(t, "/", bearer(workosToken(wkKey2, rotated)))
		done := time.Now()
		expectPass(t, r, severalOK)
		if nb := b.requests.Load() - beforeB; nb != 1 {
			t.Fatalf("the rotated kid caused %d fetches of b, want 1", nb)
		}
		if done.Before(opened.Add(testWindow)) {
			// a's window was surely open the whole time: no fetch of a.
			if na := a.requests.Load() - beforeA; na != 1 {
				t.Fatalf("the rotated kid of b fetched a inside a's window (%d fetches of a)", na)
			}
			break
		}
		if attempt == 3 {
			t.Fatalf("%d times too slow to answer within %v", attempt, testWindow)
		}
		t.Logf("answered %v after a's window opened: again", done.Sub(opened))
	}

	sets := adminKeySets(t, c)
	if len(sets) != 3 {
		t.Fatalf("%d key sets listed, want 3: %+v", len(sets), sets)
	}
	bySource := map[string][]adminKeySet{}
	for _, s := range sets {
		bySource[s.Source] = append(bySource[s.Source], s)
	}
	if len(bySource["fetch"]) != 2 || len(bySource["file"]) != 1 {
		t.Fatalf("sources %+v, want two fetch and one file", sets)
	}
	if f := bySource["file"][0]; f.File != file || f.URL != "file://"+file || strings.Join(f.KIDs, ",") != "file_1" || f.LastFetch.IsZero() {
		t.Errorf("file set %+v", f)
	}
	metrics := send(t, mustRequest(t, http.MethodGet, c.Admin+"/metrics")).Body
	for _, line := range []string{
		`caddy_solo_auth_jwks_age_seconds{source="fetch",url="` + a.URL + `"}`,
		`caddy_solo_auth_jwks_age_seconds{source="fetch",url="` + b.URL + `"}`,
		`caddy_solo_auth_jwks_age_seconds{source="file",url="file://` + file + `"}`,
	} {
		if !strings.Contains(metrics, line) {
			t.Errorf("/metrics lacks %s", line)
		}
	}

	// b's endpoint goes away: every set's known tokens and SDK tokens
	// pass (b keeps its last good set), an unknown kid is invalid.
	b.down()
	fetchesA := a.requests.Load()
	expectPass(t, c.get(t, "/", bearer(workosToken(wkKey1, "key_1"))), severalOK)
	expectPass(t, c.get(t, "/", bearer(workosToken(fileKey, "file_1"))), severalOK)
	expectPass(t, c.get(t, "/", bearer(tu.HS256(secret, tu.SDKClaims("user_01HWORKOS")))), "ok sdk user_01HWORKOS")
	expectPass(t, c.get(t, "/", bearer(workosToken(wkKey2, "b_1"))), severalOK)
	if n := a.requests.Load(); n != fetchesA {
		t.Errorf("known kids fetched a: %d fetches, was %d", n, fetchesA)
	}
}

// TestKeySourcesOneSetNeverLoaded: while b has never loaded, a token of
// set a passes, and a kid no loaded set knows gets the 503 with a
// Retry-After; SDK tokens are not disturbed.
func TestKeySourcesOneSetNeverLoaded(t *testing.T) {
	t.Parallel()
	fileKeys()
	a := newJWKSEndpoint(t, wkPub1)
	b := newJWKSEndpoint(t)
	b.setMode("500")
	file := writeJWKSFile(t, t.TempDir(), "file_1", &fileKey.PublicKey)
	c := startCaddy(t, severalSetsSpec(a.URL, b.URL, file))
	expectPass(t, c.get(t, "/", bearer(workosToken(wkKey1, "key_1"))), severalOK)
	expectPass(t, c.get(t, "/", bearer(workosToken(fileKey, "file_1"))), severalOK)
	expectPass(t, c.get(t, "/", bearer(tu.HS256(secret, tu.SDKClaims("user_01HWORKOS")))), "ok sdk user_01HWORKOS")
	r := c.get(t, "/", bearer(workosToken(wkKey2, "b_1")))
	expectRefusal(t, r, unavailable)
	// a's next attempt is its hourly refresh (shown as 60, the cap); b's
	// is a retry a few seconds away, which is what a client should wait
	// for.
	if ra, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || ra < 1 || ra >= 60 {
		t.Errorf("Retry-After %q, want b's next retry (1-59 s)", r.Header.Get("Retry-After"))
	}
	// /one/* trusts a alone, which has loaded: the same token is invalid.
	expectRefusal(t, c.get(t, "/one/x", bearer(workosToken(wkKey2, "b_1"))), invalidToken)
	// b comes up: its retry loads it, and its token passes.
	b.setKeys(jose.JSONWebKey{Key: &wkKey2.PublicKey, KeyID: "b_1", Algorithm: "RS256", Use: "sig"})
	b.setMode("ok")
	deadline := time.Now().Add(30 * time.Second)
	for {
		r := c.get(t, "/", bearer(workosToken(wkKey2, "b_1")))
		if r.Status == 200 {
			expectPass(t, r, severalOK)
			break
		}
		expectRefusal(t, r, unavailable)
		if time.Now().After(deadline) {
			t.Fatal("b never loaded after its endpoint came up")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// adminKeySet is one entry of GET /solo_auth/keys.
type adminKeySet struct {
	URL       string    `json:"url"`
	File      string    `json:"file"`
	KIDs      []string  `json:"kids"`
	Source    string    `json:"source"`
	LastFetch time.Time `json:"last_fetch"`
}

func adminKeySets(t *testing.T, c *caddyProc) []adminKeySet {
	t.Helper()
	r := send(t, mustRequest(t, http.MethodGet, c.Admin+"/solo_auth/keys"))
	if r.Status != 200 {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	var got struct {
		KeySets []adminKeySet `json:"key_sets"`
	}
	if err := json.Unmarshal([]byte(r.Body), &got); err != nil {
		t.Fatal(err)
	}
	return got.KeySets
}

// TestKeySourcesDirectiveReplacesInherited: a directive that names any
// key source takes none of the three from the global option, so a route
// given its own jwks_file refuses tokens of the global jwks_url (and the
// global SDK secret still applies: it is not a key set).
func TestKeySourcesDirectiveReplacesInherited(t *testing.T) {
	t.Parallel()
	workosKeys()
	global := newJWKSEndpoint(t, wkPub1)
	file := writeJWKSFile(t, t.TempDir(), "file_key", &wkKey2.PublicKey)
	c := startCaddy(t, spec{
		Global: `	solo_auth {
		jwks_url ` + global.URL + `
		secret ` + secret + `
	}`,
		Site: `	solo_auth /own/* {
		jwks_file ` + file + `
	}
	@other not path /own/*
	solo_auth @other
	respond "ok {solo.sub} {solo.token_type}"`,
	})
	fromGlobal := bearer(workosToken(wkKey1, "key_1"))
	fromFile := bearer(workosToken(wkKey2, "file_key"))
	expectPass(t, c.get(t, "/own/x", fromFile), "ok user_01HWORKOS workos")
	expectRefusal(t, c.get(t, "/own/x", fromGlobal), invalidToken)
	expectPass(t, c.get(t, "/other", fromGlobal), "ok user_01HWORKOS workos")
	expectRefusal(t, c.get(t, "/other", fromFile), invalidToken)
	expectPass(t, c.get(t, "/own/x", bearer(tu.HS256(secret, tu.SDKClaims("m")))), "ok m sdk")
}
