package soloauth

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/solo-one/caddy-solo-auth/internal/jwt"
	"github.com/solo-one/caddy-solo-auth/internal/keys"
	tu "github.com/solo-one/caddy-solo-auth/internal/testutil"
)

// mintRS256 runs `token --rs256` and returns the token.
func mintRS256(t *testing.T, args ...string) string {
	t.Helper()
	out, err := run(tokenCommand(), append([]string{"--rs256"}, args...)...)
	if err != nil {
		t.Fatalf("token %q: %v", args, err)
	}
	return strings.TrimSpace(out)
}

// segmentJSON decodes one segment of a compact token.
func segmentJSON(t *testing.T, token string, i int) map[string]any {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[i])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// writeTestKey writes tu.RSAKey as keygen would and returns its path.
func writeTestKey(t *testing.T) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(tu.RSAKey)
	if err != nil {
		t.Fatal(err)
	}
	return writePEM(t, "PRIVATE KEY", der)
}

var ulidRE = regexp.MustCompile(`^[0-9A-HJKMNP-TV-Z]{26}$`)

// TestTokenRS256Shape: a WorkOS-shaped token's header and claims.
func TestTokenRS256Shape(t *testing.T) {
	t.Setenv("SOLO_SDK_SECRET", "") // no secret is needed
	keyPath := writeTestKey(t)
	before := time.Now().Unix()
	token := mintRS256(t, "--key", keyPath, "--kid", "dev-1", "--sub", "user_01", "--permissions", "a,b",
		"--org-id", "org_01", "--role", "admin", "--lifetime", "5m", "--workflow-id", "wf_1")
	header := segmentJSON(t, token, 0)
	if header["alg"] != "RS256" || header["kid"] != "dev-1" || header["typ"] != "JWT" || len(header) != 3 {
		t.Errorf("header %v", header)
	}
	c := segmentJSON(t, token, 1)
	for name, want := range map[string]any{
		"sub": "user_01", "iss": "https://api.workos.com", "org_id": "org_01", "role": "admin",
		"roles": []any{"admin"}, "permissions": []any{"a", "b"}, claimWorkflowID: "wf_1",
	} {
		if got, _ := json.Marshal(c[name]); string(got) != mustJSON(want) {
			t.Errorf("%s = %s, want %s", name, got, mustJSON(want))
		}
	}
	sid, _ := c["sid"].(string)
	if !strings.HasPrefix(sid, "session_") || !ulidRE.MatchString(strings.TrimPrefix(sid, "session_")) {
		t.Errorf("sid %q, want session_<ULID>", sid)
	}
	if jti, _ := c["jti"].(string); !ulidRE.MatchString(jti) || "session_"+jti == sid {
		t.Errorf("jti %q, want a ULID of its own", jti)
	}
	iat, _ := c["iat"].(float64)
	exp, _ := c["exp"].(float64)
	if int64(iat) < before || int64(iat) > time.Now().Unix() || exp-iat != 300 {
		t.Errorf("iat %v exp %v, want now and now+5m", iat, exp)
	}

	// Flags set the WorkOS claims; --claim has the last word.
	c = segmentJSON(t, mintRS256(t, "--key", keyPath, "--kid", "dev-1", "--sub", "u",
		"--sid", "session_given", "--iss", "https://auth.example.com", "--claim", "org_id=org_x"), 1)
	if c["sid"] != "session_given" || c["iss"] != "https://auth.example.com" || c["org_id"] != "org_x" {
		t.Errorf("claims %v", c)
	}
	if _, ok := c["role"]; ok {
		t.Errorf("role without --role: %v", c)
	}

	// The verifier takes it as a WorkOS token.
	v := &jwt.Verifier{RSAKeys: fileKeys(map[string]*rsa.PublicKey{"dev-1": &tu.RSAKey.PublicKey})}
	id, err := v.Verify(token)
	if err != nil || id.TokenType != jwt.TokenTypeWorkOS || id.Subject != "user_01" || id.KeyID != "dev-1" {
		t.Fatalf("Verify: %+v, %v", id, err)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestTokenSDKUnchanged: without --rs256 an SDK token is what it was, and
// the WorkOS flags are refused rather than ignored.
func TestTokenSDKUnchanged(t *testing.T) {
	t.Setenv("SOLO_SDK_SECRET", tu.SecretA)
	out, err := run(tokenCommand(), "--sub", "alice", "--permissions", "read")
	if err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSpace(out)
	if h := segmentJSON(t, token, 0); len(h) != 2 || h["alg"] != "HS256" || h["typ"] != "JWT" {
		t.Errorf("header %v", h)
	}
	c := segmentJSON(t, token, 1)
	for _, name := range []string{"iss", "sid", "jti", "org_id", "role"} {
		if _, ok := c[name]; ok {
			t.Errorf("SDK token has %s: %v", name, c)
		}
	}
	if id, err := (&jwt.Verifier{Secrets: [][]byte{[]byte(tu.SecretA)}}).Verify(token); err != nil || id.TokenType != jwt.TokenTypeSDK {
		t.Fatalf("Verify: %v", err)
	}
	for _, flag := range workosFlags {
		_, err := run(tokenCommand(), "--sub", "alice", "--"+flag, "x")
		if err == nil || !strings.Contains(err.Error(), "--"+flag) || !strings.Contains(err.Error(), "--rs256") {
			t.Errorf("--%s without --rs256: err = %v", flag, err)
		}
	}
}

// TestTokenRS256Errors: each wrong flag is an error naming it.
func TestTokenRS256Errors(t *testing.T) {
	t.Setenv("SOLO_SDK_SECRET", "")
	keyPath := writeTestKey(t)
	notPEM := filepath.Join(t.TempDir(), "x")
	os.WriteFile(notPEM, []byte("hello"), 0o600)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--key", keyPath, "--sub", "u"}, "--rs256 needs --kid"},
		{[]string{"--kid", "k", "--sub", "u"}, "--rs256 needs --key"},
		{[]string{"--kid", "k", "--key", keyPath}, "--sub is required"},
		{[]string{"--kid", "a\x7fb", "--key", keyPath, "--sub", "u"}, "--kid holds the control character"},
		{[]string{"--kid", "k", "--key", notPEM, "--sub", "u"}, "--key " + notPEM + ": not a PEM file"},
		{[]string{"--kid", "k", "--key", keyPath + ".missing", "--sub", "u"}, "--key: open " + keyPath + ".missing"},
	}
	for _, tt := range tests {
		if _, err := run(tokenCommand(), append([]string{"--rs256"}, tt.args...)...); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: err = %v, want %q", tt.args, err, tt.want)
		}
	}
}

// TestKeyIDRoundTrip: keygen refuses exactly the kids that would not come
// back from a token as written: every kid it takes, minted by go-jose and
// published in a JWK set, verifies under that kid.
func TestKeyIDRoundTrip(t *testing.T) {
	tests := []struct {
		kid string
		ok  bool
	}{
		{"dev-1", true},
		{"k", true},
		{strings.Repeat("k", jwt.MaxKeyIDLength), true},
		{`quote " back \ slash </script> & `, true},
		{"clé ü 鍵 🔑 \u2028 \ufeff", true},
		{" spaces around ", true},
		{"", false},
		{strings.Repeat("k", jwt.MaxKeyIDLength+1), false},
		{strings.Repeat("é", jwt.MaxKeyIDLength/2) + "k", false}, // 257 bytes in 129 characters
		{"a\x00b", false},
		{"a\tb", false},
		{"a\x1bb", false},
		{"a\x7fb", false},
		{"a\u0085b", false}, // C1 control (NEL)
		{"a\xffb", false},   // not UTF-8
		{"\xed\xa0\x80", false},
	}
	for _, tt := range tests {
		err := checkKeyID(tt.kid)
		if (err == nil) != tt.ok {
			t.Errorf("checkKeyID(%q) = %v, want ok=%v", tt.kid, err, tt.ok)
			continue
		}
		if err != nil && !strings.Contains(err.Error(), "--kid") {
			t.Errorf("checkKeyID(%q) = %v, want it to name --kid", tt.kid, err)
		}
		if !tt.ok {
			continue
		}
		set, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{
			Key: &tu.RSAKey.PublicKey, KeyID: tt.kid, Algorithm: "RS256", Use: "sig"}}})
		if err != nil {
			t.Fatal(err)
		}
		keys, skipped, err := keys.Parse(set)
		if err != nil || keys[tt.kid] == nil {
			t.Errorf("kid %q: the JWK set's key is not used under it: %v %v", tt.kid, skipped, err)
			continue
		}
		token := tu.RS256(tu.RSAKey, tt.kid, tu.SDKClaims("alice"))
		if id, err := (&jwt.Verifier{RSAKeys: fileKeys(keys)}).VerifyContext(context.Background(), token); err != nil || id.KeyID != tt.kid {
			t.Errorf("kid %q: %v", tt.kid, err)
		}
	}
	// The length bound is the verifier's own.
	long := strings.Repeat("k", jwt.MaxKeyIDLength+1)
	token := tu.RS256(tu.RSAKey, long, tu.SDKClaims("alice"))
	if _, err := (&jwt.Verifier{RSAKeys: fileKeys(map[string]*rsa.PublicKey{long: &tu.RSAKey.PublicKey})}).Verify(token); err == nil {
		t.Fatal("the verifier took a kid over MaxKeyIDLength; keygen's bound is stale")
	}
}

// TestRoundTripGoJOSE: keygen, then token --rs256, verified by go-jose
// (an independent JOSE implementation) against the JWK set keygen wrote;
// a token under another kid, or with a changed payload, is not.
func TestRoundTripGoJOSE(t *testing.T) {
	t.Setenv("SOLO_SDK_SECRET", "")
	dir := t.TempDir()
	keyPath, jwksPath, err := keygenIn(t, dir, "dev-1")
	if err != nil {
		t.Fatal(err)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(mustRead(t, jwksPath), &set); err != nil {
		t.Fatal(err)
	}
	// verify is what a third-party verifier does with the token.
	verify := func(token string) (map[string]any, error) {
		jws, err := jose.ParseSigned(token, []jose.SignatureAlgorithm{jose.RS256})
		if err != nil {
			return nil, err
		}
		keys := set.Key(jws.Signatures[0].Header.KeyID)
		if len(keys) != 1 {
			return nil, errors.New("no key under the token's kid")
		}
		payload, err := jws.Verify(keys[0].Public())
		if err != nil {
			return nil, err
		}
		var claims map[string]any
		return claims, json.Unmarshal(payload, &claims)
	}
	token := mintRS256(t, "--key", keyPath, "--kid", "dev-1", "--sub", "user_01", "--sid", "session_01", "--role", "member")
	claims, err := verify(token)
	if err != nil {
		t.Fatalf("go-jose refused the minted token: %v", err)
	}
	if claims["sub"] != "user_01" || claims["sid"] != "session_01" || claims["role"] != "member" {
		t.Fatalf("claims %v", claims)
	}

	if _, err := verify(mintRS256(t, "--key", keyPath, "--kid", "dev-2", "--sub", "user_01")); err == nil {
		t.Error("a token under another kid verified")
	}
	parts := strings.Split(token, ".")
	parts[1] = base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"admin","exp":9999999999}`))
	if _, err := verify(strings.Join(parts, ".")); err == nil {
		t.Error("a token with a changed payload verified")
	}
	if _, err := verify(mintRS256(t, "--key", writeTestKey(t), "--kid", "dev-1", "--sub", "user_01")); err == nil {
		t.Error("a token signed with another key under the same kid verified")
	}
}

// fileKeys is a fixed key source, as a route's jwks_file gives one.
func fileKeys(keys map[string]*rsa.PublicKey) jwt.RSAKeySource { return staticKeys(keys) }
