package soloauth

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"

	"github.com/caddyserver/caddy/v2"
	"github.com/solo-one/caddy-solo-auth/internal/keys"
)

func init() {
	caddy.RegisterModule(adminKeys{})
}

// adminKeys serves `GET /solo_auth/keys` on Caddy's admin endpoint: every
// key set in use, with its URL, kids, key sizes and algorithms, the last
// successful fetch, the last error and where the set came from (fetch,
// saved storage, or a local file). No key material beyond kid, size and alg.
type adminKeys struct{}

// CaddyModule returns the Caddy module information.
func (adminKeys) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "admin.api.solo_auth",
		New: func() caddy.Module { return new(adminKeys) },
	}
}

// Routes returns the admin routes.
func (adminKeys) Routes() []caddy.AdminRoute {
	return []caddy.AdminRoute{{Pattern: "/solo_auth/keys", Handler: caddy.AdminHandlerFunc(serveKeys)}}
}

func serveKeys(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet {
		return caddy.APIError{HTTPStatus: http.StatusMethodNotAllowed, Err: fmt.Errorf("method not allowed")}
	}
	sets := []keys.Status{}
	keySets.Range(func(_, value any) bool {
		sets = append(sets, value.(*keys.Set).Status())
		return true
	})
	fileSets.Range(func(_, value any) bool {
		sets = append(sets, value.(*keys.File).Status())
		return true
	})
	sort.Slice(sets, func(i, j int) bool { return sets[i].URL < sets[j].URL })
	w.Header().Set("Content-Type", "application/json")
	return json.NewEncoder(w).Encode(map[string]any{"key_sets": sets})
}

// Interface guards
var _ caddy.AdminRouter = adminKeys{}
