package soloauth

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"

	tu "github.com/solo-one/caddy-solo-auth/internal/testutil"
)

// TestInspectDecides: `caddy solo-auth inspect` shows the header and
// claims, never the signature, and the answer of a route with the given
// scopes and token kinds.
func TestInspectDecides(t *testing.T) {
	t.Setenv("SOLO_SDK_SECRET", tu.SecretA)
	token := tu.HS256(tu.SecretA, tu.SDKClaims("alice", "read"))
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

// TestInspectJWKSFile: `inspect --jwks-file` verifies RS256 tokens against
// a local JWK set read under the key-set rules; a bad file is an error
// naming it.
func TestInspectJWKSFile(t *testing.T) {
	t.Setenv("SOLO_SDK_SECRET", "")
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	set := func(key any, kid string) []byte {
		b, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key, KeyID: kid}}})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	good := write("good.json", set(&tu.RSAKey.PublicKey, "dev-1"))
	claims := tu.SDKClaims("alice", "read")
	token := tu.RS256(tu.RSAKey, "dev-1", claims)

	tests := []struct {
		name, file, token string
		scopes            string
		want              string
	}{
		{"pass", good, token, "", "decision: pass: sub=alice token_type=workos permissions=read"},
		{"missing scope", good, token, "admin", "decision: 403 Not enough permissions (missing admin)"},
		{"forged: another key, same kid", good, tu.RS256(tu.RSAKey2, "dev-1", claims), "", "decision: 401 Invalid token (bad signature)"},
		{"unknown kid", good, tu.RS256(tu.RSAKey, "dev-2", claims), "", "decision: 401 Invalid token (unknown kid"},
		{"SDK token without a secret", good, tu.HS256(tu.SecretA, claims), "", "decision: 401 Invalid token (HS256 token but no secret configured)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := run(inspectCommand(), "--jwks-file", tt.file, "--scopes", tt.scopes, tt.token)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out, tt.want) {
				t.Fatalf("output:\n%s\nwant a line with %q", out, tt.want)
			}
		})
	}

	huge := append([]byte(`{"keys":[],"pad":"`), bytes.Repeat([]byte("x"), 2<<20)...)
	bad := []struct {
		name, file, want string
	}{
		{"missing", filepath.Join(dir, "none.json"), "no such file"},
		{"a directory", dir, "is a directory"},
		{"empty", write("empty.json", nil), "empty file"},
		{"2 MiB", write("huge.json", append(huge, `"}`...)), "over the 1048576-byte limit"},
		{"not JSON", write("text.json", []byte("hello")), "not a JWK set"},
		{"no usable key", write("small.json", set(&tu.MustRSA(1024).PublicKey, "small")), `no usable key (1 skipped: kid "small": RSA key of 1024 bits`},
		{"private key", write("private.json", set(tu.RSAKey, "priv")), "no usable key"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := run(inspectCommand(), "--jwks-file", tt.file, token)
			if err == nil || !strings.Contains(err.Error(), "--jwks-file") || !strings.Contains(err.Error(), tt.file) ||
				!strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one naming --jwks-file, %s and %q", err, tt.file, tt.want)
			}
		})
	}
	if _, err := run(inspectCommand(), "--jwks-file", good, "--jwks-url", "http://127.0.0.1:1/", token); err == nil ||
		!strings.Contains(err.Error(), "--jwks-file") {
		t.Fatalf("--jwks-file with --jwks-url: %v", err)
	}
	// The file is the route's WorkOS key source, as for token_types.
	out, err := run(inspectCommand(), "--jwks-file", good, "--token-types", "workos", token)
	if err != nil || !strings.Contains(out, "decision: pass: sub=alice token_type=workos") {
		t.Fatalf("token_types workos: %v\n%s", err, out)
	}
}
