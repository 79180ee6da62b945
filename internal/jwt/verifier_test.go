package jwt

import (
	"context"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	tu "github.com/solo-one/caddy-solo-auth/internal/testutil"
)

type staticKeys map[string]*rsa.PublicKey

func (s staticKeys) RSAKeys(_ context.Context, kid string) (*rsa.PublicKey, []*rsa.PublicKey, error) {
	if k, ok := s[kid]; ok {
		return k, nil, nil
	}
	return nil, nil, ErrUnknownKeyID
}

func (s staticKeys) KeyInUse(kid string, key *rsa.PublicKey) bool { return s[kid] == key }

type unavailableKeys struct{}

func (unavailableKeys) RSAKeys(context.Context, string) (*rsa.PublicKey, []*rsa.PublicKey, error) {
	return nil, nil, ErrKeysUnavailable
}
func (unavailableKeys) KeyInUse(string, *rsa.PublicKey) bool { return false }

func TestVerify(t *testing.T) {
	now := time.Now()
	base := tu.SDKClaims("alice", "templates:read")
	v := &Verifier{
		Secrets: [][]byte{[]byte(tu.SecretA), []byte(tu.SecretB)},
		RSAKeys: staticKeys{"k1": &tu.RSAKey.PublicKey},
		Leeway:  30 * time.Second,
		Now:     func() time.Time { return now },
	}
	hdr := `{"alg":"HS256","typ":"JWT"}`
	okClaims := `{"sub":"alice","exp":` + jsonNum(now.Add(time.Hour).Unix()) + `}`

	tests := []struct {
		name   string
		token  string
		kind   ErrorKind // checked when wantOK is false
		reason string    // substring of the reason
		wantOK bool
	}{
		{name: "valid HS256", token: tu.HS256(tu.SecretA, base), wantOK: true},
		{name: "second secret (rotation)", token: tu.HS256(tu.SecretB, base), wantOK: true},
		{name: "valid RS256", token: tu.RS256(tu.RSAKey, "k1", base), wantOK: true},
		{name: "fractional exp", token: tu.HS256(tu.SecretA, base.With("exp", float64(now.Unix())+3600.5)), wantOK: true},
		{name: "unknown secret", token: tu.HS256("another-secret-that-is-32-bytes-long!", base), reason: "bad signature"},
		{name: "unknown kid", token: tu.RS256(tu.RSAKey, "k2", base), reason: "unknown kid"},
		{name: "RS256 without kid", token: tu.Sign(jose.SigningKey{Algorithm: jose.RS256, Key: tu.RSAKey}, base, nil), reason: "without kid"},
		{name: "HS384", token: tu.Sign(jose.SigningKey{Algorithm: jose.HS384, Key: []byte(tu.SecretA + tu.SecretA)}, base, nil), reason: "alg"},
		{name: "alg none", token: tu.B64(`{"alg":"none"}`) + "." + tu.B64(okClaims) + ".", reason: "malformed"},
		{name: "alg none with signature", token: tu.RawHS256(`{"alg":"none"}`, okClaims, tu.SecretA), reason: "alg"},
		{name: "alg lower case", token: tu.RawHS256(`{"alg":"hs256"}`, okClaims, tu.SecretA), reason: "alg"},
		{name: "alg missing", token: tu.RawHS256(`{"typ":"JWT"}`, okClaims, tu.SecretA), reason: "alg"},
		{name: "crit header", token: tu.RawHS256(`{"alg":"HS256","crit":["exp"],"exp":1}`, okClaims, tu.SecretA), reason: "crit"},
		{name: "b64 header", token: tu.RawHS256(`{"alg":"HS256","b64":true}`, okClaims, tu.SecretA), reason: "b64"},
		{name: "duplicate header key", token: tu.RawHS256(`{"alg":"HS256","alg":"HS256"}`, okClaims, tu.SecretA), reason: "duplicate"},
		{name: "duplicate claim", token: tu.RawHS256(hdr, `{"sub":"alice","sub":"admin","exp":`+jsonNum(now.Add(time.Hour).Unix())+`}`, tu.SecretA), reason: "duplicate"},
		{name: "header not an object", token: tu.RawHS256(`["alg","HS256"]`, okClaims, tu.SecretA), reason: "header"},
		{name: "claims not an object", token: tu.RawHS256(hdr, `"alice"`, tu.SecretA), reason: "claims"},
		{name: "claims trailing data", token: tu.RawHS256(hdr, okClaims+`{}`, tu.SecretA), reason: "claims"},
		{name: "claims invalid UTF-8", token: tu.RawHS256(hdr, `{"sub":"al`+"\xff"+`ice","exp":1}`, tu.SecretA), reason: "claims"},
		{name: "two segments", token: "abc.def", reason: "malformed"},
		{name: "four segments", token: tu.HS256(tu.SecretA, base) + ".x", reason: "malformed"},
		{name: "padding", token: strings.Replace(tu.HS256(tu.SecretA, base), ".", "=.", 1), reason: "malformed"},
		{name: "whitespace", token: " " + tu.HS256(tu.SecretA, base), reason: "malformed"},
		{name: "standard base64", token: strings.Replace(tu.HS256(tu.SecretA, base), "_", "/", 1) + "+", reason: "malformed"},
		{name: "too large", token: tu.HS256(tu.SecretA, base.With("pad", strings.Repeat("x", MaxTokenSize))), reason: "too large"},
		{name: "deep nesting", token: tu.RawHS256(hdr, `{"sub":"a","x":`+strings.Repeat("[", 40)+strings.Repeat("]", 40)+`}`, tu.SecretA), reason: "claims"},
		{name: "missing exp", token: tu.HS256(tu.SecretA, base.With("exp", nil)), reason: "exp"},
		{name: "exp as string", token: tu.HS256(tu.SecretA, base.With("exp", jsonNum(now.Add(time.Hour).Unix()))), reason: "exp"},
		{name: "exp negative", token: tu.HS256(tu.SecretA, base.With("exp", -1)), reason: "exp"},
		{name: "exp huge", token: tu.HS256(tu.SecretA, base.With("exp", 1e300)), reason: "exp"},
		{name: "missing sub", token: tu.HS256(tu.SecretA, base.With("sub", nil)), reason: "sub"},
		{name: "empty sub", token: tu.HS256(tu.SecretA, base.With("sub", "")), reason: "sub"},
		{name: "sub not a string", token: tu.HS256(tu.SecretA, base.With("sub", 42)), reason: "sub"},
		{name: "permissions a string", token: tu.HS256(tu.SecretA, base.With("permissions", "admin")), reason: "scope claim"},
		{name: "permissions with a number", token: tu.HS256(tu.SecretA, base.With("permissions", []any{"a", 1})), reason: "scope claim"},
		{name: "permissions null", token: tu.RawHS256(hdr, `{"sub":"a","exp":`+jsonNum(now.Add(time.Hour).Unix())+`,"permissions":null}`, tu.SecretA), reason: "scope claim"},
		{name: "expired past leeway", token: tu.HS256(tu.SecretA, base.With("exp", now.Add(-31*time.Second).Unix())), kind: KindExpired, reason: "expired"},
		{name: "expired within leeway", token: tu.HS256(tu.SecretA, base.With("exp", now.Add(-29*time.Second).Unix())), wantOK: true},
		{name: "forged and expired", token: tu.HS256("another-secret-that-is-32-bytes-long!", base.With("exp", now.Add(-time.Hour).Unix())), reason: "bad signature"},
		{name: "nbf in the future", token: tu.HS256(tu.SecretA, base.With("nbf", now.Add(time.Minute).Unix())), reason: "nbf"},
		{name: "nbf within leeway", token: tu.HS256(tu.SecretA, base.With("nbf", now.Add(20*time.Second).Unix())), wantOK: true},
		{name: "nbf not a number", token: tu.HS256(tu.SecretA, base.With("nbf", "0")), reason: "nbf"},
		{name: "iat in the future", token: tu.HS256(tu.SecretA, base.With("iat", now.Add(time.Minute).Unix())), reason: "iat"},
		{name: "iat as bool", token: tu.HS256(tu.SecretA, base.With("iat", true)), reason: "iat"},
		{name: "iss not a string", token: tu.HS256(tu.SecretA, base.With("iss", 7)), reason: "iss"},
		{name: "aud not strings", token: tu.HS256(tu.SecretA, base.With("aud", []any{1})), reason: "aud"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := v.Verify(tt.token)
			if tt.wantOK {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if id.Subject != "alice" {
					t.Fatalf("subject %q", id.Subject)
				}
				return
			}
			var verr *VerifyError
			if !errors.As(err, &verr) {
				t.Fatalf("want refusal, got id=%+v err=%v", id, err)
			}
			if verr.Kind != tt.kind {
				t.Errorf("kind %v, want %v (%v)", verr.Kind, tt.kind, verr)
			}
			if !strings.Contains(verr.Error(), tt.reason) {
				t.Errorf("reason %q, want it to mention %q", verr.Error(), tt.reason)
			}
		})
	}
}

func TestVerifyIdentity(t *testing.T) {
	v := &Verifier{Secrets: [][]byte{[]byte(tu.SecretA)}, RSAKeys: staticKeys{"k1": &tu.RSAKey.PublicKey}}
	claims := tu.SDKClaims("alice", "a", "b").With("org_id", "org_1")
	id, err := v.Verify(tu.HS256(tu.SecretA, claims))
	if err != nil {
		t.Fatal(err)
	}
	if id.TokenType != TokenTypeSDK || strings.Join(id.Scopes, " ") != "a b" || id.Claims()["org_id"] != "org_1" {
		t.Errorf("identity %+v", id)
	}
	id, err = v.Verify(tu.RS256(tu.RSAKey, "k1", claims))
	if err != nil {
		t.Fatal(err)
	}
	if id.TokenType != TokenTypeWorkOS || id.KeyID != "k1" {
		t.Errorf("identity %+v", id)
	}
}

func TestVerifyKeySourceMissingOrUnavailable(t *testing.T) {
	claims := tu.SDKClaims("alice")
	tests := []struct {
		name  string
		v     *Verifier
		token string
		kind  ErrorKind
	}{
		{"RS256 with no JWKS", &Verifier{Secrets: [][]byte{[]byte(tu.SecretA)}}, tu.RS256(tu.RSAKey, "k1", claims), KindInvalid},
		{"HS256 with no secret", &Verifier{RSAKeys: staticKeys{}}, tu.HS256(tu.SecretA, claims), KindInvalid},
		{"RS256 before any key set loaded", &Verifier{RSAKeys: unavailableKeys{}}, tu.RS256(tu.RSAKey, "k1", claims), KindUnavailable},
		{"HS256 unaffected by JWKS outage", &Verifier{Secrets: [][]byte{[]byte(tu.SecretA)}, RSAKeys: unavailableKeys{}}, tu.HS256(tu.SecretA, claims), -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.v.Verify(tt.token)
			if tt.kind < 0 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var verr *VerifyError
			if !errors.As(err, &verr) || verr.Kind != tt.kind {
				t.Fatalf("got %v, want kind %v", err, tt.kind)
			}
		})
	}
}

func TestIssuerAudience(t *testing.T) {
	v := &Verifier{Secrets: [][]byte{[]byte(tu.SecretA)}, Issuers: []string{"https://a", "https://b"}, Audiences: []string{"api", "web"}}
	claims := tu.SDKClaims("alice")
	tests := []struct {
		name   string
		claims tu.Claims
		ok     bool
	}{
		{"accepted iss and aud string", claims.With("iss", "https://b", "aud", "web"), true},
		{"aud array containing one", claims.With("iss", "https://a", "aud", []string{"x", "api"}), true},
		{"iss not listed", claims.With("iss", "https://c", "aud", "api"), false},
		{"iss missing", claims.With("aud", "api"), false},
		{"aud not listed", claims.With("iss", "https://a", "aud", []string{"x"}), false},
		{"aud missing", claims.With("iss", "https://a"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := v.Verify(tu.HS256(tu.SecretA, tt.claims))
			if (err == nil) != tt.ok {
				t.Fatalf("err=%v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestScopeClaims(t *testing.T) {
	v := &Verifier{Secrets: [][]byte{[]byte(tu.SecretA)}, ScopeClaims: []string{"permissions", "scope"}}
	id, err := v.Verify(tu.HS256(tu.SecretA, tu.SDKClaims("m2m", "a").With("scope", "b c")))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(id.Scopes, " "); got != "a b c" {
		t.Errorf("scopes %q", got)
	}
	if _, err := v.Verify(tu.HS256(tu.SecretA, tu.SDKClaims("m2m").With("scope", 5))); err == nil {
		t.Error("a scope claim that is a number was accepted")
	}
}

func jsonNum(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// TestExpiryBoundary: RFC 7519 §4.1.4, the current time must be before
// exp (plus leeway); at exactly exp + leeway the token has expired, cached
// or not.
func TestExpiryBoundary(t *testing.T) {
	exp := time.Unix(1_900_000_000, 0)
	tests := []struct {
		name    string
		leeway  time.Duration
		now     time.Time
		expired bool
	}{
		{"one second before exp, no leeway", 0, exp.Add(-time.Second), false},
		{"a nanosecond before exp, no leeway", 0, exp.Add(-time.Nanosecond), false},
		{"at exp, no leeway", 0, exp, true},
		{"within the leeway", 30 * time.Second, exp.Add(30*time.Second - time.Nanosecond), false},
		{"at exp plus leeway", 30 * time.Second, exp.Add(30 * time.Second), true},
	}
	token := tu.HS256(tu.SecretA, tu.SDKClaims("alice").With("exp", exp.Unix()))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, cached := range []bool{false, true} {
				now := tt.now
				v := &Verifier{Secrets: [][]byte{[]byte(tu.SecretA)}, Leeway: tt.leeway, Now: func() time.Time { return now }}
				if cached {
					v.EnableCache(10)
					now = exp.Add(-time.Hour)
					for range 2 { // cached on its second verification
						if _, err := v.Verify(token); err != nil {
							t.Fatal(err)
						}
					}
					if v.cache.len() != 1 {
						t.Fatal("the token was not cached")
					}
					now = tt.now
				}
				hit := false
				v.ObserveCache = func(h bool) { hit = h }
				_, err := v.Verify(token)
				if cached && !tt.expired && !hit {
					t.Errorf("a valid cached token was verified again")
				}
				var verr *VerifyError
				switch {
				case tt.expired && !(errors.As(err, &verr) && verr.Kind == KindExpired):
					t.Errorf("cached=%v: got %v, want expired", cached, err)
				case !tt.expired && err != nil:
					t.Errorf("cached=%v: refused: %v", cached, err)
				}
			}
		})
	}
}

// TestIdentityRevocationClaims: the verifier gives the identity iat, sid
// and jti (what revocations match), on the fast JSON path and on the strict one.
func TestIdentityRevocationClaims(t *testing.T) {
	v := &Verifier{Secrets: [][]byte{[]byte(tu.SecretA)}}
	claims := tu.SDKClaims("alice").With("iat", 1767225600.75, "sid", "session_1", "jti", "jti_1")
	for name, token := range map[string]string{
		"fast":   tu.HS256(tu.SecretA, claims),
		"strict": tu.HS256(tu.SecretA, claims.With("nested", map[string]any{"a": 1})), // a nested object takes the strict path
	} {
		t.Run(name, func(t *testing.T) {
			id, err := v.Verify(token)
			if err != nil {
				t.Fatal(err)
			}
			if !id.HasIssuedAt || id.IssuedAt.Unix() != 1767225600 || id.SessionID != "session_1" || id.TokenID != "jti_1" {
				t.Errorf("got iat %v (%v) sid %q jti %q", id.IssuedAt, id.HasIssuedAt, id.SessionID, id.TokenID)
			}
		})
	}
	id, err := v.Verify(tu.HS256(tu.SecretA, claims.With("iat", nil, "sid", 7, "jti", nil)))
	if err != nil {
		t.Fatal(err)
	}
	if id.HasIssuedAt || id.SessionID != "" || id.TokenID != "" {
		t.Errorf("absent or non-string claims read as iat %v sid %q jti %q", id.HasIssuedAt, id.SessionID, id.TokenID)
	}
}

// TestIdentityTokenSHA256: an identity's token hash is the SHA-256 of the
// compact token, computed on first use without allocating, then kept.
func TestIdentityTokenSHA256(t *testing.T) {
	v := &Verifier{Secrets: [][]byte{[]byte(tu.SecretA)}}
	token := tu.HS256(tu.SecretA, tu.SDKClaims("alice"))
	id, err := v.Verify(token)
	if err != nil {
		t.Fatal(err)
	}
	if id.hash != ([32]byte{}) {
		t.Fatal("hashed before first use")
	}
	if n := testing.AllocsPerRun(10, func() { id.TokenSHA256() }); n != 0 {
		t.Errorf("%v allocations", n)
	}
	if id.TokenSHA256() != sha256.Sum256([]byte(token)) || id.hash != sha256.Sum256([]byte(token)) {
		t.Error("not the token's SHA-256, or not kept")
	}
}
