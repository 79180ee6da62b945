package soloauth

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/caddyserver/caddy/v2"
	"github.com/solo-one/caddy-solo-auth/internal/clock"
	"github.com/solo-one/caddy-solo-auth/internal/revocation"
	"go.uber.org/zap"
)

func init() {
	caddy.RegisterModule(adminRevocations{})
}

// maxRevocationBody bounds a POST body; a real one is under 200 bytes.
const maxRevocationBody = 64 << 10

// adminRevocations serves the revocation API on Caddy's admin endpoint:
//
//	POST   /solo_auth/revocations       add one: 201 with the entry
//	GET    /solo_auth/revocations       {"revocations": [...], "storage": {...}}
//	DELETE /solo_auth/revocations/<id>  lift one: 200 with it, 404 if none
//
// Caddy provisions admin routers with the context of each config it
// loads, and keeps them when that config then fails to load. Entries are
// therefore written to the storage the list polls (the live handlers'),
// where every instance sharing it polls for them; the router's own
// config storage (ctx.Storage()) counts only while no handler uses the
// list (revocation.List.Add).
type adminRevocations struct {
	list   *revocation.List
	store  revocation.Store
	logger *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (adminRevocations) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "admin.api.solo_auth_revocations",
		New: func() caddy.Module { return new(adminRevocations) },
	}
}

// Provision takes the config's storage and logger.
func (a *adminRevocations) Provision(ctx caddy.Context) error {
	a.list, a.store, a.logger = revocations, contextStorage(ctx), ctx.Logger()
	return nil
}

// Routes returns the admin routes.
func (a *adminRevocations) Routes() []caddy.AdminRoute {
	h := caddy.AdminHandlerFunc(a.serve)
	return []caddy.AdminRoute{
		{Pattern: "/solo_auth/revocations", Handler: h},
		{Pattern: "/solo_auth/revocations/", Handler: h},
	}
}

func (a *adminRevocations) serve(w http.ResponseWriter, r *http.Request) error {
	id, hasID := strings.CutPrefix(r.URL.Path, "/solo_auth/revocations/")
	hasID = hasID && id != "" // a trailing slash names the collection
	switch {
	case hasID && r.Method == http.MethodDelete:
		return a.lift(w, id)
	case hasID:
		return apiError(http.StatusMethodNotAllowed, "method not allowed: DELETE /solo_auth/revocations/<id>")
	case r.Method == http.MethodGet:
		entries, status := a.list.Snapshot()
		return writeJSON(w, http.StatusOK, map[string]any{"revocations": entries, "storage": status})
	case r.Method == http.MethodPost:
		return a.add(w, r)
	}
	return apiError(http.StatusMethodNotAllowed, "method not allowed: GET or POST /solo_auth/revocations")
}

func (a *adminRevocations) add(w http.ResponseWriter, r *http.Request) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRevocationBody))
	if err != nil {
		return apiError(http.StatusBadRequest, "body: "+err.Error())
	}
	e, err := revocation.ParseRequest(body, a.list.Now())
	if err != nil {
		return apiError(http.StatusBadRequest, err.Error())
	}
	if err := a.list.Add(a.store, e, a.logger); err != nil {
		return storageError(err)
	}
	return writeJSON(w, http.StatusCreated, e)
}

func (a *adminRevocations) lift(w http.ResponseWriter, id string) error {
	if !revocation.IsID(id) {
		return apiError(http.StatusNotFound, fmt.Sprintf("no revocation %q", id))
	}
	e, err := a.list.Lift(a.store, id, a.logger)
	switch {
	case errors.Is(err, revocation.ErrNotFound):
		return apiError(http.StatusNotFound, fmt.Sprintf("no revocation %q", id))
	case err != nil:
		return storageError(err)
	}
	return writeJSON(w, http.StatusOK, e)
}

// contextStorage is the config's storage, ctx.Storage(), as the list
// uses it (nil if the config has none).
func contextStorage(ctx caddy.Context) revocation.Store {
	if s := ctx.Storage(); s != nil {
		return s
	}
	return nil
}

// storageError is a 503: the storage refused the change, which was not
// made; the operator retries.
func storageError(err error) error {
	return caddy.APIError{HTTPStatus: http.StatusServiceUnavailable, Err: err}
}

// apiError is answered by Caddy's admin server as {"error": msg}.
func apiError(status int, msg string) error {
	return caddy.APIError{HTTPStatus: status, Err: errors.New(msg)}
}

// writeJSON answers with v in the encoding storage keeps entries in (JSON
// v2), so that an entry reads the same in both. The options keep the
// answer as encoding/json wrote it before: map keys sorted, <, >, & and
// U+2028/U+2029 escaped, invalid UTF-8 (an error text from storage)
// replaced rather than refused.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	body, err := json.Marshal(v, json.Deterministic(true),
		jsontext.EscapeForHTML(true), jsontext.EscapeForJS(true), jsontext.AllowInvalidUTF8(true))
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, err = w.Write(append(body, '\n'))
	return err
}

// Interface guards
var (
	_ caddy.AdminRouter = (*adminRevocations)(nil)
	_ caddy.Provisioner = (*adminRevocations)(nil)
)

// revocations is the process's list, shared by every handler and config:
// Caddy's storage, not a config, is where revocations live.
var revocations = revocation.NewList(clock.Real{}, revocationReadFailures.Inc)
