// Package testutil mints tokens for tests. It signs with go-jose's signer
// and, for tokens no library would produce, with crypto/hmac directly, so
// that tests never depend on the verifier they are testing.
package testutil

import (
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// Claims are a token's claims.
type Claims map[string]any

// SDKClaims are valid claims for sub with the given permissions, expiring
// in an hour.
func SDKClaims(sub string, permissions ...string) Claims {
	now := time.Now()
	if permissions == nil {
		permissions = []string{}
	}
	return Claims{
		"sub":         sub,
		"iat":         now.Unix(),
		"exp":         now.Add(time.Hour).Unix(),
		"permissions": permissions,
	}
}

// With returns a copy of c with the given claims set; a nil value removes
// the claim.
func (c Claims) With(kv ...any) Claims {
	out := Claims{}
	for k, v := range c {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
			continue
		}
		out[kv[i].(string)] = kv[i+1]
	}
	return out
}

// HS256 signs claims with secret through go-jose.
func HS256(secret string, claims Claims) string {
	return sign(jose.SigningKey{Algorithm: jose.HS256, Key: []byte(secret)}, claims, nil)
}

// RS256 signs claims with key through go-jose, naming kid in the header.
func RS256(key *rsa.PrivateKey, kid string, claims Claims) string {
	return sign(jose.SigningKey{Algorithm: jose.RS256, Key: key}, claims, map[jose.HeaderKey]any{"kid": kid})
}

// Sign signs claims with any go-jose signing key and extra header fields.
func Sign(key jose.SigningKey, claims Claims, headers map[jose.HeaderKey]any) string {
	return sign(key, claims, headers)
}

func sign(key jose.SigningKey, claims Claims, headers map[jose.HeaderKey]any) string {
	opts := &jose.SignerOptions{ExtraHeaders: headers}
	opts.WithType("JWT")
	signer, err := jose.NewSigner(key, opts)
	if err != nil {
		panic(err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		panic(err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		panic(err)
	}
	token, err := jws.CompactSerialize()
	if err != nil {
		panic(err)
	}
	return token
}

// RawHS256 builds a token from a header and claims given as raw JSON and
// signs it with HMAC-SHA256, for shapes a JOSE library refuses to produce
// (duplicate keys, crit, odd alg spellings).
func RawHS256(header, claims, secret string) string {
	input := B64(header) + "." + B64(claims)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(input))
	return input + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// B64 is unpadded base64url.
func B64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// BenchClaims are an SDK token's claims as a real one carries them: a
// subject, two permissions and the SOLO workflow claims.
func BenchClaims() Claims {
	return SDKClaims("user_01HBENCH", "templates:read", "identity:prefill").With(
		"https://api.solo.one/workflow_id", "wf_123",
		"https://api.solo.one/stakeholder_name", "Ada Lovelace",
		"https://api.solo.one/stakeholder_type", "signer",
	)
}

// DistinctTokens mints n tokens that differ in their claims.
func DistinctTokens(n int, mint func(Claims) string) []string {
	tokens := make([]string, n)
	base := BenchClaims()
	for i := range tokens {
		tokens[i] = mint(base.With("jti", fmt.Sprint(i)))
	}
	return tokens
}
