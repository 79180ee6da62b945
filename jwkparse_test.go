package soloauth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"
)

func jwkJSON(t testing.TB, key any, kid string, extra map[string]any) string {
	t.Helper()
	b, err := json.Marshal(jose.JSONWebKey{Key: key, KeyID: kid})
	if err != nil {
		t.Fatal(err)
	}
	if len(extra) == 0 {
		return string(b)
	}
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	for k, v := range extra {
		m[k] = v
	}
	b, _ = json.Marshal(m)
	return string(b)
}

func jwksOf(keys ...string) string { return `{"keys":[` + strings.Join(keys, ",") + `]}` }

var (
	rsaKey2 = mustRSA(2048)
	rsaKey3 = mustRSA(2048)
)

func mustRSA(bits int) *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		panic(err)
	}
	return k
}

func TestParseJWKS(t *testing.T) {
	good := jwkJSON(t, &testRSAKey.PublicKey, "good", nil)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	small := mustRSA(1024)
	tests := []struct {
		name     string
		body     string
		wantKIDs []string
		wantErr  bool
	}{
		{"one good key", jwksOf(good), []string{"good"}, false},
		{"use and alg and key_ops that allow it", jwksOf(jwkJSON(t, &testRSAKey.PublicKey, "k", map[string]any{"use": "sig", "alg": "RS256", "key_ops": []string{"verify"}})), []string{"k"}, false},
		{"oct key skipped", jwksOf(good, `{"kty":"oct","kid":"sym","k":"c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA"}`), []string{"good"}, false},
		{"EC key skipped", jwksOf(good, jwkJSON(t, &ec.PublicKey, "ec", nil)), []string{"good"}, false},
		{"1024-bit RSA skipped", jwksOf(good, jwkJSON(t, &small.PublicKey, "small", nil)), []string{"good"}, false},
		{"use enc skipped", jwksOf(good, jwkJSON(t, &rsaKey2.PublicKey, "enc", map[string]any{"use": "enc"})), []string{"good"}, false},
		{"alg RS384 skipped", jwksOf(good, jwkJSON(t, &rsaKey2.PublicKey, "rs384", map[string]any{"alg": "RS384"})), []string{"good"}, false},
		{"alg PS256 skipped", jwksOf(good, jwkJSON(t, &rsaKey2.PublicKey, "ps", map[string]any{"alg": "PS256"})), []string{"good"}, false},
		{"key_ops without verify skipped", jwksOf(good, jwkJSON(t, &rsaKey2.PublicKey, "ops", map[string]any{"key_ops": []string{"encrypt"}})), []string{"good"}, false},
		{"private key skipped", jwksOf(good, jwkJSON(t, rsaKey2, "priv", nil)), []string{"good"}, false},
		{"kid on two keys: neither used", jwksOf(good, jwkJSON(t, &rsaKey2.PublicKey, "dup", nil), jwkJSON(t, &rsaKey3.PublicKey, "dup", nil)), []string{"good"}, false},
		{"kid shared with an unusable key: not used", jwksOf(good, jwkJSON(t, &rsaKey2.PublicKey, "dup", nil), `{"kty":"oct","kid":"dup","k":"AAAA"}`), []string{"good"}, false},
		{"no kid skipped", jwksOf(good, jwkJSON(t, &rsaKey2.PublicKey, "", nil)), []string{"good"}, false},
		{"unreadable key skipped", jwksOf(good, `{"kty":"RSA","kid":"bad","n":"!!","e":"AQAB"}`, `{"kty":"nope"}`, `"string"`), []string{"good"}, false},
		{"not JSON", `<html>`, nil, true},
		{"keys not an array", `{"keys":"x"}`, nil, true},
		{"no keys member", `{"key":[]}`, nil, true},
		{"a JSON array", `[]`, nil, true},
		{"KEYS is not keys", `{"KEYS":[` + good + `]}`, nil, true},
		{"keys twice", `{"keys":[],"keys":[` + good + `]}`, nil, true},
		{"data after the set", jwksOf(good) + `{}`, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys, _, err := parseJWKS([]byte(tt.body))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err %v, want error %v", err, tt.wantErr)
			}
			if got := strings.Join(sortedKIDs(keys), ","); got != strings.Join(tt.wantKIDs, ",") {
				t.Fatalf("kids %q, want %q", got, tt.wantKIDs)
			}
		})
	}
}

// withMembers puts raw members (`"name":value,...`) at the start of a JWK,
// so that a test can write what encoding/json would not: wrong types,
// names that differ in case, a name twice.
func withMembers(jwk, members string) string { return "{" + members + "," + jwk[1:] }

// TestParseJWKSMalformedMetadata: a key whose kid, use, alg or key_ops is
// present but not what RFC 7517 says it is, or is written twice, or under a
// name that differs only in case, is skipped with the reason, never used
// as if the member were absent or under another reading of it.
func TestParseJWKSMalformedMetadata(t *testing.T) {
	good := jwkJSON(t, &testRSAKey.PublicKey, "good", nil)
	bare := jwkJSON(t, &rsaKey2.PublicKey, "", nil) // no kid
	tests := []struct {
		name, members, wantReason string
	}{
		{"key_ops a string", `"kid":"k2","key_ops":"verify"`, "key_ops"},
		{"key_ops holds a number", `"kid":"k2","key_ops":["verify",1]`, "key_ops"},
		{"key_ops holds null", `"kid":"k2","key_ops":[null]`, "key_ops"},
		{"key_ops null", `"kid":"k2","key_ops":null`, "key_ops"},
		{"key_ops an object", `"kid":"k2","key_ops":{"verify":true}`, "key_ops"},
		{"use a number", `"kid":"k2","use":5`, "use"},
		{"use null", `"kid":"k2","use":null`, "use"},
		{"use an array", `"kid":"k2","use":["sig"]`, "use"},
		{"alg an array", `"kid":"k2","alg":["RS256"]`, "alg"},
		{"alg null", `"kid":"k2","alg":null`, "alg"},
		{"kid a number", `"kid":2`, "kid"},
		{"kid null", `"kid":null`, "kid"},
		{"KID instead of kid", `"KID":"k2"`, "KID"},
		{"kid and KID", `"kid":"k2","KID":"other"`, "KID"},
		{"Use enc beside no use", `"kid":"k2","Use":"enc"`, "Use"},
		{"ALG beside alg", `"kid":"k2","alg":"RS256","ALG":"HS256"`, "ALG"},
		{"Key_Ops without verify", `"kid":"k2","Key_Ops":["encrypt"]`, "Key_Ops"},
		{"kid twice", `"kid":"k2","kid":"k2"`, "duplicate"},
		{"key_ops twice", `"kid":"k2","key_ops":["verify"],"key_ops":["encrypt"]`, "duplicate"},
		{"use twice", `"kid":"k2","use":"sig","use":"enc"`, "duplicate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys, skipped, err := parseJWKS([]byte(jwksOf(good, withMembers(bare, tt.members))))
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(sortedKIDs(keys), ","); got != "good" {
				t.Fatalf("kids %q, want only \"good\": the malformed key was used", got)
			}
			if len(skipped) != 1 || !strings.Contains(skipped[0].reason, tt.wantReason) {
				t.Fatalf("skipped %+v, want one with a reason naming %s", skipped, tt.wantReason)
			}
		})
	}
	// Well-formed members beside them are still fine, and other members
	// (a private extension) may use any case.
	ok := withMembers(bare, `"kid":"k2","use":"sig","alg":"RS256","key_ops":["verify","sign"],"X-Ext":1,"Note":"x"`)
	keys, skipped, err := parseJWKS([]byte(jwksOf(ok)))
	if err != nil || keys["k2"] == nil || len(skipped) != 0 {
		t.Fatalf("a well-formed key: kids %v skipped %+v err %v", sortedKIDs(keys), skipped, err)
	}
}
