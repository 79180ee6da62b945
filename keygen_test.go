package soloauth

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/solo-one/caddy-solo-auth/internal/keys"
	tu "github.com/solo-one/caddy-solo-auth/internal/testutil"

	"github.com/spf13/cobra"
)

// run executes a command with args and returns what it printed.
func run(cmd *cobra.Command, args ...string) (string, error) {
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

// keygenIn runs keygen for kid into dir/dev.key and dir/dev.json.
func keygenIn(t *testing.T, dir, kid string, extra ...string) (keyPath, jwksPath string, err error) {
	t.Helper()
	keyPath, jwksPath = filepath.Join(dir, "dev.key"), filepath.Join(dir, "dev.json")
	_, err = run(keygenCommand(), append([]string{"--kid", kid, "--key", keyPath, "--jwks", jwksPath}, extra...)...)
	return keyPath, jwksPath, err
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestKeygenWritesPair: keygen writes a PKCS#8 RSA-2048 key with mode
// 0600 and a JWK set with only its public half, which Parse uses.
func TestKeygenWritesPair(t *testing.T) {
	dir := t.TempDir()
	keyPath, jwksPath, err := keygenIn(t, dir, "dev-1")
	if err != nil {
		t.Fatal(err)
	}
	if got := dirNames(t, dir); !slices.Equal(got, []string{"dev.json", "dev.key"}) {
		t.Fatalf("files %q, want exactly the two", got)
	}
	if fi, _ := os.Stat(keyPath); fi.Mode().Perm() != 0o600 {
		t.Errorf("key mode %v, want 0600", fi.Mode().Perm())
	}
	block, _ := pem.Decode(mustRead(t, keyPath))
	if block == nil || block.Type != "PRIVATE KEY" {
		t.Fatalf("key file is not a PEM PRIVATE KEY: %+v", block)
	}
	if _, err := x509.ParsePKCS8PrivateKey(block.Bytes); err != nil {
		t.Fatalf("not PKCS#8: %v", err)
	}
	key, err := loadRSAPrivateKey(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	if key.N.BitLen() != 2048 {
		t.Errorf("%d bits, want 2048", key.N.BitLen())
	}
	raw := mustRead(t, jwksPath)
	var set struct{ Keys []map[string]any }
	if err := json.Unmarshal(raw, &set); err != nil || len(set.Keys) != 1 {
		t.Fatalf("JWK set %s: %v", raw, err)
	}
	members := set.Keys[0]
	for name, want := range map[string]string{"kty": "RSA", "kid": "dev-1", "alg": "RS256", "use": "sig", "e": "AQAB"} {
		if members[name] != want {
			t.Errorf("%s = %v, want %q", name, members[name], want)
		}
	}
	for _, private := range []string{"d", "p", "q", "dp", "dq", "qi"} {
		if _, ok := members[private]; ok {
			t.Errorf("the JWK set holds the private member %q", private)
		}
	}
	keys, skipped, err := keys.Parse(raw)
	if err != nil || len(skipped) != 0 || !key.PublicKey.Equal(keys["dev-1"]) {
		t.Fatalf("keys.Parse: keys %v, skipped %v, err %v", keys, skipped, err)
	}
}

// TestKeygenKeepsExistingFiles: an existing file, either one, is kept and
// nothing is written without --force; --force replaces both.
func TestKeygenKeepsExistingFiles(t *testing.T) {
	for _, existing := range [][]string{{"dev.key"}, {"dev.json"}, {"dev.key", "dev.json"}} {
		t.Run(strings.Join(existing, "+"), func(t *testing.T) {
			dir := t.TempDir()
			for _, name := range existing {
				if err := os.WriteFile(filepath.Join(dir, name), []byte("old "+name), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			_, _, err := keygenIn(t, dir, "dev-1")
			if err == nil || !strings.Contains(err.Error(), existing[0]) || !strings.Contains(err.Error(), "--force") {
				t.Fatalf("err = %v, want one naming %s and --force", err, existing[0])
			}
			if got := dirNames(t, dir); !slices.Equal(got, slices.Sorted(slices.Values(existing))) {
				t.Fatalf("files after the refusal: %q, want only %q", got, existing)
			}
			for _, name := range existing {
				if got := string(mustRead(t, filepath.Join(dir, name))); got != "old "+name {
					t.Fatalf("%s changed to %q", name, got)
				}
			}
			keyPath, jwksPath, err := keygenIn(t, dir, "dev-2", "--force")
			if err != nil {
				t.Fatal(err)
			}
			if got := dirNames(t, dir); !slices.Equal(got, []string{"dev.json", "dev.key"}) {
				t.Fatalf("files after --force: %q", got)
			}
			if fi, _ := os.Stat(keyPath); fi.Mode().Perm() != 0o600 {
				t.Errorf("replaced key mode %v, want 0600", fi.Mode().Perm())
			}
			key, err := loadRSAPrivateKey(keyPath)
			if err != nil {
				t.Fatal(err)
			}
			keys, _, _ := keys.Parse(mustRead(t, jwksPath))
			if !key.PublicKey.Equal(keys["dev-2"]) {
				t.Fatal("after --force the JWK set does not hold the new key's public half")
			}
		})
	}
}

// TestKeygenNothingHalfWritten: whatever fails, the files are both written
// or neither is, and no temporary file is left.
func TestKeygenNothingHalfWritten(t *testing.T) {
	t.Run("jwks directory missing", func(t *testing.T) {
		dir := t.TempDir()
		_, err := run(keygenCommand(), "--kid", "k", "--key", filepath.Join(dir, "dev.key"),
			"--jwks", filepath.Join(dir, "missing", "dev.json"))
		if err == nil || !strings.Contains(err.Error(), "--jwks") || !strings.Contains(err.Error(), "missing") {
			t.Fatalf("err = %v, want one naming --jwks and its directory", err)
		}
		if got := dirNames(t, dir); len(got) != 0 {
			t.Fatalf("left behind: %q", got)
		}
	})
	t.Run("jwks is a directory, even with --force", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.Mkdir(filepath.Join(dir, "dev.json"), 0o755); err != nil {
			t.Fatal(err)
		}
		_, _, err := keygenIn(t, dir, "k", "--force")
		if err == nil || !strings.Contains(err.Error(), "is a directory") {
			t.Fatalf("err = %v", err)
		}
		if got := dirNames(t, dir); !slices.Equal(got, []string{"dev.json"}) {
			t.Fatalf("left behind: %q", got)
		}
	})
	t.Run("both flags name one file", func(t *testing.T) {
		dir := t.TempDir()
		p := filepath.Join(dir, "x")
		_, err := run(keygenCommand(), "--kid", "k", "--key", p, "--jwks", filepath.Join(dir, ".", "x"))
		if err == nil || !strings.Contains(err.Error(), "same file") {
			t.Fatalf("err = %v", err)
		}
		if got := dirNames(t, dir); len(got) != 0 {
			t.Fatalf("left behind: %q", got)
		}
	})

}

// TestKeygenFlags: each missing flag, and each kid that would not come
// back from a token as written, is an error naming the flag.
func TestKeygenFlags(t *testing.T) {
	dir := t.TempDir()
	key, jwks := filepath.Join(dir, "k"), filepath.Join(dir, "j")
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--key", key, "--jwks", jwks}, "--kid is required"},
		{[]string{"--kid", "k", "--jwks", jwks}, "--key is required"},
		{[]string{"--kid", "k", "--key", key}, "--jwks is required"},
		{[]string{"--kid", "k", "--key", "", "--jwks", jwks}, "--key and --jwks each need a file name"},
		{[]string{"--kid", "", "--key", key, "--jwks", jwks}, "--kid is empty"},
		{[]string{"--kid", "a\nb", "--key", key, "--jwks", jwks}, "--kid holds the control character U+000A"},
		{[]string{"--kid", strings.Repeat("k", 257), "--key", key, "--jwks", jwks}, "--kid is 257 bytes"},
	}
	for _, tt := range tests {
		if _, err := run(keygenCommand(), tt.args...); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: err = %v, want %q", tt.args, err, tt.want)
		}
	}
	if got := dirNames(t, dir); len(got) != 0 {
		t.Fatalf("left behind: %q", got)
	}
}

// writePEM writes a PEM block to a new file and returns its path.
func writePEM(t *testing.T, typ string, der []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestLoadRSAPrivateKey: what token --rs256 accepts as --key, and a clear
// error naming the flag and the file for everything else.
func TestLoadRSAPrivateKey(t *testing.T) {
	pkcs8 := func(k any) []byte {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalECPrivateKey(ec)
	pubDER, _ := x509.MarshalPKIXPublicKey(&tu.RSAKey.PublicKey)
	notPEM := filepath.Join(t.TempDir(), "key.txt")
	os.WriteFile(notPEM, []byte("not a key\n"), 0o600)
	huge := filepath.Join(t.TempDir(), "huge.pem")
	os.WriteFile(huge, bytes.Repeat([]byte("A"), maxKeyFileSize+1), 0o600)

	tests := []struct {
		name, path, want string // want "" = loads tu.RSAKey
	}{
		{"PKCS#8", writePEM(t, "PRIVATE KEY", pkcs8(tu.RSAKey)), ""},
		{"PKCS#1", writePEM(t, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(tu.RSAKey)), ""},
		{"not PEM", notPEM, "not a PEM file"},
		{"EC in PKCS#8", writePEM(t, "PRIVATE KEY", pkcs8(ec)), "holds an EC key"},
		{"EC in SEC 1", writePEM(t, "EC PRIVATE KEY", ecDER), "holds an EC key"},
		{"RSA 1024", writePEM(t, "PRIVATE KEY", pkcs8(tu.MustRSA(1024))), "RSA key of 1024 bits"},
		{"public key", writePEM(t, "PUBLIC KEY", pubDER), "holds a PUBLIC KEY, not a private key"},
		{"encrypted", writePEM(t, "ENCRYPTED PRIVATE KEY", []byte{1}), "encrypted"},
		{"garbage in the block", writePEM(t, "PRIVATE KEY", []byte("junk")), "unreadable PRIVATE KEY"},
		{"too large", huge, "larger than"},
		{"missing", filepath.Join(t.TempDir(), "none.pem"), "no such file"},
		{"a directory", t.TempDir(), "--key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key, err := loadRSAPrivateKey(tt.path)
			if tt.want == "" {
				if err != nil || !key.Equal(tu.RSAKey) {
					t.Fatalf("key %v, err %v", key != nil, err)
				}
				return
			}
			if err == nil {
				t.Fatal("loaded")
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.want) || !strings.Contains(msg, "--key") || !strings.Contains(msg, tt.path) {
				t.Fatalf("err = %q, want one naming --key, %s and %q", msg, tt.path, tt.want)
			}
		})
	}
}
