package jwt

import (
	"testing"

	tu "github.com/solo-one/caddy-solo-auth/internal/testutil"
)

// TestIsCompactJWS: the one shape check the verifier and the revoke
// command share, at the stricter of their two former rules.
func TestIsCompactJWS(t *testing.T) {
	good := tu.HS256(tu.SecretA, tu.SDKClaims("alice"))
	for _, tt := range []struct {
		name  string
		token string
		want  bool
	}{
		{"a real token", good, true},
		{"minimal", "eA.eA.eA", true},
		{"empty payload", "eA..eA", false},
		{"empty header", ".eA.eA", false},
		{"empty signature", "eA.eA.", false},
		{"two segments", "eA.eA", false},
		{"four segments", "eA.eA.eA.eA", false},
		{"padding", "eA==.eA.eA", false},
		{"standard base64 +", "e+.eA.eA", false},
		{"standard base64 /", "e/.eA.eA", false},
		{"CR inside", "eA.e\rA.eA", false},
		{"LF at the end", good + "\n", false},
		{"space", "eA. eA.eA", false},
		{"length 1 mod 4", "eAAAA.eA.eA", false},
		{"non-canonical last character", "eB.eA.eA", false},
		{"not ASCII", "eé.eA.eA", false},
	} {
		if got := IsCompactJWS(tt.token); got != tt.want {
			t.Errorf("%s: IsCompactJWS = %v, want %v", tt.name, got, tt.want)
		}
	}
}
