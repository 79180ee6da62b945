package soloauth

import (
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/solo-one/caddy-solo-auth/internal/jwt"
	"github.com/solo-one/caddy-solo-auth/internal/keys"
	"github.com/solo-one/caddy-solo-auth/internal/revocation"
)

const directiveName = "solo_auth"

func init() {
	httpcaddyfile.RegisterHandlerDirective(directiveName, parseCaddyfile)
	// Authentication runs where Caddy's own basic_auth does: after
	// rewrites, before request_header and the handlers that respond.
	httpcaddyfile.RegisterDirectiveOrder(directiveName, httpcaddyfile.After, "basic_auth")
	httpcaddyfile.RegisterGlobalOption(directiveName, parseGlobalOption)
}

// parseCaddyfile sets up the handler from Caddyfile tokens, on top of the
// defaults of the `solo_auth` global option:
//
//	solo_auth [<matcher>] [<scope>...] {
//		secret               <hs256 secret>
//		workos_client_id     <client id>...
//		jwks_url             <url>...
//		jwks_file            <path>...
//		scopes               <scope>...
//		issuer               <iss>...
//		audience             <aud>...
//		leeway               <duration>
//		jwks_refresh         <duration>
//		scope_claims         <claim>...
//		allow_cors_preflight
//		report_only
//		token_query          <param>
//		token_cookie         <name>
//		token_types          sdk|workos...
//		optional
//	}
func parseCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	var local SoloAuth
	if err := local.UnmarshalCaddyfile(h.Dispenser); err != nil {
		return nil, err
	}
	merged := &local
	if global, ok := h.Option(directiveName).(*SoloAuth); ok && global != nil {
		merged = global.withOverrides(&local)
	}
	// Provision checks again once placeholders are resolved; this one
	// answers at adapt time, with the Caddyfile's line.
	if !merged.hasKeySource() {
		return nil, h.Errf("%v, here or in the solo_auth global option", errNoKeySource)
	}
	return merged, nil
}

// parseGlobalOption reads the `solo_auth` global option: the same
// sub-directives, as defaults for every solo_auth directive.
func parseGlobalOption(d *caddyfile.Dispenser, existing any) (any, error) {
	if existing != nil {
		return nil, d.Errf("global option given more than once")
	}
	var global SoloAuth
	if err := global.unmarshalBlock(d, false); err != nil {
		return nil, err
	}
	return &global, nil
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens; see
// parseCaddyfile for the syntax. The matcher, if any, has already been
// taken off by Caddy.
func (m *SoloAuth) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	return m.unmarshalBlock(d, true)
}

func (m *SoloAuth) unmarshalBlock(d *caddyfile.Dispenser, inlineScopes bool) error {
	d.Next() // the directive or option name
	args := d.RemainingArgs()
	if len(args) > 0 && !inlineScopes {
		return d.Errf("the global option takes no arguments; use the `scopes` sub-directive")
	}
	if err := addScopes(d, &m.Scopes, args); err != nil {
		return err
	}
	seen := map[string]bool{}
	for d.NextBlock(0) {
		sub := d.Val()
		if seen[sub] && !repeatable[sub] {
			return d.Errf("%s: given more than once", sub)
		}
		seen[sub] = true
		if sub == "revocation_poll" && inlineScopes {
			return d.Errf("revocation_poll: set it in the solo_auth global option; one revocation list serves the whole process")
		}
		if err := m.unmarshalSubdirective(d, sub); err != nil {
			return err
		}
	}
	return nil
}

// repeatable sub-directives add to their list each time they appear.
var repeatable = map[string]bool{"secret": true, "scopes": true, "issuer": true, "audience": true, "scope_claims": true,
	"workos_client_id": true, "jwks_url": true, "jwks_file": true}

func (m *SoloAuth) unmarshalSubdirective(d *caddyfile.Dispenser, sub string) error {
	args := d.RemainingArgs()
	switch sub {
	case "secret":
		if len(args) != 1 {
			return d.Errf("secret: want exactly one value (quote a secret that contains spaces)")
		}
		if !strings.Contains(args[0], "{") && len(args[0]) < MinSecretLength {
			return d.Errf("secret: %d bytes; HS256 secrets must be at least %d bytes (RFC 7518 §3.2)",
				len(args[0]), MinSecretLength)
		}
		m.Secrets = append(m.Secrets, args[0])
	case "workos_client_id":
		if len(args) == 0 {
			return d.Errf("workos_client_id: want at least one client ID")
		}
		m.WorkOSClientID = append(m.WorkOSClientID, args...)
	case "jwks_url":
		if len(args) == 0 {
			return d.Errf("jwks_url: want at least one URL")
		}
		for _, u := range args {
			if !strings.Contains(u, "{") {
				if err := checkJWKSURL(u); err != nil {
					return d.Errf("jwks_url: %v", err)
				}
			}
		}
		m.JWKSURL = append(m.JWKSURL, args...)
	case "jwks_file":
		if len(args) == 0 {
			return d.Errf("jwks_file: want at least one path")
		}
		m.JWKSFile = append(m.JWKSFile, args...)
	case "scopes":
		if len(args) == 0 {
			return d.Errf("scopes: want at least one scope")
		}
		return addScopes(d, &m.Scopes, args)
	case "issuer":
		if len(args) == 0 {
			return d.Errf("issuer: want at least one issuer")
		}
		m.Issuers = append(m.Issuers, args...)
	case "audience":
		if len(args) == 0 {
			return d.Errf("audience: want at least one audience")
		}
		m.Audiences = append(m.Audiences, args...)
	case "leeway":
		dur, err := parseDurationArg(d, sub, args, true)
		if err != nil {
			return err
		}
		leeway := caddy.Duration(dur)
		m.Leeway = &leeway
	case "jwks_refresh":
		dur, err := parseDurationArg(d, sub, args, false)
		if err != nil {
			return err
		}
		if dur < keys.MinRefresh {
			return d.Errf("jwks_refresh: %s is too short: at least %v", args[0], keys.MinRefresh)
		}
		m.JWKSRefresh = caddy.Duration(dur)
	case "scope_claims":
		if len(args) == 0 {
			return d.Errf("scope_claims: want at least one claim name")
		}
		m.ScopeClaims = append(m.ScopeClaims, args...)
	case "allow_cors_preflight":
		if len(args) != 0 {
			return d.Errf("allow_cors_preflight: takes no arguments")
		}
		m.AllowCORSPreflight = true
	case "report_only":
		if len(args) != 0 {
			return d.Errf("report_only: takes no arguments")
		}
		m.ReportOnly = true
	case "token_query":
		if len(args) != 1 || args[0] == "" {
			return d.Errf("token_query: want exactly one query parameter name, e.g. access_token")
		}
		m.TokenQuery = args[0]
	case "token_cookie":
		if len(args) != 1 || !isCookieName(args[0]) {
			return d.Errf("token_cookie: want exactly one cookie name (RFC 6265 token characters)")
		}
		m.TokenCookie = args[0]
	case "token_types":
		if len(args) == 0 {
			return d.Errf("token_types: want sdk, workos, or both")
		}
		for _, kind := range args {
			if kind != jwt.TokenTypeSDK && kind != jwt.TokenTypeWorkOS {
				return d.Errf("token_types: unknown kind '%s': want sdk or workos", kind)
			}
		}
		m.TokenTypes = args
	case "revocation_poll":
		dur, err := parseDurationArg(d, sub, args, false)
		if err != nil {
			return err
		}
		if dur < revocation.MinPoll {
			return d.Errf("revocation_poll: %s is too short: at least %v", args[0], revocation.MinPoll)
		}
		m.RevocationPoll = caddy.Duration(dur)
	case "optional":
		if len(args) != 0 {
			return d.Errf("optional: takes no arguments")
		}
		m.Optional = true
	default:
		return d.Errf("unknown sub-directive '%s'", sub)
	}
	return nil
}

func addScopes(d *caddyfile.Dispenser, dst *[]string, scopes []string) error {
	for _, s := range scopes {
		if err := checkScopeToken(s); err != nil {
			return d.Errf("scopes: %v", err)
		}
	}
	*dst = append(*dst, scopes...)
	return nil
}

func parseDurationArg(d *caddyfile.Dispenser, sub string, args []string, zeroOK bool) (time.Duration, error) {
	if len(args) != 1 {
		return 0, d.Errf("%s: want exactly one duration, e.g. 30s", sub)
	}
	dur, err := caddy.ParseDuration(args[0])
	if err != nil {
		return 0, d.Errf("%s: malformed duration '%s': %v", sub, args[0], err)
	}
	if dur < 0 {
		return 0, d.Errf("%s: duration '%s' must not be negative", sub, args[0])
	}
	if dur == 0 && !zeroOK {
		return 0, d.Errf("%s: duration must be more than zero", sub)
	}
	return dur, nil
}

// Interface guards
var _ caddyfile.Unmarshaler = (*SoloAuth)(nil)
