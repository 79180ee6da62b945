package jwt

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	tu "github.com/solo-one/caddy-solo-auth/internal/testutil"
)

// Benchmarks of the verification path. Run them all with:
//
//	go test -run '^$' -bench . -benchmem
//
// "first" benchmarks verify a token never seen before (no cache); the
// RSA baseline is crypto/rsa alone on the same key, for the ratio.

// benchVerify verifies the tokens round-robin, b.N times in all.
func benchVerify(b *testing.B, v *Verifier, tokens ...string) {
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := v.Verify(tokens[i%len(tokens)]); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyHS256First(b *testing.B) {
	v := &Verifier{Secrets: [][]byte{[]byte(tu.SecretA)}}
	benchVerify(b, v, tu.DistinctTokens(1024, func(c tu.Claims) string { return tu.HS256(tu.SecretA, c) })...)
}

func BenchmarkVerifyRS256First(b *testing.B) {
	v := &Verifier{RSAKeys: staticKeys{"k1": &tu.RSAKey.PublicKey}}
	benchVerify(b, v, tu.DistinctTokens(256, func(c tu.Claims) string { return tu.RS256(tu.RSAKey, "k1", c) })...)
}

// BenchmarkRSAVerifyBaseline is crypto/rsa.VerifyPKCS1v15 alone on the
// same key and the same signing input: the floor of RS256 verification.
func BenchmarkRSAVerifyBaseline(b *testing.B) {
	token := tu.RS256(tu.RSAKey, "k1", tu.BenchClaims())
	i := strings.LastIndexByte(token, '.')
	sig, _ := base64.RawURLEncoding.DecodeString(token[i+1:])
	input := []byte(token[:i])
	b.ReportAllocs()
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		digest := sha256.Sum256(input)
		if err := rsa.VerifyPKCS1v15(&tu.RSAKey.PublicKey, crypto.SHA256, digest[:], sig); err != nil {
			b.Fatal(err)
		}
	}
}

// benchCacheHit verifies one token over and over, after the two
// verifications that admit it to the cache.
func benchCacheHit(b *testing.B, v *Verifier, token string) {
	v.EnableCache(DefaultCacheEntries)
	for range 2 {
		if _, err := v.Verify(token); err != nil {
			b.Fatal(err)
		}
	}
	benchVerify(b, v, token)
}

func BenchmarkVerifyCacheHit(b *testing.B) {
	benchCacheHit(b, &Verifier{Secrets: [][]byte{[]byte(tu.SecretA)}}, tu.HS256(tu.SecretA, tu.BenchClaims()))
}

func BenchmarkVerifyCacheHitRS256(b *testing.B) {
	v := &Verifier{RSAKeys: staticKeys{"k1": &tu.RSAKey.PublicKey}}
	benchCacheHit(b, v, tu.RS256(tu.RSAKey, "k1", tu.BenchClaims()))
}

// BenchmarkRS256OverRSA interleaves a first-time RS256 verification with
// crypto/rsa.VerifyPKCS1v15 alone on the same key and input, and reports
// their ratio ("x_rsa"): interleaving cancels the drift of a shared
// machine, which two separate benchmarks do not.
func BenchmarkRS256OverRSA(b *testing.B) {
	v := &Verifier{RSAKeys: staticKeys{"k1": &tu.RSAKey.PublicKey}}
	tokens := tu.DistinctTokens(256, func(c tu.Claims) string { return tu.RS256(tu.RSAKey, "k1", c) })
	type parts struct {
		input, sig []byte
	}
	raw := make([]parts, len(tokens))
	for i, tok := range tokens {
		j := strings.LastIndexByte(tok, '.')
		sig, _ := base64.RawURLEncoding.DecodeString(tok[j+1:])
		raw[i] = parts{[]byte(tok[:j]), sig}
	}
	var full, alone time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		n := i % len(tokens)
		t0 := time.Now()
		if _, err := v.Verify(tokens[n]); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		digest := sha256.Sum256(raw[n].input)
		if err := rsa.VerifyPKCS1v15(&tu.RSAKey.PublicKey, crypto.SHA256, digest[:], raw[n].sig); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		full += t1.Sub(t0)
		alone += t2.Sub(t1)
	}
	b.ReportMetric(float64(full)/float64(alone), "x_rsa")
	b.ReportMetric(float64(full)/float64(b.N), "ns/verify")
}
