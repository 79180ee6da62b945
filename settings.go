package soloauth

import (
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/caddyserver/caddy/v2"
)

// Resolving and checking settings at Provision. Every error names the
// sub-directive (the JSON field's Caddyfile name) it is about.

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
	// The URL is shown redacted: it may carry a credential.
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("invalid URL '%s': not parseable", redactURL(raw))
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("invalid URL '%s': want an absolute http or https URL", redactURL(raw))
	}
	return nil
}

// checkTokenPlaces checks token_query, token_cookie and optional.
func (m *SoloAuth) checkTokenPlaces() error {
	if m.TokenQuery != "" && !isPlainParamName(m.TokenQuery) {
		return fmt.Errorf("token_query: '%s' is not a plain query parameter name (letters, digits, '-', '.', '_', '~')", m.TokenQuery)
	}
	if m.TokenCookie != "" && !isCookieName(m.TokenCookie) {
		return fmt.Errorf("token_cookie: '%s' is not a cookie name (RFC 6265: letters, digits and !#$%%&'*+-.^_`|~)", m.TokenCookie)
	}
	if m.Optional && len(m.requiredScopes) > 0 {
		return fmt.Errorf("optional: not with scopes (%s): a request without a token has none, so the route could not be optional",
			strings.Join(m.requiredScopes, " "))
	}
	return nil
}

// isPlainParamName reports whether s needs no percent-encoding in a
// query (RFC 3986 unreserved characters), so that the one spelling a
// client can send is the one looked for: a name such as "a b" could come
// as "a+b" or "a%20b".
func isPlainParamName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~') {
			return false
		}
	}
	return s != ""
}

// isCookieName reports whether s is an RFC 7230 token, which RFC 6265
// requires of a cookie's name.
func isCookieName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return s != ""
}

// limitToTokenTypes drops the key source of each kind that token_types
// leaves out; naming a kind without its key source, or an unknown kind,
// is an error.
func (m *SoloAuth) limitToTokenTypes(secrets [][]byte, jwksURL string) ([][]byte, string, error) {
	if len(m.TokenTypes) == 0 {
		return secrets, jwksURL, nil
	}
	for _, kind := range m.TokenTypes {
		switch kind {
		case TokenTypeSDK:
			if len(secrets) == 0 {
				return nil, "", fmt.Errorf("token_types: sdk tokens need a `secret`, and none is set")
			}
		case TokenTypeWorkOS:
			if jwksURL == "" {
				return nil, "", fmt.Errorf("token_types: workos tokens need `workos_client_id` or `jwks_url`, and neither is set")
			}
		default:
			return nil, "", fmt.Errorf("token_types: unknown kind '%s': want sdk or workos", kind)
		}
	}
	if !slices.Contains(m.TokenTypes, TokenTypeSDK) {
		secrets = nil
	}
	if !slices.Contains(m.TokenTypes, TokenTypeWorkOS) {
		jwksURL = ""
	}
	return secrets, jwksURL, nil
}
