package integration

import (
	"strings"
	"testing"
	"time"

	tu "github.com/solo-one/caddy-solo-auth/internal/testutil"
)

// TestCacheNeverChangesAnAnswer sends the same token again and again
// while what it should get changes: each answer must be the uncached one.
func TestCacheNeverChangesAnAnswer(t *testing.T) {
	t.Parallel()
	site := func(secretLine string) spec {
		return spec{
			Global: `	solo_auth {
		` + secretLine + `
		leeway 0s
	}`,
			Site: `	solo_auth /admin/* admin
	solo_auth /read/* read
	solo_auth
	respond "ok {solo.sub}"`,
		}
	}
	c := startCaddy(t, site("secret "+secret))

	// Scopes differ per route for one cached token.
	reader := bearer(tu.HS256(secret, tu.SDKClaims("r", "read")))
	for range 3 {
		expectPass(t, c.get(t, "/read/x", reader), "ok r")
		expectRefusal(t, c.get(t, "/admin/x", reader), forbidden("admin"))
		expectPass(t, c.get(t, "/other", reader), "ok r")
	}

	// Expired while cached, leeway 0: a token passes twice (so the
	// second answer may come from the cache) while it has at least 3 s
	// left, then is asked for until it has expired. Every answer given
	// before exp is a pass, every request sent after exp is refused as
	// expired, and nothing fixes how long the machine takes in between.
	expectExpiresWhileCached(t, c, "/", "ok s")

	// Forged tokens sharing the cached token's header and payload.
	admin := tu.HS256(secret, tu.SDKClaims("a", "admin"))
	expectPass(t, c.get(t, "/admin/x", bearer(admin)), "ok a")
	body := admin[:strings.LastIndexByte(admin, '.')]
	forged := tu.HS256(otherSecret, tu.SDKClaims("a", "admin"))
	for _, tok := range []string{
		body + forged[strings.LastIndexByte(forged, '.'):],
		body + ".",
		admin + "A",
		admin[:len(admin)-1],
		nonCanonical(admin),
	} {
		expectRefusal(t, c.get(t, "/admin/x", bearer(tok)), invalidToken)
	}
	expectPass(t, c.get(t, "/admin/x", bearer(admin)), "ok a")

	// A reload that rotates the secret: the cached token is refused.
	c.reload(t, site("secret "+otherSecret))
	expectRefusal(t, c.get(t, "/read/x", reader), invalidToken)
	expectRefusal(t, c.get(t, "/admin/x", bearer(admin)), invalidToken)
}

// TestCacheAndKeyRemoval: an RS256 token cached while its key was in the
// set is refused once a refresh drops the key.
func TestCacheAndKeyRemoval(t *testing.T) {
	t.Parallel()
	workosKeys()
	e := newJWKSEndpoint(t, wkPub1, wkPub2)
	c := startCaddy(t, workosSpec(e.URL, "		jwks_refresh 1s"))
	tok := bearer(workosToken(wkKey1, "key_1"))
	expectPass(t, c.get(t, "/", tok), workosOK)
	expectPass(t, c.get(t, "/", tok), workosOK)
	e.setKeys(wkPub2)
	deadline := time.Now().Add(60 * time.Second) // jwks_refresh is 1s; generous for a loaded machine
	var r reply
	for time.Now().Before(deadline) {
		if r = c.get(t, "/", tok); r.Status != 200 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	expectRefusal(t, r, invalidToken)
	expectPass(t, c.get(t, "/", bearer(workosToken(wkKey2, "key_2"))), workosOK)
}

// expectExpiresWhileCached mints a token for subject "s" whose exp is
// about 6 s away and checks, with the route's leeway 0, that it passes
// twice while it has 3 s left or more, and that it is refused as expired
// once exp is past, however the cache holds it. If the two passes were
// not both answered with 3 s left (a slow machine), it starts again with
// a new token rather than assert on answers that came too late.
func expectExpiresWhileCached(t *testing.T, c *caddyProc, path, ok string) {
	t.Helper()
	const margin = 3 * time.Second
	for attempt := 1; ; attempt++ {
		exp := time.Now().Add(6 * time.Second).Unix()
		expAt := time.Unix(exp, 0)
		tok := bearer(tu.HS256(secret, tu.SDKClaims("s").With("exp", exp)))
		expectPass(t, c.get(t, path, tok), ok)
		expectPass(t, c.get(t, path, tok), ok)
		if left := time.Until(expAt); left < margin {
			if attempt == 3 {
				t.Fatalf("%d times two requests took until %v before exp: too slow to test expiry", attempt, left)
			}
			t.Logf("two passes left only %v before exp: again with a new token", left)
			continue
		}
		for {
			sent := time.Now()
			r := c.get(t, path, tok)
			switch done := time.Now(); {
			case r.Status == 200 && sent.After(expAt):
				t.Fatalf("passed when sent %v after exp: the cache kept an expired token", sent.Sub(expAt))
			case r.Status == 200:
				expectPass(t, r, ok)
			case done.Before(expAt):
				t.Fatalf("refused %v before exp: %d %s", expAt.Sub(done), r.Status, r.Body)
			default:
				expectRefusal(t, r, tokenExpired)
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}
