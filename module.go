// Package soloauth is a Caddy HTTP handler that authenticates requests to
// the SOLO Network API at the edge: HS256 SDK tokens signed with a shared
// secret, RS256 WorkOS tokens verified against a JWKS, and per-route scopes
// checked against the token's permissions. Verified identities reach later
// handlers as placeholders such as {solo.sub}.
package soloauth

import (
	"fmt"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/solo-one/caddy-solo-auth/internal/jwt"
	"github.com/solo-one/caddy-solo-auth/internal/keys"
	"github.com/solo-one/caddy-solo-auth/internal/revocation"
)

func init() {
	caddy.RegisterModule(SoloAuth{})
}

// Defaults of the optional settings.
const (
	DefaultLeeway      = 30 * time.Second
	DefaultJWKSRefresh = time.Hour
	// MinSecretLength is RFC 7518 §3.2's floor for an HS256 key.
	MinSecretLength = jwt.MinSecretLength
	// WorkOSJWKSBase is where WorkOS publishes each client's keys.
	WorkOSJWKSBase = "https://api.workos.com/sso/jwks/"
)

// SoloAuth authenticates each request with a bearer token: an SDK token
// (HS256, shared secret) or a WorkOS token (RS256, key from the WorkOS
// JWKS). A request without a valid token, or without every required scope,
// gets a 401 or 403 (503 for a WorkOS token while no key set has loaded)
// with a JSON body and never reaches later handlers. On
// success, the identity is available as placeholders: {http.auth.user.id},
// {solo.sub}, {solo.token_type}, {solo.permissions}, {solo.workflow_id},
// {solo.stakeholder_name}, {solo.stakeholder_type} and {solo.claim.<name>}.
type SoloAuth struct {
	// Secrets that verify HS256 SDK tokens, taken as the raw bytes of the
	// string; each must be at least 32 bytes. A token signed with any one
	// of them is accepted, so listing the new secret beside the old one
	// rotates without downtime. Placeholders are resolved at start-up:
	// `{env.SOLO_SDK_SECRET}`, `{file./run/secrets/solo}`.
	// Default: none (SDK tokens are refused).
	Secrets []string `json:"secrets,omitempty"`

	// WorkOSClientID lists the WorkOS client IDs whose published keys
	// verify RS256 tokens (several for several WorkOS environments or
	// applications); each one's JWKS URL is derived as
	// `https://api.workos.com/sso/jwks/<client_id>`, unless JWKSURL is
	// set. Placeholders are resolved at start-up. JSON: a string or an
	// array of strings. Default: none. Example: `"client_01H..."`.
	WorkOSClientID StringList `json:"workos_client_id,omitempty"`

	// JWKSURL lists JWKS URLs to fetch keys from, for tests or an egress
	// proxy; if any is set, no URL is derived from WorkOSClientID. Each
	// must be an absolute http(s) URL; a URL given twice is fetched once.
	// JSON: a string or an array of strings. Default: none.
	JWKSURL StringList `json:"jwks_url,omitempty"`

	// JWKSFile lists local JWK set files, read when the config loads
	// (start-up and every reload), never fetched, with the same key rules
	// as a fetched set; an unreadable file, or one with no usable key, is
	// a config error. For air-gapped gateways, tests and local
	// development. JSON: a string or an array of strings. Default: none.
	// Example: `"/etc/caddy/dev-jwks.json"`.
	JWKSFile StringList `json:"jwks_file,omitempty"`

	// Scopes are required, all of them, in the token's permissions.
	// Default: none (any valid token passes). Example: `["admin"]`.
	Scopes []string `json:"scopes,omitempty"`

	// Issuers, if set, are the accepted values of the `iss` claim (one
	// trailing slash aside); a token without `iss` is then refused.
	// Default: any or none. Example: `["https://api.workos.com"]`.
	Issuers []string `json:"issuers,omitempty"`

	// Audiences, if set: the `aud` claim (a string or an array) must
	// contain one of them; a token without `aud` is then refused.
	// Default: any or none.
	Audiences []string `json:"audiences,omitempty"`

	// Leeway is the clock skew allowed when checking `exp`, `nbf` and
	// `iat`. Default: 30s. Zero is allowed and means no skew.
	Leeway *caddy.Duration `json:"leeway,omitempty"`

	// JWKSRefresh is how often the JWKS is fetched again while in use.
	// Default: 1h.
	JWKSRefresh caddy.Duration `json:"jwks_refresh,omitempty"`

	// ScopeClaims names the claims that grant scopes. `permissions` must be
	// an array of strings; any other claim may be an array of strings or a
	// space-delimited string (the OAuth `scope` shape). Default:
	// `["permissions"]`. Example: `["permissions", "scope"]`.
	ScopeClaims []string `json:"scope_claims,omitempty"`

	// AllowCORSPreflight lets a CORS preflight (an OPTIONS request with
	// both `Origin` and `Access-Control-Request-Method`) through without a
	// token, since browsers never send credentials on one. Default: false.
	AllowCORSPreflight bool `json:"allow_cors_preflight,omitempty"`

	// ReportOnly decides every request as usual (logs included) but lets
	// refused ones through, with the refusal in {solo.error} and no
	// identity placeholders, for rolling solo_auth out on live traffic.
	// Default: false.
	ReportOnly bool `json:"report_only,omitempty"`

	// TokenQuery names a query parameter that may carry the token
	// instead of the Authorization header (RFC 6750 §2.3), for what a
	// browser cannot put a header on: WebSocket upgrades, EventSource
	// streams, download links. Honoured on GET and HEAD only; removed
	// from the request's URI on every method, so it never reaches a
	// backend. Default: none. Example: `access_token`.
	TokenQuery string `json:"token_query,omitempty"`

	// TokenCookie names a cookie that may carry the token, honoured on
	// GET and HEAD only (so it can never authenticate a cross-site POST)
	// and removed from the Cookie header on every method. Default: none.
	// Example: `solo_session`.
	TokenCookie string `json:"token_cookie,omitempty"`

	// TokenTypes limits the route to some kinds of token: `sdk` (HS256,
	// verified with `secrets`) and `workos` (RS256, verified with the
	// JWKS). A token of another kind is refused as invalid, as if the
	// route had no key for it. Naming a kind without its key source is a
	// config error. Default: every kind the route has a key source for.
	// Example: `["workos"]` for a dashboard route.
	TokenTypes []string `json:"token_types,omitempty"`

	// Optional lets a request that carries no token at all (in no place
	// the route reads; another Authorization scheme counts as none) pass
	// anonymously, every identity placeholder empty. A token that is
	// present must still be valid. Not allowed with scopes. Default:
	// false.
	Optional bool `json:"optional,omitempty"`

	// RevocationPoll is how often Caddy's storage is read for the
	// revocations that other instances sharing it add or lift (see
	// `POST /solo_auth/revocations`). In a Caddyfile it is a sub-directive
	// of the solo_auth global option only, since one revocation list
	// serves the whole process; in JSON, the shortest of all handlers'
	// values is used. At least 100ms. Default: 10s.
	RevocationPoll caddy.Duration `json:"revocation_poll,omitempty"`

	revocations    *revocation.List // the process's; nil in tests that build a handler by hand
	revocationUser *revocation.User
	verifier       *jwt.Verifier // shared by the directives of one key configuration (verifierpool.go)
	verifierKey    string        // its key in the pool; empty once released
	keySets        []*keys.Set   // fetched key sets; kept after Cleanup, for requests still in flight
	keySetUsers    []*keys.User
	fileSets       []*keys.File  // local key sets (jwks_file)
	keys           *keys.Sources // every key set; nil without any
	released       bool
	requiredScopes []string
	forbidden      response
	logger         *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (SoloAuth) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.solo_auth",
		New: func() caddy.Module { return new(SoloAuth) },
	}
}

// Provision resolves placeholders in the settings, checks them, reads
// its JWKS files, and takes the key set of each URL and the verifier of
// its key configuration from their pools.
func (m *SoloAuth) Provision(ctx caddy.Context) error {
	m.logger = ctx.Logger()
	repl := caddy.NewReplacer()

	secrets, err := resolveSecrets(repl, m.Secrets)
	if err != nil {
		return err
	}
	for i, scope := range m.Scopes {
		if err := checkScopeToken(scope); err != nil {
			return fmt.Errorf("scopes: #%d: %w", i+1, err)
		}
	}
	m.requiredScopes = mergeScopes(m.Scopes)
	m.forbidden = forbiddenResponse(m.requiredScopes)

	leeway := DefaultLeeway
	if m.Leeway != nil {
		leeway = time.Duration(*m.Leeway)
	}
	if leeway < 0 {
		return fmt.Errorf("leeway: must not be negative")
	}
	if m.RevocationPoll != 0 && time.Duration(m.RevocationPoll) < revocation.MinPoll {
		return fmt.Errorf("revocation_poll: must be at least %v", revocation.MinPoll)
	}
	if m.JWKSRefresh != 0 && time.Duration(m.JWKSRefresh) < keys.MinRefresh {
		return fmt.Errorf("jwks_refresh: must be at least %v", keys.MinRefresh)
	}

	jwksURLs, err := m.jwksURLs(repl)
	if err != nil {
		return err
	}
	jwksFiles, err := m.jwksFilePaths(repl)
	if err != nil {
		return err
	}
	workos := len(jwksURLs) > 0 || len(jwksFiles) > 0
	if len(secrets) == 0 && !workos {
		return errNoKeySource
	}
	if err := m.checkTokenPlaces(); err != nil {
		return err
	}
	// token_types narrows the key configuration: a route without the key
	// of a kind refuses that kind, which is what token_types asks.
	if secrets, workos, err = limitToTokenTypes(m.TokenTypes, secrets, workos); err != nil {
		return err
	}

	if err := registerMetrics(ctx); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	var fileIDs []string
	if workos {
		if fileIDs, err = m.acquireKeySources(ctx, jwksURLs, jwksFiles); err != nil {
			return err
		}
	} else {
		// No key set: the verifier's key names none, or it would share a
		// pooled verifier with a route that has the sets.
		jwksURLs = nil
		// A file the route inherits but token_types leaves unused must
		// still be a JWK set: a bad jwks_file is a config error anywhere.
		for _, path := range jwksFiles {
			if _, err := keys.ReadFile(path, time.Now(), m.logger); err != nil {
				return fmt.Errorf("jwks_file: %w", err)
			}
		}
	}
	m.verifier, m.verifierKey, err = acquireVerifier(keyConfig{
		secrets:     secrets,
		jwksURLs:    jwksURLs,
		jwksFiles:   fileIDs,
		issuers:     replaceAll(repl, m.Issuers),
		audiences:   replaceAll(repl, m.Audiences),
		scopeClaims: m.ScopeClaims,
		leeway:      leeway,
	}, m.keys)
	if err != nil {
		return fmt.Errorf("verifier: %w", err)
	}
	m.revocations = revocations
	m.revocationUser = revocations.Acquire(time.Duration(m.RevocationPoll), contextStorage(ctx), m.logger)
	return nil
}

// Validate is called after Provision; Provision already refused every bad
// setting, with the sub-directive named.
func (m *SoloAuth) Validate() error {
	if m.verifier == nil {
		return fmt.Errorf("not provisioned")
	}
	return nil
}

// Cleanup releases the verifier and the key sets; the last handler to
// release a URL stops its background fetching. m.verifier and m.keys
// stay set: on a reload, Caddy cleans up the old config while its
// requests may still be finishing, and a stopped key set still answers
// lookups.
func (m *SoloAuth) Cleanup() error {
	if m.verifierKey != "" {
		releaseVerifier(m.verifierKey)
		m.verifierKey = ""
	}
	if m.revocationUser != nil {
		m.revocations.Release(m.revocationUser)
		m.revocationUser = nil
	}
	if !m.released {
		m.released = true
		for i, ks := range m.keySets {
			releaseKeySet(ks, m.keySetUsers[i])
		}
		for _, f := range m.fileSets {
			releaseFileSet(f)
		}
	}
	return nil
}

// Interface guards
var (
	_ caddy.Provisioner           = (*SoloAuth)(nil)
	_ caddy.Validator             = (*SoloAuth)(nil)
	_ caddy.CleanerUpper          = (*SoloAuth)(nil)
	_ caddyhttp.MiddlewareHandler = (*SoloAuth)(nil)
)
