package soloauth

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/solo-one/caddy-solo-auth/internal/jwt"
	tu "github.com/solo-one/caddy-solo-auth/internal/testutil"
)

// fuzzVerifier has one secret and one RSA key; the fuzz properties check
// acceptance against them with go-jose, independently of the verifier's
// own signature check.
func fuzzVerifier() *jwt.Verifier {
	return &jwt.Verifier{
		Secrets: [][]byte{[]byte(tu.SecretA)},
		RSAKeys: staticKeys{"k1": &tu.RSAKey.PublicKey},
		Leeway:  30 * time.Second,
	}
}

// signedByConfiguredKey asks go-jose, the reference JOSE implementation,
// whether a configured key signed the token: the fuzz oracle for "accepted
// only if signed", independent of the verifier's own signature check.
func signedByConfiguredKey(token string) bool {
	jws, err := jose.ParseSignedCompact(token, []jose.SignatureAlgorithm{jose.HS256, jose.RS256})
	if err != nil || len(jws.Signatures) != 1 {
		return false
	}
	switch jose.SignatureAlgorithm(jws.Signatures[0].Protected.Algorithm) {
	case jose.HS256:
		_, err = jws.Verify([]byte(tu.SecretA))
	case jose.RS256:
		_, err = jws.Verify(&tu.RSAKey.PublicKey)
	default:
		return false
	}
	return err == nil
}

func addVectorSeeds(f *testing.F) {
	var selection struct {
		Cases []struct {
			JWS string `json:"jws"`
		} `json:"cases"`
	}
	for _, path := range []string{"internal/jwt/testdata/vectors/wycheproof_jws_selection.json", "internal/jwt/testdata/vectors/wycheproof_jwk_selection.json"} {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		if err := json.Unmarshal(data, &selection); err != nil {
			f.Fatal(err)
		}
		for _, c := range selection.Cases {
			f.Add(c.JWS)
		}
	}
	claims := tu.SDKClaims("alice", "a")
	f.Add(tu.HS256(tu.SecretA, claims))
	f.Add(tu.RS256(tu.RSAKey, "k1", claims))
	f.Add(tu.RawHS256(`{"alg":"HS256","crit":["b64"],"b64":false}`, `{"sub":"a","exp":9999999999}`, tu.SecretA))
	f.Add(tu.RawHS256(`{"alg":"HS256"}`, `{"sub":"a","exp":9999999999,"sub":"b"}`, tu.SecretA))
	f.Add(tu.Sign(jose.SigningKey{Algorithm: jose.HS256, Key: []byte(tu.SecretA)}, claims, map[jose.HeaderKey]any{"kid": "../../etc/passwd"}))
	f.Add("")
	f.Add("..")
	f.Add("a.b.c")
}

// FuzzVerify: no panic, no hang, and no token accepted unless a
// configured key signed it.
func FuzzVerify(f *testing.F) {
	addVectorSeeds(f)
	v := fuzzVerifier()
	f.Fuzz(func(t *testing.T, token string) {
		id, err := v.Verify(token)
		if err == nil && !signedByConfiguredKey(token) {
			t.Fatalf("accepted a token no configured key signed: %q (sub %q)", token, id.Subject)
		}
		if err == nil && (id.Subject == "" || id.ExpiresAt.IsZero()) {
			t.Fatalf("accepted without sub or exp: %q", token)
		}
	})
}

// FuzzBearerToken: extraction from any header values never panics and
// returns a token only from a single Bearer header, trimmed and non-empty.
func FuzzBearerToken(f *testing.F) {
	for _, s := range []string{"Bearer abc", "bearer  x.y.z ", "Basic Zm9v", "Bearer", "", "Bearer \t", "BEARER a b"} {
		f.Add(s, "")
		f.Add(s, "Bearer second")
	}
	f.Fuzz(func(t *testing.T, first, second string) {
		h := http.Header{}
		h["Authorization"] = []string{first}
		if second != "" {
			h["Authorization"] = append(h["Authorization"], second)
		}
		token, problem := bearerToken(h)
		switch problem {
		case tokenPresent:
			if second != "" {
				t.Fatal("token taken from one of two Authorization headers")
			}
			if token == "" || token != strings.Trim(token, " ") || !strings.EqualFold(first[:6], "bearer") {
				t.Fatalf("token %q from %q", token, first)
			}
		case tokenInvalid:
			if second == "" {
				t.Fatal("one header reported as several")
			}
		}
	})
}

// FuzzCaddyfile: parsing a solo_auth block never panics, and a config
// that adapts always has a key source and well-formed scopes.
func FuzzCaddyfile(f *testing.F) {
	for _, s := range []string{
		"solo_auth admin {\n\tsecret " + tu.SecretA + "\n}",
		"solo_auth /api/* a b {\n\tjwks_url http://127.0.0.1/x\n\tleeway 5s\n\tscopes c\n}",
		"solo_auth {\n\tsecret {env.X}\n\treport_only\n\tallow_cors_preflight\n\tscope_claims permissions scope\n}",
		"solo_auth {\n\tworkos_client_id c\n\tissuer a b\n\taudience c\n\tjwks_refresh 1h\n}",
		"solo_auth {\n\tsecret\n}",
		"solo_auth @m x {\n}",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, block string) {
		out, err := adapt(t, ":80 {\n"+block+"\n}")
		if err != nil {
			return
		}
		for _, h := range handlers(t, out) {
			_, secrets := h["secrets"]
			_, client := h["workos_client_id"]
			_, url := h["jwks_url"]
			if !secrets && !client && !url {
				t.Fatalf("adapted without a key source: %s", out)
			}
			scopes, _ := h["scopes"].([]any)
			for _, s := range scopes {
				if err := checkScopeToken(s.(string)); err != nil {
					t.Fatalf("adapted a bad scope: %v", err)
				}
			}
		}
	})
}

// FuzzTokenPlaces: removing the token's query parameter and cookie never
// panics, leaves none of it behind, and keeps everything else as sent,
// in order.
func FuzzTokenPlaces(f *testing.F) {
	for _, s := range [][2]string{
		{"a=1&access_token=x.y.z&b=%zz&c=", "a=1; tok=x.y.z; b=2"},
		{"access_token=&access_token=x", "tok=; tok=x"},
		{"access%5Ftoken=x&&", `tok="x";;=;`},
		{"%zz=1&access_token=%", " tok = x ;a"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, rawQuery, cookieLine string) {
		kept, values, _ := withoutParam(rawQuery, "access_token")
		var others []string
		for _, pair := range strings.Split(rawQuery, "&") {
			key, _, _ := strings.Cut(pair, "=")
			if name, err := url.QueryUnescape(key); err != nil || name != "access_token" {
				others = append(others, pair)
			}
		}
		if values == nil {
			if kept != rawQuery {
				t.Fatalf("nothing removed, yet %q became %q", rawQuery, kept)
			}
		} else if got := strings.Split(kept, "&"); strings.Join(got, "&") != strings.Join(others, "&") {
			t.Fatalf("%q kept %q, want the other pairs %q", rawQuery, kept, others)
		}

		keptLine, found := withoutCookie(cookieLine, "tok")
		for _, pair := range strings.Split(keptLine, ";") {
			if name, _, _ := strings.Cut(strings.TrimSpace(pair), "="); strings.TrimSpace(name) == "tok" && found != nil {
				t.Fatalf("cookie left in %q (from %q)", keptLine, cookieLine)
			}
		}
		if found == nil && keptLine != cookieLine {
			t.Fatalf("nothing removed, yet %q became %q", cookieLine, keptLine)
		}
	})
}
