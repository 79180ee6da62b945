package soloauth

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	tu "github.com/solo-one/caddy-solo-auth/internal/testutil"
)

// TestRevokeLiftID: --lift takes only a revocation id; anything else
// (a path that would make the admin router redirect) is refused before
// any call, naming --lift.
func TestRevokeLiftID(t *testing.T) {
	for _, id := range []string{"../../config/", "3f2a9c0d1e4b5a6c/../../config", "3F2A9C0D1E4B5A6C", "abc", "3f2a9c0d1e4b5a6c?x=1"} {
		f := revokeFlags{lift: id}
		if _, _, _, err := f.request(); err == nil || !strings.Contains(err.Error(), "--lift") {
			t.Errorf("--lift %q: %v, want an error naming --lift", id, err)
		}
	}
	f := revokeFlags{lift: "3f2a9c0d1e4b5a6c"}
	method, uri, _, err := f.request()
	if err != nil || method != http.MethodDelete || uri != "/solo_auth/revocations/3f2a9c0d1e4b5a6c" {
		t.Errorf("--lift of an id: %s %s %v", method, uri, err)
	}
}

// TestRevokeNoRedirect: an answer reached through a redirect (Caddy's
// client follows it as a GET) is not printed.
func TestRevokeNoRedirect(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/config/" {
			_, _ = w.Write([]byte(`{"secret":"s3cr3t"}`))
			return
		}
		http.Redirect(w, r, "/config/", http.StatusMovedPermanently)
	}))
	defer srv.Close()
	var out bytes.Buffer
	cmd := revokeCommand()
	cmd.SetArgs([]string{"--address", strings.TrimPrefix(srv.URL, "http://"), "--lift", "3f2a9c0d1e4b5a6c"})
	cmd.SetOut(&out)
	cmd.SetErr(&bytes.Buffer{})
	err := cmd.Execute()
	if err == nil || !strings.Contains(err.Error(), "redirected") || strings.Contains(out.String(), "s3cr3t") {
		t.Errorf("after a redirect: %v, printed %q", err, out.String())
	}
}

// TestRevokeTokenFile: --token-file takes one compact token, surrounding
// white space ignored; anything else is refused naming --token-file,
// without echoing the file.
func TestRevokeTokenFile(t *testing.T) {
	dir := t.TempDir()
	token := tu.HS256(tu.SecretA, tu.SDKClaims("alice"))
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	if _, err := hashTokenFile(write("good", token+"\n")); err != nil {
		t.Errorf("a token with a newline: %v", err)
	}
	for name, content := range map[string]string{
		"empty":       "",
		"quoted":      `"` + token + `"`,
		"bearer":      "Bearer " + token,
		"two tokens":  token + "\n" + token,
		"two parts":   "abc.def",
		"four parts":  token + ".x",
		"empty part":  "abc..def",
		"json":        `{"token":"` + token + `"}`,
		"padding":     token + "=",
		"inner space": strings.Replace(token, ".", ". ", 1),
	} {
		_, err := hashTokenFile(write(strings.ReplaceAll(name, " ", "_"), content))
		if err == nil || !strings.Contains(err.Error(), "--token-file") || (content != "" && strings.Contains(err.Error(), content)) {
			t.Errorf("%s: %v, want an error naming --token-file, without the content", name, err)
		}
	}
}

// TestRevokeAdminAddress: --address as caddy reload takes it, and as a URL.
func TestRevokeAdminAddress(t *testing.T) {
	for in, want := range map[string]string{
		"":                           "",
		"127.0.0.1:2019":             "127.0.0.1:2019",
		"localhost:2019":             "localhost:2019",
		"http://127.0.0.1:2019":      "127.0.0.1:2019",
		"http://127.0.0.1:2019/":     "127.0.0.1:2019",
		"unix//run/caddy/admin.sock": "unix//run/caddy/admin.sock",
	} {
		if got := adminAddress(in); got != want {
			t.Errorf("adminAddress(%q) = %q, want %q", in, got, want)
		}
	}
}
