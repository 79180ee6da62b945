package soloauth

import (
	"fmt"
	"net/url"
	"path/filepath"
	"slices"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/solo-one/caddy-solo-auth/internal/jwt"
	"github.com/solo-one/caddy-solo-auth/internal/keys"
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

// jwksURLs are the URLs of the fetched key sets: every jwks_url if any
// is set, else one derived from each workos_client_id; none when neither
// is configured. A URL given twice is fetched once.
func (m *SoloAuth) jwksURLs(repl *caddy.Replacer) ([]string, error) {
	var urls []string
	if len(m.JWKSURL) > 0 {
		for _, raw := range m.JWKSURL {
			u := repl.ReplaceKnown(raw, "")
			if err := checkJWKSURL(u); err != nil {
				return nil, fmt.Errorf("jwks_url: %w", err)
			}
			urls = appendNew(urls, u)
		}
		return urls, nil
	}
	for _, raw := range m.WorkOSClientID {
		clientID := repl.ReplaceKnown(raw, "")
		if clientID == "" {
			return nil, fmt.Errorf("workos_client_id: empty after resolving placeholders (%s)", raw)
		}
		urls = appendNew(urls, WorkOSJWKSBase+url.PathEscape(clientID))
	}
	return urls, nil
}

// jwksFilePaths are the jwks_file paths, placeholders resolved; a file
// given twice is read once.
func (m *SoloAuth) jwksFilePaths(repl *caddy.Replacer) ([]string, error) {
	var paths []string
	for _, raw := range m.JWKSFile {
		p := repl.ReplaceKnown(raw, "")
		if p == "" {
			return nil, fmt.Errorf("jwks_file: empty path after resolving placeholders (%s)", raw)
		}
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, fmt.Errorf("jwks_file: %s: %w", p, err)
		}
		paths = appendNew(paths, abs)
	}
	return paths, nil
}

func appendNew(list []string, s string) []string {
	if slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}

func checkJWKSURL(raw string) error {
	// The URL is shown redacted: it may carry a credential.
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("invalid URL '%s': not parseable", keys.RedactURL(raw))
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("invalid URL '%s': want an absolute http or https URL", keys.RedactURL(raw))
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

// limitToTokenTypes drops the key sources of each kind that token_types
// leaves out (workos: every jwks_url, workos_client_id and jwks_file);
// naming a kind without its key source, or an unknown kind, is an error.
func limitToTokenTypes(tokenTypes []string, secrets [][]byte, workos bool) ([][]byte, bool, error) {
	if len(tokenTypes) == 0 {
		return secrets, workos, nil
	}
	for _, kind := range tokenTypes {
		switch kind {
		case jwt.TokenTypeSDK:
			if len(secrets) == 0 {
				return nil, false, fmt.Errorf("token_types: sdk tokens need a `secret`, and none is set")
			}
		case jwt.TokenTypeWorkOS:
			if !workos {
				return nil, false, fmt.Errorf("token_types: workos tokens need `workos_client_id`, `jwks_url` or `jwks_file`, and none is set")
			}
		default:
			return nil, false, fmt.Errorf("token_types: unknown kind '%s': want sdk or workos", kind)
		}
	}
	if !slices.Contains(tokenTypes, jwt.TokenTypeSDK) {
		secrets = nil
	}
	return secrets, workos && slices.Contains(tokenTypes, jwt.TokenTypeWorkOS), nil
}
