package soloauth

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	tu "github.com/solo-one/caddy-solo-auth/internal/testutil"

	"github.com/caddyserver/caddy/v2"
)

// TestCaddyfileKeySources: workos_client_id, jwks_url and jwks_file
// repeat (a line each, or several on a line), and a directive that names
// any of the three replaces all three of the global option.
func TestCaddyfileKeySources(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  []string
	}{
		{"repeated lines and several on a line", `:80 {
	solo_auth {
		workos_client_id client_a
		workos_client_id client_b client_c
		jwks_url http://127.0.0.1:9/a
		jwks_url http://127.0.0.1:9/b http://127.0.0.1:9/c
		jwks_file /etc/a.json
		jwks_file /etc/b.json
	}
}`, []string{`{"handler":"solo_auth","jwks_file":["/etc/a.json","/etc/b.json"],"jwks_url":["http://127.0.0.1:9/a","http://127.0.0.1:9/b","http://127.0.0.1:9/c"],"workos_client_id":["client_a","client_b","client_c"]}`}},
		{"one value stays a plain string", `:80 {
	solo_auth {
		jwks_file keys.json
	}
}`, []string{`{"handler":"solo_auth","jwks_file":"keys.json"}`}},
		{"a directive naming any source replaces all three", `{
	solo_auth {
		secret ` + tu.SecretA + `
		workos_client_id client_g1 client_g2
		jwks_url http://127.0.0.1:9/global
		jwks_file /etc/global.json
	}
}
:80 {
	solo_auth /file/* {
		jwks_file /etc/route.json
	}
	solo_auth /url/* {
		jwks_url http://127.0.0.1:9/route
	}
	solo_auth /client/* {
		workos_client_id client_r
	}
	solo_auth
}`, []string{
			// Caddy puts the longer path first.
			`{"handler":"solo_auth","secrets":["` + tu.SecretA + `"],"workos_client_id":"client_r"}`,
			`{"handler":"solo_auth","jwks_file":"/etc/route.json","secrets":["` + tu.SecretA + `"]}`,
			`{"handler":"solo_auth","jwks_url":"http://127.0.0.1:9/route","secrets":["` + tu.SecretA + `"]}`,
			`{"handler":"solo_auth","jwks_file":"/etc/global.json","jwks_url":"http://127.0.0.1:9/global","secrets":["` + tu.SecretA + `"],"workos_client_id":["client_g1","client_g2"]}`,
		}},
		{"jwks_file alone is a key source", `{
	solo_auth {
		jwks_file /etc/global.json
	}
}
:80 {
	solo_auth
}`, []string{`{"handler":"solo_auth","jwks_file":"/etc/global.json"}`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := adapt(t, tt.input)
			if err != nil {
				t.Fatal(err)
			}
			got := handlers(t, out)
			if len(got) != len(tt.want) {
				t.Fatalf("%d handlers, want %d: %s", len(got), len(tt.want), out)
			}
			for i, h := range got {
				b, _ := json.Marshal(h)
				if string(b) != tt.want[i] {
					t.Errorf("handler %d:\n got %s\nwant %s", i, b, tt.want[i])
				}
			}
		})
	}
	for _, bad := range []struct{ input, want string }{
		{"jwks_file", "jwks_file: want at least one path"},
		{"jwks_url", "jwks_url: want at least one URL"},
		{"jwks_url http://127.0.0.1:9/a ftp://x/b", "jwks_url: invalid URL"},
		{"workos_client_id", "workos_client_id: want at least one client ID"},
	} {
		_, err := adapt(t, ":80 {\n\tsolo_auth {\n\t\t"+bad.input+"\n\t}\n}")
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s: error %v, want %q", bad.input, err, bad.want)
		}
	}
}

// TestStringListJSON: a string or an array reads; one value writes as a
// string, so round-one configs and adapt output are unchanged.
func TestStringListJSON(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want StringList
		out  string
	}{
		{`"a"`, StringList{"a"}, `"a"`},
		{`["a"]`, StringList{"a"}, `"a"`},
		{` ["a","b"] `, StringList{"a", "b"}, `["a","b"]`},
		{`[]`, StringList{}, `[]`},
		// The first round's plain strings: "" was unset, and still is.
		{`""`, nil, `null`},
	} {
		var got StringList
		if err := json.Unmarshal([]byte(tt.in), &got); err != nil {
			t.Fatalf("%s: %v", tt.in, err)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: read %q, want %q", tt.in, got, tt.want)
		}
		b, _ := json.Marshal(got)
		if string(b) != tt.out {
			t.Errorf("%s: written %s, want %s", tt.in, b, tt.out)
		}
	}
	for _, bad := range []string{`1`, `{"a":1}`, `["a",1]`, `"unterminated`} {
		var got StringList
		if err := json.Unmarshal([]byte(bad), &got); err == nil {
			t.Errorf("%s: read as %q", bad, got)
		}
	}
	// A handler omits an empty list.
	b, _ := json.Marshal(SoloAuth{Secrets: []string{"s"}})
	if strings.Contains(string(b), "jwks") || strings.Contains(string(b), "workos") {
		t.Errorf("empty lists written: %s", b)
	}
}

// TestKeySourceURLs: any jwks_url means no URL derived from a client ID;
// a URL or file given twice is used once; a file is resolved to an
// absolute path.
func TestKeySourceURLs(t *testing.T) {
	repl := caddy.NewReplacer()
	t.Setenv("SOLO_TEST_CLIENT", "client_env")
	tests := []struct {
		name string
		m    SoloAuth
		want []string
	}{
		{"derived from each client", SoloAuth{WorkOSClientID: StringList{"client_a", "{env.SOLO_TEST_CLIENT}", "client_a"}},
			[]string{WorkOSJWKSBase + "client_a", WorkOSJWKSBase + "client_env"}},
		{"jwks_url suppresses derivation", SoloAuth{WorkOSClientID: StringList{"client_a"}, JWKSURL: StringList{"http://127.0.0.1:9/x", "http://127.0.0.1:9/x"}},
			[]string{"http://127.0.0.1:9/x"}},
		{"files only", SoloAuth{JWKSFile: StringList{"a.json"}}, nil},
	}
	for _, tt := range tests {
		got, err := tt.m.jwksURLs(repl)
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("%s: %q %v, want %q", tt.name, got, err, tt.want)
		}
	}
	wd, _ := os.Getwd()
	files, err := (&SoloAuth{JWKSFile: StringList{"a.json", filepath.Join(wd, "a.json"), "/etc/b.json"}}).jwksFilePaths(repl)
	if err != nil || !slices.Equal(files, []string{filepath.Join(wd, "a.json"), "/etc/b.json"}) {
		t.Errorf("files %q %v", files, err)
	}
	if _, err := (&SoloAuth{JWKSFile: StringList{"{env.SOLO_TEST_UNSET_XYZ}"}}).jwksFilePaths(repl); err == nil ||
		!strings.Contains(err.Error(), "jwks_file: empty path") {
		t.Errorf("empty file path: %v", err)
	}
}

// TestProvisionJWKSFile: a route with only jwks_file verifies with it;
// a bad file is a config error naming jwks_file and the path; the admin
// listing shows the set while it is in use.
func TestProvisionJWKSFile(t *testing.T) {
	ctx, cancel := configContext(t)
	defer cancel()
	dir := t.TempDir()
	path := filepath.Join(dir, "keys.json")
	if err := os.WriteFile(path, []byte(tu.JWKS(tu.JWK(t, &tu.RSAKey.PublicKey, "kf", nil))), 0o600); err != nil {
		t.Fatal(err)
	}
	m := &SoloAuth{JWKSFile: StringList{path}, TokenTypes: []string{"workos"}}
	if err := m.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	defer m.Cleanup()
	if len(m.fileSets) != 1 || !slices.Equal(m.fileSets[0].Status().KIDs, []string{"kf"}) || m.keys == nil || len(m.keySets) != 0 {
		t.Fatalf("file sets %v", m.fileSets)
	}
	if _, ok := fileSets.References(m.fileSets[0].ID()); !ok {
		t.Fatal("the file set is not listed while in use")
	}
	bad := &SoloAuth{JWKSFile: StringList{dir}}
	err := bad.Provision(ctx)
	_ = bad.Cleanup()
	if err == nil || !strings.Contains(err.Error(), "jwks_file: "+dir+": is a directory") {
		t.Fatalf("error %v", err)
	}
	// A bad file is a config error on a route that token_types limits
	// to SDK tokens, too (it inherits the file from the global option).
	sdkOnly := &SoloAuth{Secrets: []string{strings.Repeat("s", MinSecretLength)},
		JWKSFile: StringList{filepath.Join(dir, "missing.json")}, TokenTypes: []string{"sdk"}}
	err = sdkOnly.Provision(ctx)
	_ = sdkOnly.Cleanup()
	if err == nil || !strings.Contains(err.Error(), "jwks_file: "+filepath.Join(dir, "missing.json")) {
		t.Fatalf("sdk-only route with a missing jwks_file: %v", err)
	}
	id := m.fileSets[0].ID()
	_ = m.Cleanup()
	if _, ok := fileSets.References(id); ok {
		t.Fatal("the file set stayed listed after its last handler's cleanup")
	}
}
