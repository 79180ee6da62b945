package jwt

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"reflect"
	"strings"
	"testing"

	tu "github.com/solo-one/caddy-solo-auth/internal/testutil"
)

// The fast path must take the tokens real issuers send, or the verifier
// silently runs at the strict path's speed.
func TestFlatObjectTakesRealTokens(t *testing.T) {
	tokens := []string{
		tu.HS256(tu.SecretA, tu.BenchClaims()),
		tu.RS256(tu.RSAKey, "k1", tu.BenchClaims()),
		tu.HS256(tu.SecretA, tu.SDKClaims("u").With("aud", []string{"a", "b"}, "iss", "https://issuer.example",
			"nbf", 1700000000, "scope", "a b", "admin", true, "ratio", -1.5e3, "none", nil, "empty", []string{})),
	}
	for _, token := range tokens {
		segs := strings.Split(token, ".")
		for i, seg := range segs[:2] {
			raw, err := base64.RawURLEncoding.DecodeString(seg)
			if err != nil {
				t.Fatal(err)
			}
			if !flatOK(raw) {
				t.Errorf("segment %d refused by the fast path: %s", i, raw)
			}
		}
	}
}

func flatOK(data []byte) bool {
	o := newFlatObject(data)
	for _, _, more := o.next(); more; _, _, more = o.next() {
	}
	return o.ok()
}

// What the fast path leaves to the strict one: invalid JSON, and valid
// JSON outside its subset. Either way the strict path decides.
func TestFlatObjectRefuses(t *testing.T) {
	for _, data := range []string{
		``, ` `, `[]`, `"s"`, `{`, `{"a":1`, `{"a":1,}`, `{,}`, `{"a"}`, `{"a":}`, `{"a" 1}`, `{a:1}`,
		`{"a":1}x`, `{"a":1}{}`, `{"a":1} ,`,
		`{"a":"\u0061"}`, `{"\u0061":1}`, `{"a":"x\"y"}`, `{"a":"tab	"}`, "{\"a\":\"\x01\"}",
		"{\"a\":\"\xff\"}", "{\"\xc3\":1}", "{\"a\":\"\xed\xa0\x80\"}", // invalid UTF-8, a UTF-8 surrogate
		`{"a":{}}`, `{"a":[[]]}`, `{"a":[{}]}`, `{"a":[1,]}`, `{"a":[,1]}`, `{"a":[1 2]}`,
		`{"a":1,"a":2}`, `{"a":1,"b":2,"a":3}`, distinctMembers(maxFlatMembers + 1),
		`{"a":01}`, `{"a":-}`, `{"a":1.}`, `{"a":.5}`, `{"a":1e}`, `{"a":1e+}`, `{"a":+1}`, `{"a":0x10}`,
		`{"a":NaN}`, `{"a":Infinity}`, `{"a":tru}`, `{"a":truex}`, `{"a":nul}`, `{"a":True}`,
		"{\"a\":1\x00}", "\ufeff{}", `{"a":1}` + "\x00",
	} {
		if flatOK([]byte(data)) {
			t.Errorf("fast path took %q", data)
		}
	}
	for _, data := range []string{
		`{}`, ` { } `, "\t{\n\"a\"\r:\n1 }\n", `{"a":[]}`, `{"a":[ ]}`, `{"a":[1,"x",true,null,-0.5e-7]}`,
		`{"a":0}`, `{"a":-0}`, `{"a":1E+2}`, `{"a":"é"}`, `{"é":"💡"}`, `{"a":""}`, `{"":1}`,
		distinctMembers(maxFlatMembers),
	} {
		if !flatOK([]byte(data)) {
			t.Errorf("fast path refused %q", data)
		}
	}
}

// distinctMembers is an object of n members with distinct names.
func distinctMembers(n int) string {
	members := make([]string, n)
	for i := range members {
		members[i] = fmt.Sprintf(`"m%d":%d`, i, i)
	}
	return "{" + strings.Join(members, ",") + "}"
}

// FuzzFlatScan is the fast path's proof: wherever it takes an input, the
// strict jsontext path must accept it too and read the same header and the
// same claims.
func FuzzFlatScan(f *testing.F) {
	for _, token := range []string{
		tu.HS256(tu.SecretA, tu.BenchClaims()),
		tu.RS256(tu.RSAKey, "k1", tu.BenchClaims()),
	} {
		for _, seg := range strings.Split(token, ".")[:2] {
			raw, _ := base64.RawURLEncoding.DecodeString(seg)
			f.Add(raw)
		}
	}
	for _, s := range []string{
		`{"alg":"HS256","kid":"k","crit":[],"b64":false}`, `{"alg":["HS256"],"kid":7}`,
		`{"sub":"u","exp":1.5e9,"nbf":-1,"iat":"x","iss":"i","aud":["a",1],"permissions":["p","q"],"scope":"a b"}`,
		`{"sub":"u","exp":1e400,"aud":"a","permissions":"p","scope":["s"],"scp":[]}`,
		`{"sub":"\u0075","exp":1}`, `{"a":1,"a":1}`, `{"a":[{"b":1}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(expectFlatAgrees)
}

// expectFlatAgrees: wherever the fast path takes data, jsontext accepts it
// and reads the same header and the same claims from it.
func expectFlatAgrees(t *testing.T, data []byte) {
	t.Helper()
	if h, ok := readHeaderFast(data); ok {
		strict, err := readHeaderStrict(bytes.Clone(data))
		if err != nil {
			t.Fatalf("fast path took %q, which jsontext refuses: %v", data, err)
		}
		if h != strict {
			t.Fatalf("header of %q: fast %+v, strict %+v", data, h, strict)
		}
	}
	for _, scopeClaims := range [][]string{defaultScopeClaims, {"scope", "scp"}} {
		c, ok := readClaimsFast(data, scopeClaims)
		if !ok {
			continue
		}
		strict, err := readClaimsStrict(bytes.Clone(data), scopeClaims)
		if err != nil {
			t.Fatalf("fast path took %q, which jsontext refuses: %v", data, err)
		}
		if !reflect.DeepEqual(c, strict) {
			t.Fatalf("claims of %q with scope claims %v:\nfast   %+v\nstrict %+v", data, scopeClaims, c, strict)
		}
	}
}

// TestFlatAgreesWithStrict runs the fuzz property over the corners of
// JSON's grammar and of UTF-8, and over every two-byte sequence inside a
// string, a name and a number, so that CI checks the agreement on more
// than the seeds. (testdata/fuzz/FuzzFlatScan holds a fuzzing run's
// corpus, which go test runs too.)
func TestFlatAgreesWithStrict(t *testing.T) {
	for _, data := range []string{
		`{"exp":-0}`, `{"exp":1E5}`, `{"exp":1e-0}`, `{"exp":0e0}`, `{"exp":01}`, `{"exp":00}`, `{"exp":1e400}`,
		`{"exp":-1e400}`, `{"exp":1e-400}`, `{"exp":4.9e-324}`, `{"exp":253402300799.9999999}`,
		`{"exp":253402300800}`, `{"exp":123456789012345678901234567890}`, `{"iat":true,"nbf":null,"exp":"1"}`,
		"{\"sub\":\"\x7f\"}", "{\"sub\":\"\uFFFD\"}", "{\"sub\":\"\uFFFE\"}", "{\"sub\":\"\uFEFF\"}",
		"{\"sub\":\"\U0010FFFF\"}", "{\"sub\":\"\xf4\x90\x80\x80\"}", "{\"sub\":\"\xc0\xaf\"}",
		"{\"sub\":\"\xed\xb0\x80\"}", "{\"sub\":\"\u2028\"}", "{\"sub\":\"\xf0\x9f\x92\"}",
		`{"sub":""}`, `{"":""}`, `{"aud":["a,b"],"permissions":["a,b","c"]}`, `{"aud":["a",1,null]}`,
		`{"permissions":[]}`, `{"permissions":"a b"}`, `{"scope":"a  b ","scp":["c"],"permissions":["d"]}`,
		"\ufeff{}", "{}\ufeff", "\f{}", "{}\x00", `{"a":1}{"a":1}`, `{"sub":"a","sub":"a"}`,
		`{"alg":"HS256","alg":"RS256"}`, `{"alg":"RS256","kid":""}`, `{"alg":"none","crit":null,"b64":true}`,
	} {
		expectFlatAgrees(t, []byte(data))
	}
	for _, template := range []string{`{"sub":"%s"}`, `{"%s":"v"}`, `{"exp":1%s}`} {
		prefix, suffix, _ := strings.Cut(template, "%s")
		for pair := range 1 << 16 {
			data := []byte(prefix + string([]byte{byte(pair >> 8), byte(pair)}) + suffix)
			expectFlatAgrees(t, data)
		}
	}
}
