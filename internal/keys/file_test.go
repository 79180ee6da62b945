package keys

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	tu "github.com/solo-one/caddy-solo-auth/internal/testutil"

	"go.uber.org/zap"
)

func TestReadJWKSFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := tu.JWKS(tu.JWK(t, &tu.RSAKey.PublicKey, "k1", nil), tu.JWK(t, &tu.RSAKey2.PublicKey, "k2", nil))
	loop := filepath.Join(dir, "loop")
	if err := os.Symlink(loop, loop); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	// 2 MiB of valid JSON: a JWK set padded with whitespace.
	huge := write("huge.json", good[:len(good)-1]+strings.Repeat(" ", 2<<20)+"}")
	small := tu.MustRSA(1024)
	tests := []struct {
		name string
		path string
		want string // in the error after "<path>: "; empty: no error
	}{
		{"good", write("good.json", good), ""},
		{"good, with a UTF-8 byte order mark", write("bom.json", "\ufeff"+good), ""},
		{"one usable key of two", write("mixed.json", tu.JWKS(tu.JWK(t, &small.PublicKey, "weak", nil), tu.JWK(t, &tu.RSAKey.PublicKey, "k1", nil))), ""},
		{"missing", filepath.Join(dir, "nope.json"), "no such file or directory"},
		{"a directory", dir, "is a directory"},
		{"empty", write("empty.json", ""), "empty file"},
		{"blank", write("blank.json", " \n\t"), "empty file"},
		{"2 MiB of JSON", huge, "over the 1048576-byte limit"},
		{"a symlink loop", loop, "too many levels of symbolic links"},
		{"a pipe", fifo, "not a regular file"},
		{"not JSON", write("text.json", "hello"), "not a JWK set"},
		{"JSON but not a JWK set", write("obj.json", `{"kty":"RSA"}`), "not a JWK set"},
		{"no usable key", write("weak.json", tu.JWKS(tu.JWK(t, &small.PublicKey, "weak", nil))), "no usable key (1 skipped"},
		{"only a symmetric key", write("oct.json", `{"keys":[{"kty":"oct","kid":"s","k":"c2VjcmV0"}]}`), "no usable key"},
		{"a shared kid", write("dup.json", tu.JWKS(tu.JWK(t, &tu.RSAKey.PublicKey, "k", nil), tu.JWK(t, &tu.RSAKey2.PublicKey, "k", nil))), "no usable key"},
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := ReadFile(tt.path, now, zap.NewNop())
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if f.path != tt.path || f.shown != "file://"+tt.path || f.table.source != sourceFile ||
					!f.table.fetchedAt.Equal(now) || len(f.table.keys) == 0 || f.digest == "" {
					t.Fatalf("file set %+v", f)
				}
				return
			}
			if err == nil {
				t.Fatalf("read without error")
			}
			prefix := tt.path + ": "
			if !strings.HasPrefix(err.Error(), prefix) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q, want %q then %q", err, prefix, tt.want)
			}
			if strings.Count(err.Error(), tt.path) != 1 {
				t.Errorf("error names the path more than once: %q", err)
			}
		})
	}
}

// TestJWKSFileIdentity: the same path and contents make the same set in
// the pools, a changed file another one, and a relative path is shown
// absolute.
func TestJWKSFileIdentity(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	p := filepath.Join(dir, "keys.json")
	read := func(body string) *File {
		t.Helper()
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		f, err := ReadFile("keys.json", time.Now(), zap.NewNop())
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	one := read(tu.JWKS(tu.JWK(t, &tu.RSAKey.PublicKey, "k1", nil)))
	again := read(tu.JWKS(tu.JWK(t, &tu.RSAKey.PublicKey, "k1", nil)))
	other := read(tu.JWKS(tu.JWK(t, &tu.RSAKey2.PublicKey, "k1", nil)))
	if one.path != p {
		t.Errorf("path %q, want %q", one.path, p)
	}
	if one.ID() != again.ID() || one.ID() == other.ID() {
		t.Errorf("ids: same contents differ (%v) or changed contents match (%v)", one.ID() != again.ID(), one.ID() == other.ID())
	}
}
