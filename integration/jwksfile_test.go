package integration

import (
	"crypto/rsa"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"

	tu "github.com/solo-one/caddy-solo-auth/internal/testutil"
)

// writeJWKSFile writes a JWK set of one key under kid to dir/jwks.json
// (replacing it) and returns its path.
func writeJWKSFile(t *testing.T, dir, kid string, key *rsa.PublicKey) string {
	t.Helper()
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key, KeyID: kid, Algorithm: "RS256", Use: "sig"}}}
	data, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "jwks.json")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func fileOnlySpec(path, answer string) spec {
	return spec{Site: `	solo_auth {
		jwks_file ` + path + `
	}
	respond "` + answer + ` {solo.token_type}"`}
}

// postLoad posts a Caddyfile to the admin API's /load, as `caddy reload`
// does (force: as `caddy reload --force`, which loads even an unchanged
// config), and returns the status and body.
func postLoad(t *testing.T, p *caddyProc, s spec, force bool) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, p.Admin+"/load", strings.NewReader(s.caddyfile(p.sitePort, p.adminPort, p.Dir)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "text/caddyfile")
	if force {
		req.Header.Set("Cache-Control", "must-revalidate")
	}
	req.Close = true
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	client.CloseIdleConnections()
	return resp.StatusCode, string(body)
}

// TestJWKSFileStartAndReload: a route with jwks_file alone verifies with
// the file read at start-up; after the file is edited, a reload reads it
// again (the new key passes, the removed one is refused), also when the
// Caddyfile is unchanged and the reload is forced; a reload with a bad
// file fails and the running config keeps its keys.
func TestJWKSFileStartAndReload(t *testing.T) {
	t.Parallel()
	fileKeys()
	dir := t.TempDir()
	path := writeJWKSFile(t, dir, "file_1", &fileKey.PublicKey)
	c := startCaddy(t, fileOnlySpec(path, "first"))
	expectPass(t, c.get(t, "/", bearer(workosToken(fileKey, "file_1"))), "first workos")
	// A route with only jwks_file has no secret: SDK tokens are invalid.
	expectRefusal(t, c.get(t, "/", bearer(tu.HS256(secret, tu.SDKClaims("u")))), invalidToken)
	expectRefusal(t, c.get(t, "/", bearer(workosToken(wkKey1, "key_1"))), invalidToken)
	if sets := adminKeySets(t, c); len(sets) != 1 || sets[0].Source != "file" || sets[0].File != path {
		t.Fatalf("admin key sets %+v", sets)
	}
	if !strings.Contains(c.Logs(), `"url":"file://`+path+`","source":"file"`) {
		t.Errorf("no log of the file set in use:\n%s", lastLines(c.Logs(), 20))
	}

	// Edited file, edited Caddyfile: `caddy reload`.
	writeJWKSFile(t, dir, "file_2", &wkKey2.PublicKey)
	c.reload(t, fileOnlySpec(path, "second"))
	expectPass(t, c.get(t, "/", bearer(workosToken(wkKey2, "file_2"))), "second workos")
	expectRefusal(t, c.get(t, "/", bearer(workosToken(fileKey, "file_1"))), invalidToken)
	if sets := adminKeySets(t, c); len(sets) != 1 || strings.Join(sets[0].KIDs, ",") != "file_2" {
		t.Fatalf("admin key sets after reload %+v", sets)
	}

	// Edited file, same Caddyfile: `caddy reload --force`.
	writeJWKSFile(t, dir, "file_1", &fileKey.PublicKey)
	if status, body := postLoad(t, c, fileOnlySpec(path, "second"), true); status != 200 {
		t.Fatalf("forced reload: %d %s", status, body)
	}
	expectPass(t, c.get(t, "/", bearer(workosToken(fileKey, "file_1"))), "second workos")
	expectRefusal(t, c.get(t, "/", bearer(workosToken(wkKey2, "file_2"))), invalidToken)

	// A bad file: the reload fails, naming jwks_file and the path, and
	// the running config goes on with the keys it read.
	if err := os.WriteFile(path, []byte(`{"keys":[]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	status, body := postLoad(t, c, fileOnlySpec(path, "third"), false)
	if status == 200 || !strings.Contains(body, "jwks_file: "+path+": no usable key") {
		t.Fatalf("reload with a bad file: %d %s", status, body)
	}
	// The failed load left the running config in place.
	expectPass(t, c.get(t, "/", bearer(workosToken(fileKey, "file_1"))), "second workos")
}

// TestJWKSFileBadStopsCaddy: a jwks_file that cannot serve is a config
// error at start-up naming jwks_file and the file.
func TestJWKSFileBadStopsCaddy(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.json")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	notSet := filepath.Join(dir, "text.json")
	if err := os.WriteFile(notSet, []byte("<html>"), 0o600); err != nil {
		t.Fatal(err)
	}
	huge := filepath.Join(dir, "huge.json")
	if err := os.WriteFile(huge, []byte(`{"keys":[],"pad":"`+strings.Repeat("x", 2<<20)+`"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	loop := filepath.Join(dir, "loop.json")
	if err := os.Symlink(loop, loop); err != nil {
		t.Fatal(err)
	}
	// A JWK set whose one key is refused (a symmetric key).
	noUsable := filepath.Join(dir, "oct.json")
	if err := os.WriteFile(noUsable, []byte(`{"keys":[{"kty":"oct","kid":"s","k":"c2VjcmV0"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ path, want string }{
		{dir, "is a directory"},
		{noUsable, "no usable key (1 skipped: kid "},
		{empty, "empty file"},
		{notSet, "not a JWK set"},
		{huge, "over the 1048576-byte limit"},
		{loop, "too many levels of symbolic links"},
		{filepath.Join(dir, "missing.json"), "no such file or directory"},
	} {
		out := runCaddyExpectFailure(t, spec{Site: `	solo_auth {
		secret ` + secret + `
		jwks_file ` + tt.path + `
	}
	respond ok`})
		if !strings.Contains(out, "jwks_file: "+tt.path+": ") || !strings.Contains(out, tt.want) {
			t.Errorf("%s: output lacks the error:\n%s", tt.path, lastLines(out, 5))
		}
	}
}
