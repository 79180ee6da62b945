package soloauth

import (
	"encoding/json"
	"strings"

	"github.com/solo-one/caddy-solo-auth/internal/jwt"
)

// Placeholder names. The identity ones are served lazily from the verified
// claims, so a request pays only for the placeholders its config uses.
const (
	placeholderUserID = "http.auth.user.id"
	placeholderPrefix = "solo."
)

// SOLO's namespaced claims behind the short placeholders.
const (
	claimWorkflowID      = "https://api.solo.one/workflow_id"
	claimStakeholderName = "https://api.solo.one/stakeholder_name"
	claimStakeholderType = "https://api.solo.one/stakeholder_type"
)

// placeholder serves {solo.*} and {http.auth.user.id} (which Caddy's
// access log reads for user_id): the identity's values, or empty strings
// where there is no identity or no such claim. A static
// http.auth.user.id (the vars handler's, another auth module's) wins,
// since Caddy asks static values first.
func (st *requestAuth) placeholder(key string) (any, bool) {
	if key == placeholderUserID {
		if st.id == nil {
			return "", true
		}
		return st.id.Subject, true
	}
	name, ok := strings.CutPrefix(key, placeholderPrefix)
	if !ok {
		return nil, false
	}
	switch name {
	case "error":
		return st.detail, true
	case "error_reason":
		return st.reason, true
	}
	if st.id == nil {
		return "", true
	}
	if name == "token_source" {
		return st.source, true
	}
	return identityPlaceholder(st.id, name), true
}

// identityPlaceholder is the value of {solo.<name>} for a verified token.
func identityPlaceholder(id *jwt.Identity, name string) string {
	switch name {
	case "sub":
		return id.Subject
	case "token_type":
		return id.TokenType
	case "permissions":
		return claimText(id.Claims()[jwt.PermissionsClaim])
	case "workflow_id":
		return claimText(id.Claims()[claimWorkflowID])
	case "stakeholder_name":
		return claimText(id.Claims()[claimStakeholderName])
	case "stakeholder_type":
		return claimText(id.Claims()[claimStakeholderType])
	case "sid", "org_id", "role", "roles", "entitlements":
		// WorkOS AuthKit's claims, under their own names.
		return claimText(id.Claims()[name])
	case "act_sub":
		// The impersonator: AuthKit's act claim is {"sub": "<admin>"}.
		if act, ok := id.Claims()["act"].(map[string]any); ok {
			if sub, ok := act["sub"].(string); ok {
				return sub
			}
		}
		return ""
	}
	if claim, ok := strings.CutPrefix(name, "claim."); ok {
		return claimText(id.Claims()[claim])
	}
	return ""
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
