package soloauth

import (
	"errors"
	"slices"
)

// Merging the solo_auth global option into each directive.

// errNoKeySource is a handler that could verify no token at all.
var errNoKeySource = errors.New("no key source: set `secret` for SDK tokens or `workos_client_id`, `jwks_url` or `jwks_file` for WorkOS tokens")

func (m *SoloAuth) hasKeySource() bool {
	return len(m.Secrets) > 0 || m.hasWorkOSSource()
}

// hasWorkOSSource reports whether any of the three WorkOS key sources is
// named: workos_client_id, jwks_url or jwks_file.
func (m *SoloAuth) hasWorkOSSource() bool {
	return len(m.WorkOSClientID) > 0 || len(m.JWKSURL) > 0 || len(m.JWKSFile) > 0
}

// withOverrides returns the global defaults with a directive's own
// settings on top: each setting the directive gives replaces the default,
// except scopes, which add to it.
func (m *SoloAuth) withOverrides(local *SoloAuth) *SoloAuth {
	out := *m
	out.Secrets = overrideList(m.Secrets, local.Secrets)
	out.Issuers = overrideList(m.Issuers, local.Issuers)
	out.Audiences = overrideList(m.Audiences, local.Audiences)
	out.ScopeClaims = overrideList(m.ScopeClaims, local.ScopeClaims)
	out.Scopes = mergeScopes(m.Scopes, local.Scopes)
	if local.hasWorkOSSource() {
		// A route that names its own key sources wants those keys, not
		// a URL or a file inherited for another client: the three are
		// replaced together.
		out.WorkOSClientID = StringList(slices.Clone(local.WorkOSClientID))
		out.JWKSURL = StringList(slices.Clone(local.JWKSURL))
		out.JWKSFile = StringList(slices.Clone(local.JWKSFile))
	}
	if local.Leeway != nil {
		out.Leeway = local.Leeway
	}
	if local.JWKSRefresh != 0 {
		out.JWKSRefresh = local.JWKSRefresh
	}
	out.TokenTypes = overrideList(m.TokenTypes, local.TokenTypes)
	if local.TokenQuery != "" {
		out.TokenQuery = local.TokenQuery
	}
	if local.TokenCookie != "" {
		out.TokenCookie = local.TokenCookie
	}
	out.AllowCORSPreflight = m.AllowCORSPreflight || local.AllowCORSPreflight
	out.ReportOnly = m.ReportOnly || local.ReportOnly
	out.Optional = m.Optional || local.Optional
	return &out
}

func overrideList(global, local []string) []string {
	if len(local) > 0 {
		return slices.Clone(local)
	}
	return slices.Clone(global)
}
