package soloauth

import (
	"bytes"
	"strings"
	"testing"

	tu "github.com/solo-one/caddy-solo-auth/internal/testutil"
)

// TestInspectDecides: `caddy solo-auth inspect` shows the header and
// claims, never the signature, and the answer of a route with the given
// scopes and token kinds.
func TestInspectDecides(t *testing.T) {
	t.Setenv("SOLO_SDK_SECRET", secretA)
	token := tu.HS256(secretA, tu.SDKClaims("alice", "read"))
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"pass", nil, "decision: pass: sub=alice token_type=sdk permissions=read"},
		{"missing scope", []string{"--scopes", "read,admin"}, "decision: 403 Not enough permissions (missing admin)"},
		{"sdk tokens allowed", []string{"--token-types", "sdk"}, "decision: pass: sub=alice"},
		{"sdk tokens refused", []string{"--token-types", "workos", "--jwks-url", "http://127.0.0.1:1/jwks"}, "decision: 401 Invalid token (HS256 token but no secret configured)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := inspectCommand()
			var out bytes.Buffer
			cmd.SetOut(&out)
			cmd.SetErr(&out)
			cmd.SetArgs(append(tt.args, token))
			if err := cmd.Execute(); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out.String(), tt.want) {
				t.Fatalf("output:\n%s\nwant a line with %q", out.String(), tt.want)
			}
			if sig := token[strings.LastIndexByte(token, '.')+1:]; strings.Contains(out.String(), sig) {
				t.Fatal("the signature was printed")
			}
		})
	}
	cmd := inspectCommand()
	cmd.SetOut(&bytes.Buffer{})
	cmd.SetErr(&bytes.Buffer{})
	cmd.SetArgs([]string{"--token-types", "workos", token})
	if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), "token_types: workos tokens need") {
		t.Fatalf("workos without a key set: %v", err)
	}
}
