package jwt_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/solo-one/caddy-solo-auth/internal/jwt"
	"github.com/solo-one/caddy-solo-auth/internal/keys"
)

// The vectors in testdata/vectors are Project Wycheproof's JWS and JWK
// cases with the decision this plugin must take for each (it accepts
// exactly HS256 with a configured secret and RS256 with a JWKS key named
// by kid), and the RFC 7515/7520/7517 examples. Their payloads are not
// JWT claims sets, so they run at the signature layer.

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatal(err)
	}
}

// publishedJWK is a JWK as a JWKS would publish it: private members
// removed.
func publishedJWK(jwk map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range jwk {
		switch k {
		case "d", "p", "q", "dp", "dq", "qi", "oth":
			continue
		}
		out[k] = v
	}
	return out
}

// verifierForKeys configures a verifier the way an operator could with
// these keys: a single oct key with alg HS256 (or none) is a configured
// secret, subject to the 32-byte minimum; anything else is a remote JWKS,
// subject to its hygiene rules (so oct keys there are never used).
// configErr reports a key the config would refuse at start-up.
func verifierForKeys(t *testing.T, jwks []map[string]any) (v *jwt.Verifier, configErr bool) {
	t.Helper()
	v = &jwt.Verifier{}
	if len(jwks) == 1 && jwks[0]["kty"] == "oct" && (jwks[0]["alg"] == nil || jwks[0]["alg"] == "HS256") {
		k, _ := jwks[0]["k"].(string)
		secret, err := base64.RawURLEncoding.DecodeString(k)
		if err != nil {
			t.Fatalf("oct key: %v", err)
		}
		if len(secret) < jwt.MinSecretLength {
			return nil, true
		}
		v.Secrets = [][]byte{secret}
		return v, false
	}
	published := make([]map[string]any, len(jwks))
	for i, k := range jwks {
		published[i] = publishedJWK(k)
	}
	body, _ := json.Marshal(map[string]any{"keys": published})
	rsaKeys, _, err := keys.Parse(body)
	if err != nil {
		t.Fatalf("keys.Parse: %v", err)
	}
	v.RSAKeys = jwt.StaticKeys(rsaKeys)
	return v, false
}

func TestWycheproofJWS(t *testing.T) {
	var suite struct {
		TestGroups []struct {
			Comment string         `json:"comment"`
			Public  map[string]any `json:"public"`
			Private map[string]any `json:"private"`
			Tests   []struct {
				TcID int    `json:"tcId"`
				JWS  string `json:"jws"`
			} `json:"tests"`
		} `json:"testGroups"`
	}
	readJSON(t, "testdata/vectors/wycheproof/json_web_signature_test.json", &suite)
	var selection struct {
		Cases []struct {
			TcID     int    `json:"tcId"`
			Comment  string `json:"comment"`
			Category string `json:"category"`
			Expected string `json:"plugin_expected_at_jws_layer"`
			JWS      string `json:"jws"`
		} `json:"cases"`
	}
	readJSON(t, "testdata/vectors/wycheproof_jws_selection.json", &selection)

	keyOf := map[int]map[string]any{}
	for _, g := range suite.TestGroups {
		key := g.Public
		if key == nil {
			key = g.Private
		}
		for _, tc := range g.Tests {
			keyOf[tc.TcID] = key
		}
	}
	counts := map[string]int{}
	for _, c := range selection.Cases {
		if c.Expected == "skip" {
			counts["skip"]++
			continue
		}
		key, ok := keyOf[c.TcID]
		if !ok {
			t.Fatalf("tcId %d: no key", c.TcID)
		}
		v, configErr := verifierForKeys(t, []map[string]any{key})
		accepted := false
		if !configErr {
			_, _, _, _, verr := jwt.VerifySignature(v, context.Background(), c.JWS, nil)
			accepted = verr == nil
		}
		want := c.Expected == "accept"
		if accepted != want {
			t.Errorf("tcId %d (%s, %s): accepted=%v, want %s", c.TcID, c.Category, c.Comment, accepted, c.Expected)
		}
		counts[c.Expected]++
	}
	if counts["accept"] != 16 || counts["reject"] != 383 {
		t.Errorf("ran %v; the selection has 16 accept and 383 reject cases", counts)
	}
}

func TestWycheproofJWK(t *testing.T) {
	var selection struct {
		Cases []struct {
			TcID     int    `json:"tcId"`
			Group    string `json:"group"`
			Comment  string `json:"comment"`
			Expected string `json:"plugin_expected"`
			Keys     struct {
				Keys []map[string]any `json:"keys"`
			} `json:"keys"`
			JWS string `json:"jws"`
		} `json:"cases"`
	}
	readJSON(t, "testdata/vectors/wycheproof_jwk_selection.json", &selection)
	ran := 0
	for _, c := range selection.Cases {
		if c.Expected == "n/a" {
			continue
		}
		v, configErr := verifierForKeys(t, c.Keys.Keys)
		accepted := false
		if !configErr {
			_, _, _, _, verr := jwt.VerifySignature(v, context.Background(), c.JWS, nil)
			accepted = verr == nil
		}
		want := c.Expected == "accept"
		if strings.HasPrefix(c.Expected, "reject") && accepted {
			t.Errorf("tcId %d (%s %s): accepted, want %s", c.TcID, c.Group, c.Comment, c.Expected)
		}
		if want && !accepted {
			t.Errorf("tcId %d (%s %s): refused, want accept", c.TcID, c.Group, c.Comment)
		}
		ran++
	}
	if ran != 25 {
		t.Errorf("ran %d JWK cases, want 25", ran)
	}
}

func TestRFCExamples(t *testing.T) {
	var ex map[string]struct {
		JWK       map[string]any   `json:"jwk"`
		JWKPublic map[string]any   `json:"jwk_public"`
		Keys      []map[string]any `json:"keys"`
		JWS       string           `json:"jws"`
	}
	readJSON(t, "testdata/vectors/rfc_examples.json", &ex)

	t.Run("RFC 7515 A.1 HS256", func(t *testing.T) {
		e := ex["RFC7515_A1_HS256"]
		v, configErr := verifierForKeys(t, []map[string]any{e.JWK})
		if configErr {
			t.Fatal("64-byte secret refused")
		}
		if _, _, _, _, verr := jwt.VerifySignature(v, context.Background(), e.JWS, nil); verr != nil {
			t.Fatalf("signature refused: %v", verr)
		}
		// As a JWT: no sub, so never accepted, and expired since 2011.
		v.Now = func() time.Time { return time.Unix(1300819380-60, 0) }
		if _, err := v.Verify(e.JWS); err == nil || !strings.Contains(err.Error(), "sub") {
			t.Fatalf("before exp: %v, want refused for the missing sub", err)
		}
	})
	t.Run("RFC 7515 A.2 RS256 without kid", func(t *testing.T) {
		e := ex["RFC7515_A2_RS256"]
		withKID := publishedJWK(e.JWKPublic)
		withKID["kid"] = "a2"
		v, _ := verifierForKeys(t, []map[string]any{withKID})
		_, _, _, _, verr := jwt.VerifySignature(v, context.Background(), e.JWS, nil)
		if verr == nil || !strings.Contains(verr.Reason, "without kid") {
			t.Fatalf("got %v, want refusal for the missing kid", verr)
		}
	})
	t.Run("RFC 7520 4.1 RS256", func(t *testing.T) {
		e := ex["RFC7520_4_1_RS256_Figure13"]
		v, _ := verifierForKeys(t, []map[string]any{e.JWKPublic})
		payload, typ, _, _, verr := jwt.VerifySignature(v, context.Background(), e.JWS, nil)
		if verr != nil || typ != jwt.TokenTypeWorkOS {
			t.Fatalf("signature refused: %v", verr)
		}
		if _, err := v.Verify(e.JWS); err == nil {
			t.Fatalf("prose payload %q accepted as claims", payload[:20])
		}
	})
	t.Run("RFC 7520 4.4 HS256", func(t *testing.T) {
		e := ex["RFC7520_4_4_HS256_Figure35"]
		v, configErr := verifierForKeys(t, []map[string]any{e.JWK})
		if configErr {
			t.Fatal("32-byte secret refused")
		}
		if _, _, _, _, verr := jwt.VerifySignature(v, context.Background(), e.JWS, nil); verr != nil {
			t.Fatalf("signature refused: %v", verr)
		}
		if _, err := v.Verify(e.JWS); err == nil {
			t.Fatal("prose payload accepted as claims")
		}
	})
	t.Run("RFC 7517 A.1 public JWKS", func(t *testing.T) {
		body, _ := json.Marshal(map[string]any{"keys": ex["RFC7517_A1_public_JWKS"].Keys})
		found, skipped, err := keys.Parse(body)
		if err != nil {
			t.Fatal(err)
		}
		if len(found) != 1 || found["2011-04-29"] == nil || len(skipped) != 1 {
			t.Fatalf("kids %v, skipped %v", keys.SortedKIDs(found), skipped)
		}
	})
	t.Run("RFC 7517 A.3 symmetric keys never used", func(t *testing.T) {
		body, _ := json.Marshal(map[string]any{"keys": ex["RFC7517_A3_symmetric_keys"].Keys})
		found, _, err := keys.Parse(body)
		if err != nil {
			t.Fatal(err)
		}
		if len(found) != 0 {
			t.Fatalf("symmetric keys used: %v", keys.SortedKIDs(found))
		}
	})
}
