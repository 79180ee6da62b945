package keys

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"math/big"
	"strings"
	"testing"

	tu "github.com/solo-one/caddy-solo-auth/internal/testutil"
)

func TestParseJWKS(t *testing.T) {
	good := tu.JWK(t, &tu.RSAKey.PublicKey, "good", nil)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	small := tu.MustRSA(1024)
	tests := []struct {
		name     string
		body     string
		wantKIDs []string
		wantErr  bool
	}{
		{"one good key", tu.JWKS(good), []string{"good"}, false},
		{"use and alg and key_ops that allow it", tu.JWKS(tu.JWK(t, &tu.RSAKey.PublicKey, "k", map[string]any{"use": "sig", "alg": "RS256", "key_ops": []string{"verify"}})), []string{"k"}, false},
		{"oct key skipped", tu.JWKS(good, `{"kty":"oct","kid":"sym","k":"c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA"}`), []string{"good"}, false},
		{"EC key skipped", tu.JWKS(good, tu.JWK(t, &ec.PublicKey, "ec", nil)), []string{"good"}, false},
		{"1024-bit RSA skipped", tu.JWKS(good, tu.JWK(t, &small.PublicKey, "small", nil)), []string{"good"}, false},
		{"use enc skipped", tu.JWKS(good, tu.JWK(t, &tu.RSAKey2.PublicKey, "enc", map[string]any{"use": "enc"})), []string{"good"}, false},
		{"alg RS384 skipped", tu.JWKS(good, tu.JWK(t, &tu.RSAKey2.PublicKey, "rs384", map[string]any{"alg": "RS384"})), []string{"good"}, false},
		{"alg PS256 skipped", tu.JWKS(good, tu.JWK(t, &tu.RSAKey2.PublicKey, "ps", map[string]any{"alg": "PS256"})), []string{"good"}, false},
		{"key_ops without verify skipped", tu.JWKS(good, tu.JWK(t, &tu.RSAKey2.PublicKey, "ops", map[string]any{"key_ops": []string{"encrypt"}})), []string{"good"}, false},
		{"private key skipped", tu.JWKS(good, tu.JWK(t, tu.RSAKey2, "priv", nil)), []string{"good"}, false},
		{"kid on two keys: neither used", tu.JWKS(good, tu.JWK(t, &tu.RSAKey2.PublicKey, "dup", nil), tu.JWK(t, &tu.RSAKey3.PublicKey, "dup", nil)), []string{"good"}, false},
		{"kid shared with an unusable key: not used", tu.JWKS(good, tu.JWK(t, &tu.RSAKey2.PublicKey, "dup", nil), `{"kty":"oct","kid":"dup","k":"AAAA"}`), []string{"good"}, false},
		{"kid shared with a key with a member twice: not used", tu.JWKS(good, tu.JWK(t, &tu.RSAKey2.PublicKey, "dup", nil), `{"kty":"RSA","kid":"dup","kid":"dup","e":"AQAB","n":"AAAA"}`), []string{"good"}, false},
		{"no kid skipped", tu.JWKS(good, tu.JWK(t, &tu.RSAKey2.PublicKey, "", nil)), []string{"good"}, false},
		{"unreadable key skipped", tu.JWKS(good, `{"kty":"RSA","kid":"bad","n":"!!","e":"AQAB"}`, `{"kty":"nope"}`, `"string"`), []string{"good"}, false},
		{"not JSON", `<html>`, nil, true},
		{"keys not an array", `{"keys":"x"}`, nil, true},
		{"no keys member", `{"key":[]}`, nil, true},
		{"a JSON array", `[]`, nil, true},
		{"KEYS is not keys", `{"KEYS":[` + good + `]}`, nil, true},
		{"keys twice", `{"keys":[],"keys":[` + good + `]}`, nil, true},
		{"data after the set", tu.JWKS(good) + `{}`, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys, _, err := Parse([]byte(tt.body))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err %v, want error %v", err, tt.wantErr)
			}
			if got := strings.Join(SortedKIDs(keys), ","); got != strings.Join(tt.wantKIDs, ",") {
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
	good := tu.JWK(t, &tu.RSAKey.PublicKey, "good", nil)
	bare := tu.JWK(t, &tu.RSAKey2.PublicKey, "", nil) // no kid
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
			keys, skipped, err := Parse([]byte(tu.JWKS(good, withMembers(bare, tt.members))))
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(SortedKIDs(keys), ","); got != "good" {
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
	keys, skipped, err := Parse([]byte(tu.JWKS(ok)))
	if err != nil || keys["k2"] == nil || len(skipped) != 0 {
		t.Fatalf("a well-formed key: kids %v skipped %+v err %v", SortedKIDs(keys), skipped, err)
	}
}

// rocaMod03 is a public modulus that the ROCA detection tool's tests
// (crocs-muni/roca, roca/tests/data/mod03.txt) list as fingerprinted: a
// 2048-bit key made by the Infineon library of CVE-2017-15361.
const rocaMod03 = "9dcd7420e420c270a68060eb8b5aa7457a9f6648f86fafed2775cc1f79ae962f1e63f1b9e51c55f9ea6fdc7332e9b0058c9ff2eb1fc89855029cf6aafe21e689feb38ac9ffb12f1ce371bb5d0e9aae64161abce74b4244bf68f1edb4411f756a097c8929c14740245ea355f8332d1aa36bb50c7dcb4505da8de02e4e53d38f8df06097da7524df0df93db48eac8cc4af2d3a16257eb2b2adca6ba464e5974fa92550d31b1babf161e7692d00b86e3dd886ecab4abfbe1a8f8cc263ff4af55cdb45f4249a5193925f5e983d762f0b6800943eb0267b08f42ed311ce1f5c86eacbc8ce4d3cb7a2fee1ef5641423a1cf4114e5ecf50034a60a412523af9e6f4aa11"

// m167 is the product of the primes 2 to 167.
func m167() *big.Int {
	m := big.NewInt(1)
	for p := int64(2); p <= 167; p++ {
		if big.NewInt(p).ProbablyPrime(1) {
			m.Mul(m, big.NewInt(p))
		}
	}
	return m
}

// rocaStyleModulus builds a modulus the way the vulnerable library built
// its keys (Nemec et al., "The Return of Coppersmith's Attack", CCS 2017):
// each prime is k*M + (65537^a mod M), M the product of the first primes
// (2 to 167 here, the 39 of its 512-bit keys), k and a random.
func rocaStyleModulus(t *testing.T, bits int) *big.Int {
	t.Helper()
	m := m167()
	prime := func() *big.Int {
		for {
			a, _ := rand.Int(rand.Reader, big.NewInt(1<<40))
			kMax := new(big.Int).Div(new(big.Int).Lsh(big.NewInt(1), uint(bits/2)), m) // p under 2^(bits/2)
			k, _ := rand.Int(rand.Reader, kMax)
			p := new(big.Int).Mul(k, m)
			p.Add(p, new(big.Int).Exp(big.NewInt(65537), a, m))
			if p.BitLen() == bits/2 && p.ProbablyPrime(20) {
				return p
			}
		}
	}
	for {
		n := new(big.Int).Mul(prime(), prime())
		if n.BitLen() == bits {
			return n
		}
	}
}

func TestROCA(t *testing.T) {
	mod03, _ := new(big.Int).SetString(rocaMod03, 16)
	if mod03.BitLen() != 2048 {
		t.Fatalf("test vector of %d bits", mod03.BitLen())
	}
	built := rocaStyleModulus(t, 2048)
	tests := []struct {
		name string
		n    *big.Int
		want bool
	}{
		{"crocs-muni mod03 (Infineon)", mod03, true},
		{"built as the Infineon library did", built, true},
		{"built, then off by two", new(big.Int).Add(built, big.NewInt(2)), false},
		{"a Go 2048-bit key", tu.RSAKey.N, false},
		{"another Go 2048-bit key", tu.RSAKey2.N, false},
		{"another", tu.RSAKey3.N, false},
	}
	for _, tt := range tests {
		if got := rocaVulnerable(tt.n); got != tt.want {
			t.Errorf("%s: rocaVulnerable %v, want %v", tt.name, got, tt.want)
		}
	}
	// Each fingerprint prime counts: the built modulus made divisible by
	// one of 3..167 (so off the structure there, unchanged mod the others)
	// is not flagged.
	for p := int64(3); p <= 167; p += 2 {
		bp := big.NewInt(p)
		if !bp.ProbablyPrime(1) {
			continue
		}
		others := new(big.Int).Div(m167(), new(big.Int).Mul(bp, big.NewInt(2))) // odd primes but p
		// n = built + others*t, with t making n ≡ 0 (mod p).
		t0 := new(big.Int).Neg(built)
		t0.Mul(t0, new(big.Int).ModInverse(others, bp))
		t0.Mod(t0, bp)
		n := new(big.Int).Add(built, new(big.Int).Mul(others, t0))
		if rocaVulnerable(n) {
			t.Errorf("a modulus off the structure mod %d only is flagged", p)
		}
	}
	// End to end: a JWK set holding the Infineon key keeps only the good one.
	roca := tu.JWK(t, &rsa.PublicKey{N: mod03, E: 65537}, "roca", nil)
	keys, skipped, err := Parse([]byte(tu.JWKS(tu.JWK(t, &tu.RSAKey.PublicKey, "good", nil), roca)))
	if err != nil || keys["roca"] != nil || keys["good"] == nil {
		t.Fatalf("kids %v err %v", SortedKIDs(keys), err)
	}
	if len(skipped) != 1 || !strings.Contains(skipped[0].reason, "ROCA") {
		t.Fatalf("skipped %+v, want the ROCA key with its reason", skipped)
	}
}
