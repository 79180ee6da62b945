package soloauth

import (
	"fmt"
	"strings"
)

// mergeScopes joins scope lists in order, dropping repeats, so that the
// required set and the challenge header list each scope once.
func mergeScopes(lists ...[]string) []string {
	var out []string
	seen := make(map[string]bool)
	for _, list := range lists {
		for _, s := range list {
			if !seen[s] {
				seen[s] = true
				out = append(out, s)
			}
		}
	}
	return out
}

// missingScopes returns the required scopes that granted lacks, in the
// order they were required; nil when all are present.
func missingScopes(required, granted []string) []string {
	var missing []string
	for _, want := range required {
		found := false
		for _, have := range granted {
			if have == want {
				found = true
				break
			}
		}
		if !found {
			missing = append(missing, want)
		}
	}
	return missing
}

// checkScopeToken enforces RFC 6750's scope-token grammar
// (%x21 / %x23-5B / %x5D-7E), so that every scope can be quoted in a
// WWW-Authenticate header as it is.
func checkScopeToken(s string) error {
	if s == "" {
		return fmt.Errorf("empty scope")
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return fmt.Errorf("scope %q: only printable ASCII without space, '\"' or '\\' is allowed", s)
		}
	}
	return nil
}

// insufficientScopeChallenge is the WWW-Authenticate value of a 403: every
// required scope, space-separated (RFC 6750 §3).
func insufficientScopeChallenge(required []string) string {
	return `Bearer error="insufficient_scope", scope="` + strings.Join(required, " ") + `"`
}
