package integration

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	tu "github.com/solo-one/caddy-solo-auth/internal/testutil"
)

// revocationSpec: two directives of different key configurations (the
// leeway differs) and a report_only one, each answering with the subject
// and the refusal reason.
func revocationSpec(global string) spec {
	return spec{
		Global: `	solo_auth {
		secret ` + secret + `
` + global + `
	}`,
		Site: `	solo_auth /a/*
	solo_auth /b/* {
		leeway 5s
	}
	solo_auth /r/* {
		report_only
	}
	respond "ok {solo.sub} reason=[{solo.error_reason}]"`,
	}
}

// aliceAt is alice's token issued at iat.
func aliceAt(iat time.Time) string {
	return bearer(tu.HS256(secret, tu.SDKClaims("alice").With("iat", iat.Unix())))
}

// TestRevocationAdminAPI: the contract's admin API on a real Caddy. A sub
// revocation refuses the subject's cached tokens on every directive from
// the moment the POST returns, but not one minted in a later second;
// every bad input is a 400 with a JSON error that changes nothing; lifts
// answer 200, then 404.
func TestRevocationAdminAPI(t *testing.T) {
	t.Parallel()
	c := startCaddy(t, revocationSpec(""))
	alice := aliceAt(time.Now().Add(-time.Minute))
	for range 2 { // cached from the second request on
		expectPass(t, c.get(t, "/a/x", alice), "ok alice reason=[]")
		expectPass(t, c.get(t, "/b/x", alice), "ok alice reason=[]")
	}

	r := c.adminCall(t, http.MethodPost, "/solo_auth/revocations", `{"sub":"alice"}`)
	if r.Status != http.StatusCreated || r.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("POST: %d %v %s", r.Status, r.Header, r.Body)
	}
	var shape map[string]any
	if err := json.Unmarshal([]byte(r.Body), &shape); err != nil {
		t.Fatal(err)
	}
	var members []string
	for k := range shape {
		members = append(members, k)
	}
	slices.Sort(members)
	if !slices.Equal(members, []string{"created", "id", "sub", "until"}) || shape["sub"] != "alice" {
		t.Errorf("201 body %s", r.Body)
	}
	var e revocation
	if err := json.Unmarshal([]byte(r.Body), &e); err != nil {
		t.Fatal(err)
	}
	if d := e.Until.Sub(e.Created); d < 24*time.Hour-time.Second || d > 24*time.Hour+time.Second {
		t.Errorf("until %v after created, want 24h", d)
	}

	expectRefusal(t, c.get(t, "/a/x", alice), invalidToken)
	expectRefusal(t, c.get(t, "/b/x", alice), invalidToken)
	expectPass(t, c.get(t, "/r/x", alice), "ok  reason=[revoked]")
	expectPass(t, c.get(t, "/a/x", bearer(tu.HS256(secret, tu.SDKClaims("bob")))), "ok bob reason=[]")
	later := aliceAt(time.Unix(e.Created.Unix()+1, 0))
	expectPass(t, c.get(t, "/a/x", later), "ok alice reason=[]")
	expectRefusal(t, c.get(t, "/a/x", bearer(tu.HS256(secret, tu.SDKClaims("alice").With("iat", nil)))), invalidToken)

	before := c.revocations(t)
	if len(before.Revocations) != 1 || before.Revocations[0].ID != e.ID || before.Storage["poll"] != "10s" {
		t.Errorf("GET: %+v", before)
	}
	past := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
	far := time.Now().Add(31 * 24 * time.Hour).UTC().Format(time.RFC3339)
	for _, body := range []string{
		`not json`, `{"sub":"x"`, `[]`, `{}`, `{"until":"` + far + `"}`,
		`{"sub":"x","jti":"y"}`, `{"sid":"x","token_sha256":"` + strings.Repeat("a", 64) + `"}`,
		`{"sub":7}`, `{"sid":true}`, `{"jti":["y"]}`, `{"sub":"x","until":1}`,
		`{"sub":"x","note":"leak"}`,
		`{"token_sha256":"abc"}`, `{"token_sha256":"` + strings.Repeat("z", 64) + `"}`,
		`{"sub":"x","until":"` + past + `"}`, `{"sub":"x","until":"` + far + `"}`, `{"sub":"x","until":"soon"}`,
		`{"sub":""}`, `{"sid":""}`, `{"jti":""}`, `{"token_sha256":""}`,
		`{"sub":"x","sid":null}`, `{"sub":"x","until":null}`,
	} {
		expectAdminError(t, "POST "+body, c.adminCall(t, http.MethodPost, "/solo_auth/revocations", body), http.StatusBadRequest)
	}
	if after := c.revocations(t); len(after.Revocations) != 1 || after.Revocations[0] != before.Revocations[0] {
		t.Errorf("bad input changed the list: %+v", after)
	}

	for _, tt := range []struct{ method, path string }{
		{http.MethodPut, "/solo_auth/revocations"}, {http.MethodPatch, "/solo_auth/revocations"},
		{http.MethodGet, "/solo_auth/revocations/" + e.ID},
	} {
		if r := c.adminCall(t, tt.method, tt.path, ""); r.Status != http.StatusMethodNotAllowed {
			t.Errorf("%s %s: %d, want 405", tt.method, tt.path, r.Status)
		}
	}
	expectAdminError(t, "DELETE of an unknown id",
		c.adminCall(t, http.MethodDelete, "/solo_auth/revocations/0123456789abcdef", ""), http.StatusNotFound)
	r = c.adminCall(t, http.MethodDelete, "/solo_auth/revocations/"+e.ID, "")
	var lifted revocation
	if r.Status != http.StatusOK || json.Unmarshal([]byte(r.Body), &lifted) != nil || lifted != e ||
		r.Header.Get("Content-Type") != "application/json" {
		t.Errorf("DELETE: %d %q %s", r.Status, r.Header.Get("Content-Type"), r.Body)
	}
	expectPass(t, c.get(t, "/a/x", alice), "ok alice reason=[]")
	expectAdminError(t, "second DELETE", c.adminCall(t, http.MethodDelete, "/solo_auth/revocations/"+e.ID, ""), http.StatusNotFound)

	// At most 30 days: just under is taken.
	longest := time.Now().Add(30*24*time.Hour - 5*time.Second).UTC().Truncate(time.Second)
	if e := c.revoke(t, `{"jti":"longest","until":"`+longest.Format(time.RFC3339)+`"}`); !e.Until.Equal(longest) {
		t.Errorf("until %v, want %v", e.Until, longest)
	}

	// One token by its hash (either case), a session, a jti.
	bobToken := tu.HS256(secret, tu.SDKClaims("bob").With("sid", "session_1", "jti", "jti_1"))
	other := bearer(tu.HS256(secret, tu.SDKClaims("bob").With("iat", time.Now().Unix()-5)))
	sum := sha256.Sum256([]byte(bobToken))
	hash := c.revoke(t, `{"token_sha256":"`+strings.ToUpper(hex.EncodeToString(sum[:]))+`"}`)
	if hash.TokenSHA256 != hex.EncodeToString(sum[:]) {
		t.Errorf("hash stored as %q", hash.TokenSHA256)
	}
	expectRefusal(t, c.get(t, "/a/x", bearer(bobToken)), invalidToken)
	expectPass(t, c.get(t, "/a/x", other), "ok bob reason=[]")
	c.adminCall(t, http.MethodDelete, "/solo_auth/revocations/"+hash.ID, "")
	for _, body := range []string{`{"sid":"session_1"}`, `{"jti":"jti_1"}`} {
		expectPass(t, c.get(t, "/a/x", bearer(bobToken)), "ok bob reason=[]")
		e := c.revoke(t, body)
		expectRefusal(t, c.get(t, "/b/x", bearer(bobToken)), invalidToken)
		expectPass(t, c.get(t, "/b/x", other), "ok bob reason=[]")
		c.adminCall(t, http.MethodDelete, "/solo_auth/revocations/"+e.ID, "")
	}
	if !strings.Contains(c.Logs(), `"reason":"revoked"`) {
		t.Error("no debug line with reason revoked")
	}
}

// TestRevocationCLI: caddy solo-auth revoke against the running Caddy.
// --token-file sends only the hash: the token never reaches Caddy's logs.
func TestRevocationCLI(t *testing.T) {
	t.Parallel()
	c := startCaddy(t, revocationSpec(""))
	token := tu.HS256(secret, tu.SDKClaims("carol"))
	expectPass(t, c.get(t, "/a/x", bearer(token)), "ok carol reason=[]")
	file := filepath.Join(t.TempDir(), "leaked.jwt")
	if err := os.WriteFile(file, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := c.revokeCLI(t, "--token-file", file)
	if err != nil {
		t.Fatalf("revoke --token-file: %v\n%s", err, out)
	}
	sum := sha256.Sum256([]byte(token))
	var byHash revocation
	if err := json.Unmarshal([]byte(out), &byHash); err != nil || byHash.TokenSHA256 != hex.EncodeToString(sum[:]) {
		t.Fatalf("revoke --token-file printed %q (%v)", out, err)
	}
	expectRefusal(t, c.get(t, "/a/x", bearer(token)), invalidToken)

	until := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	out, err = c.revokeCLI(t, "--sub", "dave", "--until", until)
	if err != nil {
		t.Fatalf("revoke --sub: %v\n%s", err, out)
	}
	var bySub revocation
	if err := json.Unmarshal([]byte(out), &bySub); err != nil || bySub.Sub != "dave" || bySub.Until.Format(time.RFC3339) != until {
		t.Fatalf("revoke --sub printed %q (%v)", out, err)
	}
	// Issued before the revocation (one minted now may be a second later).
	expectRefusal(t, c.get(t, "/a/x", bearer(tu.HS256(secret, tu.SDKClaims("dave").With("iat", time.Now().Unix()-60)))), invalidToken)

	// --address as a URL, as an operator copies it from curl.
	out, err = c.revokeCLI(t, "--list", "--address", fmt.Sprintf("http://127.0.0.1:%d/", c.adminPort))
	if err != nil || !strings.Contains(out, byHash.ID) || !strings.Contains(out, bySub.ID) {
		t.Errorf("--list: %v\n%s", err, out)
	}
	if out, err = c.revokeCLI(t, "--lift", byHash.ID); err != nil || !strings.Contains(out, byHash.ID) {
		t.Errorf("--lift: %v\n%s", err, out)
	}
	expectPass(t, c.get(t, "/a/x", bearer(token)), "ok carol reason=[]")
	if out, err = c.revokeCLI(t, "--lift", byHash.ID); err == nil || !strings.Contains(out, "404") {
		t.Errorf("--lift of a lifted id: %v\n%s", err, out)
	}
	for _, args := range [][]string{{}, {"--sub", "a", "--jti", "b"}, {"--list", "--until", until}, {"--sub", "a", "--until", "tomorrow"}} {
		if out, err := c.revokeCLI(t, args...); err == nil {
			t.Errorf("revoke %q succeeded:\n%s", args, out)
		}
	}

	logs := c.Logs()
	if strings.Contains(logs, token) || strings.Contains(logs, strings.Split(token, ".")[2]) {
		t.Error("the token is in Caddy's logs")
	}
	if !strings.Contains(logs, `"msg":"revocation added"`) || !strings.Contains(logs, byHash.ID) {
		t.Error("no info line for the revocation added")
	}
}

// TestRevocationExpiry: an entry stops applying at its until.
func TestRevocationExpiry(t *testing.T) {
	t.Parallel()
	c := startCaddy(t, revocationSpec(""))
	tok := bearer(tu.HS256(secret, tu.SDKClaims("erin").With("iat", time.Now().Unix()-60)))
	until := time.Now().Add(3 * time.Second).UTC().Format(time.RFC3339) // 2 to 3 s ahead
	c.revoke(t, fmt.Sprintf(`{"sub":"erin","until":%q}`, until))
	expectRefusal(t, c.get(t, "/a/x", tok), invalidToken)
	expectPass(t, c.awaitStatus(t, "/a/x", http.StatusOK, 20*time.Second, tok), "ok erin reason=[]")
	if l := c.revocations(t); len(l.Revocations) != 0 {
		t.Errorf("an expired entry is listed: %+v", l.Revocations)
	}
}

// TestRevocationFleet: two Caddy processes on one storage folder. A
// revocation made on one applies on the other within revocation_poll,
// and after a restart of either; a lift on one is lifted on the other.
func TestRevocationFleet(t *testing.T) {
	t.Parallel()
	s := revocationSpec("		revocation_poll 1s")
	s.DataDir = t.TempDir()
	a, b := startCaddy(t, s), startCaddy(t, s)
	tok := aliceAt(time.Now().Add(-time.Minute))
	for range 2 {
		expectPass(t, b.get(t, "/a/x", tok), "ok alice reason=[]")
	}
	e := a.revoke(t, `{"sub":"alice"}`)
	expectRefusal(t, a.get(t, "/a/x", tok), invalidToken)
	expectRefusal(t, b.awaitStatus(t, "/a/x", http.StatusUnauthorized, 15*time.Second, tok), invalidToken)
	expectPass(t, b.get(t, "/r/x", tok), "ok  reason=[revoked]")
	if l := b.revocations(t); len(l.Revocations) != 1 || l.Revocations[0].ID != e.ID || l.Storage["poll"] != "1s" {
		t.Errorf("b lists %+v", l)
	}

	// Restarts: each applies it from its first request.
	b.Stop()
	b = startCaddy(t, s)
	expectRefusal(t, b.get(t, "/b/x", tok), invalidToken)
	a.Stop()
	a = startCaddy(t, s)
	expectRefusal(t, a.get(t, "/a/x", tok), invalidToken)

	if r := b.adminCall(t, http.MethodDelete, "/solo_auth/revocations/"+e.ID, ""); r.Status != http.StatusOK {
		t.Fatalf("DELETE on b: %d %s", r.Status, r.Body)
	}
	expectPass(t, b.get(t, "/a/x", tok), "ok alice reason=[]")
	expectPass(t, a.awaitStatus(t, "/a/x", http.StatusOK, 15*time.Second, tok), "ok alice reason=[]")
	if l := a.revocations(t); len(l.Revocations) != 0 {
		t.Errorf("a still lists %+v", l.Revocations)
	}
}

// TestRevocationAfterFailedStorageReload: a reload that moves storage
// elsewhere and then fails leaves Caddy's admin routes those of the
// failed config, while the handlers, and the list's poll, stay on the
// live storage. A revocation posted then is written to the live storage,
// where the rest of the fleet polls, and reaches it.
func TestRevocationAfterFailedStorageReload(t *testing.T) {
	t.Parallel()
	s := revocationSpec("		revocation_poll 1s")
	s.DataDir = t.TempDir()
	a, b := startCaddy(t, s), startCaddy(t, s)
	elsewhere := t.TempDir()
	failing := s
	failing.Storage = "storage file_system " + elsewhere
	failing.Site = "	solo_auth /missing/* {\n		jwks_file " + filepath.Join(elsewhere, "no-such.json") + "\n	}\n" + s.Site
	if status, body := a.tryReload(t, failing); status == http.StatusOK {
		t.Fatalf("the failing reload was taken: %s", body)
	}
	tok := aliceAt(time.Now().Add(-time.Minute))
	expectPass(t, a.get(t, "/a/x", tok), "ok alice reason=[]")

	e := a.revoke(t, `{"sub":"alice"}`)
	expectRefusal(t, a.get(t, "/a/x", tok), invalidToken)
	live := filepath.Join(s.DataDir, "storage", "solo_auth", "revocations", e.ID+".json")
	if _, err := os.Stat(live); err != nil {
		t.Errorf("not in the live storage: %v", err)
	}
	if _, err := os.Stat(filepath.Join(elsewhere, "solo_auth")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the failed config's storage got revocations (stat: %v)", err)
	}
	expectRefusal(t, b.awaitStatus(t, "/a/x", http.StatusUnauthorized, 15*time.Second, tok), invalidToken)

	if r := a.adminCall(t, http.MethodDelete, "/solo_auth/revocations/"+e.ID, ""); r.Status != http.StatusOK {
		t.Fatalf("DELETE: %d %s", r.Status, r.Body)
	}
	expectPass(t, b.awaitStatus(t, "/a/x", http.StatusOK, 15*time.Second, tok), "ok alice reason=[]")
}

// expectAdminError checks an admin API refusal: the status, and a JSON
// body {"error": "..."} with a message.
func expectAdminError(t testing.TB, what string, r reply, status int) {
	t.Helper()
	var msg struct {
		Error string `json:"error"`
	}
	if r.Status != status || r.Header.Get("Content-Type") != "application/json" ||
		json.Unmarshal([]byte(r.Body), &msg) != nil || msg.Error == "" {
		t.Errorf("%s: %d %q %q, want %d with a JSON error", what, r.Status, r.Header.Get("Content-Type"), r.Body, status)
	}
}
