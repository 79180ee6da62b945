package integration

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	tu "github.com/solo-one/caddy-solo-auth/internal/testutil"
)

// signRaw builds header.claims and signs it with HMAC-SHA256 under key.
func hmacToken(header, claims string, key []byte) string {
	input := tu.B64(header) + "." + tu.B64(claims)
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(input))
	return input + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// TestAttacksRefused sends known attacks on JWT verifiers to a Caddy that
// has both a secret and a JWKS: each must be a 401 "Invalid token".
func TestAttacksRefused(t *testing.T) {
	t.Parallel()
	workosKeys()
	e := newJWKSEndpoint(t, wkPub1)
	c := startCaddy(t, workosSpec(e.URL, ""))

	exp := time.Now().Add(time.Hour).Unix()
	claims := `{"sub":"mallory","exp":` + itoa(exp) + `,"permissions":["admin"]}`
	claimsObj := tu.SDKClaims("mallory", "admin")
	pub := &wkKey1.PublicKey
	spki, _ := x509.MarshalPKIXPublicKey(pub)
	pkcs1 := x509.MarshalPKCS1PublicKey(pub)
	jwkJSON, _ := json.Marshal(wkPub1)
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)

	attacks := map[string]string{
		// alg none, every spelling, with and without a signature.
		"alg none":               tu.B64(`{"alg":"none"}`) + "." + tu.B64(claims) + ".",
		"alg None":               tu.B64(`{"alg":"None"}`) + "." + tu.B64(claims) + ".",
		"alg NONE signed":        hmacToken(`{"alg":"NONE"}`, claims, []byte(secret)),
		"alg nOnE signed":        hmacToken(`{"alg":"nOnE"}`, claims, []byte(secret)),
		"alg empty":              hmacToken(`{"alg":""}`, claims, []byte(secret)),
		"alg missing":            hmacToken(`{"typ":"JWT"}`, claims, []byte(secret)),
		"alg null":               hmacToken(`{"alg":null}`, claims, []byte(secret)),
		"alg array":              hmacToken(`{"alg":["HS256"]}`, claims, []byte(secret)),
		"alg hs256 lower":        hmacToken(`{"alg":"hs256"}`, claims, []byte(secret)),
		"alg HS256 with space":   hmacToken(`{"alg":"HS256 "}`, claims, []byte(secret)),
		"HS384":                  tu.Sign(jose.SigningKey{Algorithm: jose.HS384, Key: []byte(secret + secret)}, claimsObj, nil),
		"HS512":                  tu.Sign(jose.SigningKey{Algorithm: jose.HS512, Key: []byte(secret + secret)}, claimsObj, nil),
		"RS384 with a JWKS key":  tu.Sign(jose.SigningKey{Algorithm: jose.RS384, Key: wkKey1}, claimsObj, map[jose.HeaderKey]any{"kid": "key_1"}),
		"RS512 with a JWKS key":  tu.Sign(jose.SigningKey{Algorithm: jose.RS512, Key: wkKey1}, claimsObj, map[jose.HeaderKey]any{"kid": "key_1"}),
		"PS256 with a JWKS key":  tu.Sign(jose.SigningKey{Algorithm: jose.PS256, Key: wkKey1}, claimsObj, map[jose.HeaderKey]any{"kid": "key_1"}),
		"ES256 psychic (zeroes)": tu.B64(`{"alg":"ES256","kid":"key_1"}`) + "." + tu.B64(claims) + "." + base64.RawURLEncoding.EncodeToString(make([]byte, 64)),
		"EdDSA":                  tu.Sign(jose.SigningKey{Algorithm: jose.EdDSA, Key: edKey}, claimsObj, nil),
		// Algorithm confusion: HS256 keyed with the JWKS public key.
		"HS256 keyed with PEM SPKI":  hmacToken(`{"alg":"HS256","kid":"key_1"}`, claims, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: spki})),
		"HS256 keyed with PEM PKCS1": hmacToken(`{"alg":"HS256","kid":"key_1"}`, claims, pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: pkcs1})),
		"HS256 keyed with DER":       hmacToken(`{"alg":"HS256","kid":"key_1"}`, claims, spki),
		"HS256 keyed with JWK JSON":  hmacToken(`{"alg":"HS256","kid":"key_1"}`, claims, jwkJSON),
		"HS256 keyed with modulus":   hmacToken(`{"alg":"HS256","kid":"key_1"}`, claims, pub.N.Bytes()),
		// kid is an opaque key, never a path, query or command.
		"kid path traversal": tu.RS256(wkKey2, "../../../../etc/passwd", claimsObj),
		"kid query":          tu.RS256(wkKey2, "key_1?x=1", claimsObj),
		"kid command":        tu.RS256(wkKey2, "$(curl 127.0.0.1)", claimsObj),
		"kid too long":       tu.RS256(wkKey1, strings.Repeat("k", 300), claimsObj),
		"kid a number":       tu.Sign(jose.SigningKey{Algorithm: jose.RS256, Key: wkKey1}, claimsObj, map[jose.HeaderKey]any{"kid": 1}),
		// Structure.
		"padding":               strings.Replace(tu.HS256(secret, claimsObj), ".", "=.", 1),
		"standard base64 chars": strings.NewReplacer("-", "+", "_", "/").Replace(tu.HS256(secret, claimsObj)) + "+/",
		"question mark":         strings.Replace(tu.HS256(secret, claimsObj), ".", "?.", 1),
		"space inside":          strings.Replace(tu.HS256(secret, claimsObj), ".", " .", 1),
		"JSON serialization":    `{"payload":"` + tu.B64(claims) + `","signatures":[]}`,
		"crit empty":            hmacToken(`{"alg":"HS256","crit":[]}`, claims, []byte(secret)),
		"crit b64":              hmacToken(`{"alg":"HS256","crit":["b64"],"b64":false}`, claims, []byte(secret)),
		"b64 true":              hmacToken(`{"alg":"HS256","b64":true}`, claims, []byte(secret)),
		"duplicate alg":         hmacToken(`{"alg":"HS256","alg":"none"}`, claims, []byte(secret)),
		"duplicate sub":         hmacToken(`{"alg":"HS256"}`, `{"sub":"a","sub":"root","exp":`+itoa(exp)+`}`, []byte(secret)),
		"duplicate nested key":  hmacToken(`{"alg":"HS256"}`, `{"sub":"a","exp":`+itoa(exp)+`,"x":{"y":1,"y":2}}`, []byte(secret)),
		"claims an array":       hmacToken(`{"alg":"HS256"}`, `[{"sub":"a"}]`, []byte(secret)),
		"claims invalid UTF-8":  hmacToken(`{"alg":"HS256"}`, "{\"sub\":\"\xc3\x28\",\"exp\":"+itoa(exp)+"}", []byte(secret)),
		"header invalid UTF-8":  hmacToken("{\"alg\":\"HS256\",\"x\":\"\xff\"}", claims, []byte(secret)),
		"deep nesting":          hmacToken(`{"alg":"HS256"}`, `{"sub":"a","exp":`+itoa(exp)+`,"x":`+strings.Repeat("[", 5000)+strings.Repeat("]", 5000)+`}`, []byte(secret)),
		"exp huge":              hmacToken(`{"alg":"HS256"}`, `{"sub":"a","exp":1e300}`, []byte(secret)),
		"exp negative":          hmacToken(`{"alg":"HS256"}`, `{"sub":"a","exp":-1}`, []byte(secret)),
		"exp a string":          hmacToken(`{"alg":"HS256"}`, `{"sub":"a","exp":"`+itoa(exp)+`"}`, []byte(secret)),
		"exp null":              hmacToken(`{"alg":"HS256"}`, `{"sub":"a","exp":null}`, []byte(secret)),
		"forged and expired":    hmacToken(`{"alg":"HS256"}`, `{"sub":"a","exp":1000}`, []byte(otherSecret)),
		"trailing data":         hmacToken(`{"alg":"HS256"}`, claims+`{}`, []byte(secret)),
		"non-canonical base64":  nonCanonical(tu.HS256(secret, claimsObj)),
	}
	for name, token := range attacks {
		t.Run(name, func(t *testing.T) {
			expectRefusal(t, c.get(t, "/", bearer(token)), invalidToken)
		})
	}
}

// nonCanonical flips an unused bit in the signature's last character, so
// that the segment decodes to the same bytes but is spelt differently.
func nonCanonical(token string) string {
	last := token[len(token)-1]
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	i := strings.IndexByte(alphabet, last)
	return token[:len(token)-1] + string(alphabet[i^1])
}
