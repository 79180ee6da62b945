package soloauth

import (
	"context"
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/solo-one/caddy-solo-auth/internal/jwt"
)

// requestAuth is what solo_auth decided for one request, shared by every
// solo_auth handler the request runs through and read by one placeholder
// provider. A refusal that report_only let through sticks: the request
// would have been refused, so it keeps no identity even if a later
// handler accepts the token.
type requestAuth struct {
	id     *jwt.Identity
	detail string // report_only: the response it would have had
	reason string

	// The request's last verification, which the next solo_auth
	// handler reuses if it has the same verifier and finds the same
	// token: a global option and a route's line verify once.
	verifiedBy    *jwt.Verifier
	verifiedToken string
	verifiedID    *jwt.Identity
	verifiedErr   error

	// source is where the token of id was found: {solo.token_source}.
	source string
	// taken are the query parameters and cookies removed so far.
	taken []takenPlace
}

// varsKey holds the request's requestAuth among Caddy's request vars.
const varsKey = "solo_auth"

// String keeps the state out of {http.vars.solo_auth}.
func (*requestAuth) String() string { return "" }

// authState returns the request's state, creating it and registering its
// placeholder provider on the first solo_auth handler.
func authState(r *http.Request, repl *caddy.Replacer) *requestAuth {
	if st, ok := caddyhttp.GetVar(r.Context(), varsKey).(*requestAuth); ok {
		return st
	}
	st := &requestAuth{}
	caddyhttp.SetVar(r.Context(), varsKey, st)
	repl.Map(st.placeholder)
	return st
}

func (st *requestAuth) authenticated(id *jwt.Identity, source string) {
	if st.detail == "" {
		st.id, st.source = id, source
	}
}

// reportOnlyRefused records a refusal that report_only let through. The
// identity placeholders become known but empty, so that `header_up
// X-Solo-Subject {solo.sub}` sends nothing rather than the text
// "{solo.sub}".
func (st *requestAuth) reportOnlyRefused(detail, reason string) {
	if st.detail == "" {
		st.detail, st.reason = detail, reason
	}
	st.id, st.source = nil, ""
}

// refused records why solo_auth refused the request, for
// {solo.error_reason}: the refusal ends the request, but the access log,
// through log_append, can still say why.
func (st *requestAuth) refused(reason string) { st.reason = reason }

// verify is v.VerifyContext(token), reusing the request's last
// verification when it was by the same verifier of the same token: the
// lines of one key configuration that a request runs through one after
// another verify it once.
func (st *requestAuth) verify(ctx context.Context, v *jwt.Verifier, token string) (*jwt.Identity, error) {
	if st.verifiedBy == v && st.verifiedToken == token {
		return st.verifiedID, st.verifiedErr
	}
	id, err := v.VerifyContext(ctx, token)
	st.verifiedBy, st.verifiedToken, st.verifiedID, st.verifiedErr = v, token, id, err
	return id, err
}
