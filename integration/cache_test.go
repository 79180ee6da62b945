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

	// Expired while cached: exp two seconds away, leeway 0.
	short := bearer(tu.HS256(secret, tu.SDKClaims("s").With("exp", time.Now().Add(2*time.Second).Unix())))
	expectPass(t, c.get(t, "/", short), "ok s")
	expectPass(t, c.get(t, "/", short), "ok s")
	time.Sleep(3100 * time.Millisecond)
	expectRefusal(t, c.get(t, "/", short), tokenExpired)

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
	deadline := time.Now().Add(15 * time.Second)
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
