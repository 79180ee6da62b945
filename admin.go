package soloauth

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/go-jose/go-jose/v4"
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
	sets := []keySetStatus{}
	keySets.Range(func(_, value any) bool {
		sets = append(sets, value.(*KeySet).status())
		return true
	})
	fileSets.Range(func(_, value any) bool {
		sets = append(sets, value.(*jwksFile).status())
		return true
	})
	sort.Slice(sets, func(i, j int) bool { return sets[i].URL < sets[j].URL })
	w.Header().Set("Content-Type", "application/json")
	return json.NewEncoder(w).Encode(map[string]any{"key_sets": sets})
}

// keyInfo describes a key without its material.
type keyInfo struct {
	KID  string `json:"kid"`
	Bits int    `json:"bits"`
	Alg  string `json:"alg"`
}

// keySetStatus describes a key set for the admin API. A local set
// (jwks_file) has the URL file://<absolute path>, its path in File, the
// source "file", and the time it was read as its last fetch.
type keySetStatus struct {
	URL         string    `json:"url"`
	File        string    `json:"file,omitempty"`
	KIDs        []string  `json:"kids"`
	Keys        []keyInfo `json:"keys"`
	Source      string    `json:"source,omitempty"`
	LastFetch   time.Time `json:"last_fetch,omitzero"`
	LastError   string    `json:"last_error,omitempty"`
	LastAttempt time.Time `json:"last_attempt,omitzero"`
}

func (ks *KeySet) status() keySetStatus {
	st := tableStatus(ks.shown, ks.table.Load())
	ks.mu.Lock()
	st.LastError = ks.lastError
	st.LastAttempt = ks.lastAttempt
	ks.mu.Unlock()
	return st
}

func (f *jwksFile) status() keySetStatus {
	st := tableStatus(f.shown, f.table)
	st.File = f.path
	return st
}

// tableStatus describes the table t (nil: none loaded) of the set at url.
func tableStatus(url string, t *keyTable) keySetStatus {
	st := keySetStatus{URL: url, KIDs: []string{}, Keys: []keyInfo{}}
	if t != nil {
		st.KIDs = sortedKIDs(t.keys)
		for _, kid := range st.KIDs {
			st.Keys = append(st.Keys, keyInfo{KID: kid, Bits: t.keys[kid].N.BitLen(), Alg: string(jose.RS256)})
		}
		st.Source = t.source
		st.LastFetch = t.fetchedAt
	}
	return st
}

// Interface guards
var _ caddy.AdminRouter = adminKeys{}
