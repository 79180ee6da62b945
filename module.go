// Package soloauth is a Caddy HTTP handler that authenticates requests to
// the SOLO Network API at the edge: HS256 SDK tokens signed with a shared
// secret, RS256 WorkOS tokens verified against a JWKS, and per-route scopes
// checked against the token's permissions. Verified identities reach later
// handlers as placeholders such as {solo.sub}.
package soloauth

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

func init() {
	caddy.RegisterModule(SoloAuth{})
}

// Defaults of the optional settings.
const (
	DefaultLeeway      = 30 * time.Second
	DefaultJWKSRefresh = time.Hour
	// MinSecretLength is RFC 7518 §3.2's floor for an HS256 key.
	MinSecretLength = 32
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

	// WorkOSClientID is the WorkOS client ID whose published keys verify
	// RS256 tokens; the JWKS URL is derived from it as
	// `https://api.workos.com/sso/jwks/<client_id>`. Placeholders are
	// resolved at start-up. Example: `client_01H...`.
	WorkOSClientID string `json:"workos_client_id,omitempty"`

	// JWKSURL overrides the JWKS URL derived from WorkOSClientID, for
	// tests or an egress proxy. Must be an absolute http(s) URL.
	JWKSURL string `json:"jwks_url,omitempty"`

	// Scopes are required, all of them, in the token's permissions.
	// Default: none (any valid token passes). Example: `["admin"]`.
	Scopes []string `json:"scopes,omitempty"`

	// Issuers, if set, are the accepted values of the `iss` claim; a token
	// without `iss` is then refused. Default: any or none.
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

	verifier       *Verifier
	keySet         *KeySet // nil without a JWKS; kept after Cleanup, for requests still in flight
	keySetUser     *keySetUser
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

// Provision resolves placeholders in the settings and builds the verifier.
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
	if m.JWKSRefresh != 0 && time.Duration(m.JWKSRefresh) < jwksMinRefresh {
		return fmt.Errorf("jwks_refresh: must be at least %v", jwksMinRefresh)
	}

	jwksURL, err := m.jwksURL(repl)
	if err != nil {
		return err
	}
	if len(secrets) == 0 && jwksURL == "" {
		return fmt.Errorf("no key source: set `secret` for SDK tokens or `workos_client_id` (or `jwks_url`) for WorkOS tokens")
	}

	m.verifier = &Verifier{
		Secrets:     secrets,
		Issuers:     replaceAll(repl, m.Issuers),
		Audiences:   replaceAll(repl, m.Audiences),
		Leeway:      leeway,
		ScopeClaims: m.ScopeClaims,
	}
	m.verifier.EnableCache(DefaultCacheEntries)
	m.verifier.ObserveCache = observeCache
	if err := registerMetrics(ctx); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	if jwksURL != "" {
		refresh := DefaultJWKSRefresh
		if m.JWKSRefresh > 0 {
			refresh = time.Duration(m.JWKSRefresh)
		}
		ks, user, err := acquireKeySet(ctx, jwksURL, refresh, m.logger)
		if err != nil {
			return err
		}
		m.keySet, m.keySetUser = ks, user
		m.verifier.RSAKeys = ks
	}
	return nil
}

// resolveSecrets expands placeholders and enforces the minimum length.
// Errors say which secret and where it came from, never what it is.
func resolveSecrets(repl *caddy.Replacer, raw []string) ([][]byte, error) {
	secrets := make([][]byte, 0, len(raw))
	for i, s := range raw {
		value := repl.ReplaceKnown(s, "")
		if len(value) < MinSecretLength {
			source := ""
			if value != s && isSinglePlaceholder(s) {
				source = " (from " + s + ")"
			}
			return nil, fmt.Errorf("secret: secret #%d%s is %d bytes; HS256 secrets must be at least %d bytes (RFC 7518 §3.2)",
				i+1, source, len(value), MinSecretLength)
		}
		secrets = append(secrets, []byte(value))
	}
	return secrets, nil
}

// isSinglePlaceholder reports whether s is one placeholder and nothing
// else, so that naming it in an error reveals no secret.
func isSinglePlaceholder(s string) bool {
	return len(s) > 2 && s[0] == '{' && s[len(s)-1] == '}' && strings.Count(s, "{") == 1
}

func replaceAll(repl *caddy.Replacer, in []string) []string {
	if len(in) == 0 {
		return nil
	}
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = repl.ReplaceKnown(s, "")
	}
	return out
}

// jwksURL is the key set's URL: jwks_url if set, else derived from the
// WorkOS client ID; empty when neither is configured.
func (m *SoloAuth) jwksURL(repl *caddy.Replacer) (string, error) {
	if m.JWKSURL != "" {
		raw := repl.ReplaceKnown(m.JWKSURL, "")
		if err := checkJWKSURL(raw); err != nil {
			return "", fmt.Errorf("jwks_url: %w", err)
		}
		return raw, nil
	}
	if m.WorkOSClientID == "" {
		return "", nil
	}
	clientID := repl.ReplaceKnown(m.WorkOSClientID, "")
	if clientID == "" {
		return "", fmt.Errorf("workos_client_id: empty after resolving placeholders (%s)", m.WorkOSClientID)
	}
	return WorkOSJWKSBase + url.PathEscape(clientID), nil
}

func checkJWKSURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("invalid URL '%s': %w", raw, err)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("invalid URL '%s': want an absolute http or https URL", raw)
	}
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

// Cleanup releases the key set; the last handler to release a URL stops
// its background fetching. m.keySet stays set: on a reload, Caddy cleans
// up the old config while its requests may still be finishing, and a
// stopped key set still answers lookups.
func (m *SoloAuth) Cleanup() error {
	if m.keySet != nil && !m.released {
		m.released = true
		releaseKeySet(m.keySet, m.keySetUser)
	}
	return nil
}

// ServeHTTP authenticates the request, then calls next or answers with
// the refusal.
func (m *SoloAuth) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	repl := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	state := authState(r, repl)
	if m.AllowCORSPreflight && isCORSPreflight(r) {
		// No identity: the placeholders stay empty.
		return next.ServeHTTP(w, r)
	}

	token, problem := bearerToken(r.Header)
	var id *Identity
	var refusal *response
	var verr *VerifyError
	switch problem {
	case tokenMissing:
		refusal = &respMissing
		verr = &VerifyError{Kind: KindInvalid, Reason: "no bearer token"}
	case tokenAmbiguous:
		refusal = &respInvalid
		verr = &VerifyError{Kind: KindInvalid, Reason: "more than one Authorization header"}
	default:
		var err error
		id, err = m.verifier.VerifyContext(r.Context(), token)
		if err != nil {
			var ok bool
			if verr, ok = err.(*VerifyError); !ok {
				verr = &VerifyError{Kind: KindInvalid, Reason: "verification failed", Err: err}
			}
			refusal = responseFor(verr.Kind)
		} else if missing := missingScopes(m.requiredScopes, id.Scopes); missing != nil {
			refusal = &m.forbidden
			verr = &VerifyError{Kind: KindInvalid, Reason: "missing scopes: " + strings.Join(missing, " "),
				KeyID: id.KeyID, Subject: id.Subject, TokenType: id.TokenType}
		}
	}

	if refusal == nil {
		countRequest(outcomeOK, id.TokenType)
		state.authenticated(id)
		return next.ServeHTTP(w, r)
	}
	countRequest(outcomeOf(refusal), verr.TokenType)
	m.logRefusal(refusal, verr)
	if m.ReportOnly {
		state.reportOnlyRefused(refusal.detail, verr.Reason)
		return next.ServeHTTP(w, r)
	}
	if refusal == &respUnavailable && m.keySet != nil {
		w.Header().Set("Retry-After", strconv.Itoa(m.keySet.RetryAfter()))
	}
	refusal.write(w)
	return nil
}

// logRefusal logs why a request was refused, never the token: the request
// URI is left to the access log, since clients put tokens in query strings.
func (m *SoloAuth) logRefusal(refusal *response, verr *VerifyError) {
	ce := m.logger.Check(zapcore.DebugLevel, "request refused")
	if ce == nil {
		return
	}
	ce.Write(
		zap.Int("status", refusal.status),
		zap.String("detail", refusal.detail),
		zap.String("reason", verr.Reason),
		zap.String("kid", verr.KeyID),
		zap.String("sub", verr.Subject),
		zap.Bool("report_only", m.ReportOnly),
	)
}

func isCORSPreflight(r *http.Request) bool {
	return r.Method == http.MethodOptions &&
		r.Header.Get("Origin") != "" &&
		r.Header.Get("Access-Control-Request-Method") != ""
}

// Interface guards
var (
	_ caddy.Provisioner           = (*SoloAuth)(nil)
	_ caddy.Validator             = (*SoloAuth)(nil)
	_ caddy.CleanerUpper          = (*SoloAuth)(nil)
	_ caddyhttp.MiddlewareHandler = (*SoloAuth)(nil)
)
