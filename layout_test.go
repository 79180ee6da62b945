package soloauth

import (
	"os/exec"
	"path"
	"strings"
	"testing"
)

// TestInternalImports holds the layout's import direction: the verifier
// knows nothing of Caddy, zap, key sets or revocation; revocation knows
// neither the verifier nor the key sets; no internal package knows Caddy
// or the root. `go list -deps` reads what the compiler would link.
func TestInternalImports(t *testing.T) {
	const module = "github.com/solo-one/caddy-solo-auth"
	caddy, zap := "github.com/caddyserver/", "go.uber.org/zap"
	for _, tt := range []struct {
		pkg       string
		forbidden []string
	}{
		{"internal/jwt", []string{caddy, zap, module + "/internal/keys", module + "/internal/revocation", module + "/internal/testutil"}},
		{"internal/keys", []string{caddy, module + "/internal/revocation", module + "/internal/testutil"}},
		{"internal/revocation", []string{caddy, module + "/internal/jwt", module + "/internal/keys", module + "/internal/testutil"}},
		{"internal/strictjson", []string{caddy, zap, module + "/internal/"}},
		{"internal/clock", []string{caddy, zap, module + "/internal/"}},
		{"internal/users", []string{caddy, zap, module + "/internal/"}},
		{"internal/workos", []string{caddy, zap, module + "/internal/"}},
		{".", []string{module + "/internal/testutil"}}, // fixtures stay out of the plugin
	} {
		out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", "./"+tt.pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list %s: %v\n%s", tt.pkg, err, out)
		}
		deps := strings.Fields(string(out))
		self := path.Join(module, tt.pkg)
		if len(deps) < 2 || deps[len(deps)-1] != self {
			t.Fatalf("go list %s listed %d packages, the last %q", tt.pkg, len(deps), deps[len(deps)-1])
		}
		for _, dep := range deps {
			if dep == module && self != module {
				t.Errorf("%s imports the root package", tt.pkg)
			}
			for _, bad := range tt.forbidden {
				if strings.HasPrefix(dep, bad) && dep != self {
					t.Errorf("%s depends on %s", tt.pkg, dep)
				}
			}
		}
	}
}
