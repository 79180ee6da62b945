package soloauth

import (
	"encoding/json"
	"strings"

	"github.com/caddyserver/caddy/v2"
)

// Placeholder names. The identity ones are served lazily from the verified
// claims, so a request pays only for the placeholders its config uses.
const (
	placeholderUserID      = "http.auth.user.id"
	placeholderPrefix      = "solo."
	placeholderClaimPrefix = "solo.claim."
	// placeholderError is set in report_only mode on a request that would
	// have been refused: the response's detail, e.g. "Invalid token".
	placeholderError = "solo.error"
	// placeholderErrorReason is the finer reason, e.g. "bad signature".
	placeholderErrorReason = "solo.error_reason"
)

// SOLO's namespaced claims behind the short placeholders.
const (
	claimWorkflowID      = "https://api.solo.one/workflow_id"
	claimStakeholderName = "https://api.solo.one/stakeholder_name"
	claimStakeholderType = "https://api.solo.one/stakeholder_type"
)

func setIdentityPlaceholders(repl *caddy.Replacer, id *Identity) {
	// Static, because Caddy's access log reads it for user_id.
	repl.Set(placeholderUserID, id.Subject)
	repl.Map(id.placeholder)
}

// setAnonymousPlaceholders makes the identity placeholders known but
// empty on a request that report_only let through unauthenticated, so
// that `header_up X-Solo-Subject {solo.sub}` sends nothing rather than the
// placeholder's text.
func setAnonymousPlaceholders(repl *caddy.Replacer, refusal *response, reason string) {
	repl.Set(placeholderUserID, "")
	repl.Set(placeholderError, refusal.detail)
	repl.Set(placeholderErrorReason, reason)
	repl.Map(anonymousPlaceholder)
}

func anonymousPlaceholder(key string) (any, bool) {
	if strings.HasPrefix(key, placeholderPrefix) {
		return "", true
	}
	return nil, false
}

// placeholder serves {solo.*} from the identity.
func (id *Identity) placeholder(key string) (any, bool) {
	name, ok := strings.CutPrefix(key, placeholderPrefix)
	if !ok {
		return nil, false
	}
	switch name {
	case "sub":
		return id.Subject, true
	case "token_type":
		return id.TokenType, true
	case "permissions":
		return claimText(id.Claims[PermissionsClaim]), true
	case "workflow_id":
		return claimText(id.Claims[claimWorkflowID]), true
	case "stakeholder_name":
		return claimText(id.Claims[claimStakeholderName]), true
	case "stakeholder_type":
		return claimText(id.Claims[claimStakeholderType]), true
	}
	if claim, ok := strings.CutPrefix(key, placeholderClaimPrefix); ok {
		return claimText(id.Claims[claim]), true
	}
	return "", true // {solo.error} on success, and names we do not define
}

// claimText renders a claim for a header or a log: strings as they are,
// numbers as the token wrote them, arrays comma-separated, objects as
// JSON, and absent or null claims as the empty string.
func claimText(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case json.Number:
		return string(v)
	case bool:
		if v {
			return "true"
		}
		return "false"
	case []any:
		parts := make([]string, len(v))
		for i, item := range v {
			parts[i] = claimText(item)
		}
		return strings.Join(parts, ",")
	}
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(b)
}
