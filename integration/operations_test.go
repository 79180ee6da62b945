package integration

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	tu "github.com/solo-one/caddy-solo-auth/internal/testutil"
)

// TestMetrics reads Caddy's admin /metrics after a known sequence of
// requests.
func TestMetrics(t *testing.T) {
	t.Parallel()
	workosKeys()
	e := newJWKSEndpoint(t, wkPub1)
	c := startCaddy(t, workosSpec(e.URL, ""))

	sdk := bearer(tu.HS256(secret, tu.SDKClaims("m", "admin")))
	c.get(t, "/", sdk)                                                                                        // ok sdk (miss)
	c.get(t, "/", sdk)                                                                                        // ok sdk (miss; the cache admits it)
	c.get(t, "/", sdk)                                                                                        // ok sdk (hit)
	c.get(t, "/admin/x", bearer(tu.HS256(secret, tu.SDKClaims("m"))))                                         // forbidden sdk
	c.get(t, "/")                                                                                             // missing
	c.get(t, "/", bearer("garbage"))                                                                          // invalid none
	c.get(t, "/", bearer(tu.HS256(otherSecret, tu.SDKClaims("m"))))                                           // invalid sdk
	c.get(t, "/", bearer(tu.HS256(secret, tu.SDKClaims("m").With("exp", time.Now().Add(-time.Hour).Unix())))) // expired sdk
	c.get(t, "/", bearer(workosToken(wkKey1, "key_1")))                                                       // ok workos

	// A revoked token: the contract's 401, counted under its own outcome.
	c.revoke(t, `{"sub":"revoked-m"}`)
	revoked := tu.HS256(secret, tu.SDKClaims("revoked-m").With("iat", time.Now().Unix()-5))
	expectRefusal(t, c.get(t, "/", bearer(revoked)), invalidToken) // revoked sdk

	r := send(t, mustRequest(t, http.MethodGet, c.Admin+"/metrics"))
	want := []string{
		`caddy_solo_auth_requests_total{outcome="revoked",token_type="sdk"} 1`,
		`caddy_solo_auth_revocations 1`,
		`caddy_solo_auth_requests_total{outcome="ok",token_type="sdk"} 3`,
		`caddy_solo_auth_requests_total{outcome="ok",token_type="workos"} 1`,
		`caddy_solo_auth_requests_total{outcome="forbidden",token_type="sdk"} 1`,
		`caddy_solo_auth_requests_total{outcome="missing",token_type="none"} 1`,
		`caddy_solo_auth_requests_total{outcome="invalid",token_type="none"} 1`,
		`caddy_solo_auth_requests_total{outcome="invalid",token_type="sdk"} 1`,
		`caddy_solo_auth_requests_total{outcome="expired",token_type="sdk"} 1`,
		`caddy_solo_auth_requests_total{outcome="unavailable",token_type="workos"} 0`,
		`caddy_solo_auth_jwks_fetches_total{outcome="ok",url="` + e.URL + `"} 1`,
		`caddy_solo_auth_jwks_age_seconds{source="fetch",url="` + e.URL + `"}`,
		`caddy_solo_auth_cache_total{result="hit"}`,
	}
	for _, line := range want {
		if !strings.Contains(r.Body, line) {
			t.Errorf("/metrics lacks %s", line)
		}
	}
	for _, line := range []string{`caddy_solo_auth_cache_total{result="hit"} 1`, `caddy_solo_auth_cache_total{result="miss"} `} {
		if !strings.Contains(r.Body, line) {
			t.Errorf("/metrics lacks %s", line)
		}
	}
	for _, bad := range []string{`sub=`, `kid=`, `"m"`, "key_1"} {
		if strings.Contains(metricsOf(r.Body, "caddy_solo_auth"), bad) {
			t.Errorf("a metric label carries %s", bad)
		}
	}
}

// TestAdminKeys lists the key sets through the admin API.
func TestAdminKeys(t *testing.T) {
	t.Parallel()
	workosKeys()
	e := newJWKSEndpoint(t, wkPub1, wkPub2)
	c := startCaddy(t, workosSpec(e.URL, ""))
	r := send(t, mustRequest(t, http.MethodGet, c.Admin+"/solo_auth/keys"))
	if r.Status != 200 {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	var got struct {
		KeySets []struct {
			URL       string    `json:"url"`
			KIDs      []string  `json:"kids"`
			Source    string    `json:"source"`
			LastFetch time.Time `json:"last_fetch"`
			LastError string    `json:"last_error"`
			Keys      []struct {
				KID  string `json:"kid"`
				Bits int    `json:"bits"`
				Alg  string `json:"alg"`
			} `json:"keys"`
		} `json:"key_sets"`
	}
	if err := json.Unmarshal([]byte(r.Body), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.KeySets) != 1 {
		t.Fatalf("%d key sets: %s", len(got.KeySets), r.Body)
	}
	ks := got.KeySets[0]
	if ks.URL != e.URL || strings.Join(ks.KIDs, ",") != "key_1,key_2" || ks.Source != "fetch" ||
		ks.LastFetch.IsZero() || ks.LastError != "" || len(ks.Keys) != 2 || ks.Keys[0].Bits != 2048 || ks.Keys[0].Alg != "RS256" {
		t.Errorf("key set %+v", ks)
	}
	if strings.Contains(r.Body, `"n"`) || strings.Contains(r.Body, `"e"`) {
		t.Errorf("key material in the admin API: %s", r.Body)
	}
}

func mustRequest(t *testing.T, method, url string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// metricsOf keeps the lines of one metric family prefix.
func metricsOf(body, prefix string) string {
	var out []string
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(line, prefix) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}
