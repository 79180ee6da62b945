package soloauth

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/solo-one/caddy-solo-auth/internal/jwt"
	"github.com/solo-one/caddy-solo-auth/internal/revocation"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// ServeHTTP authenticates the request, then calls next or answers with
// the refusal.
func (m *SoloAuth) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	repl := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	state := authState(r, repl)
	// Before anything else, so that a query or cookie token is removed
	// on every request, a preflight's too.
	found := state.takeToken(r, m.TokenQuery, m.TokenCookie)
	if m.AllowCORSPreflight && isCORSPreflight(r) {
		// No identity: the placeholders stay empty.
		return next.ServeHTTP(w, r)
	}

	var id *jwt.Identity
	var refusal *response
	var verr *jwt.VerifyError
	switch found.problem {
	case tokenMissing:
		if m.Optional {
			// Anonymous: the identity placeholders are known and empty.
			countRequest(outcomeAnonymous, "")
			return next.ServeHTTP(w, r)
		}
		refusal = &respMissing
		verr = &jwt.VerifyError{Kind: jwt.KindInvalid, Reason: "no bearer token"}
	case tokenInvalid:
		refusal = &respInvalid
		verr = &jwt.VerifyError{Kind: jwt.KindInvalid, Reason: found.reason}
	default:
		var err error
		id, err = state.verify(r.Context(), m.verifier, found.token)
		if err != nil {
			var ok bool
			if verr, ok = err.(*jwt.VerifyError); !ok {
				verr = &jwt.VerifyError{Kind: jwt.KindInvalid, Reason: "verification failed", Err: err}
			}
			refusal = responseFor(verr.Kind)
		} else if m.revocations.Revokes((*revocationToken)(id)) {
			// After verification, cached or not: a revocation
			// applies from the moment it is made.
			refusal = &respRevoked
			verr = &jwt.VerifyError{Kind: jwt.KindInvalid, Reason: revocation.ReasonRevoked,
				KeyID: id.KeyID, Subject: id.Subject, TokenType: id.TokenType}
		} else if missing := missingScopes(m.requiredScopes, id.Scopes); missing != nil {
			refusal = &m.forbidden
			verr = &jwt.VerifyError{Kind: jwt.KindInvalid, Reason: "missing scopes: " + strings.Join(missing, " "),
				KeyID: id.KeyID, Subject: id.Subject, TokenType: id.TokenType}
		}
	}

	if refusal == nil {
		countRequest(outcomeOK, id.TokenType)
		state.authenticated(id, found.from)
		return next.ServeHTTP(w, r)
	}
	countRequest(outcomeOf(refusal), verr.TokenType)
	m.logRefusal(refusal, verr, found.from)
	if m.ReportOnly {
		state.reportOnlyRefused(refusal.detail, verr.Reason)
		return next.ServeHTTP(w, r)
	}
	state.refused(verr.Reason)
	if refusal == &respUnavailable && m.keys != nil {
		w.Header().Set("Retry-After", strconv.Itoa(m.keys.RetryAfter()))
	}
	refusal.write(w)
	return nil
}

// logRefusal logs why a request was refused, never the token: the request
// URI is left to the access log, since clients put tokens in query strings.
func (m *SoloAuth) logRefusal(refusal *response, verr *jwt.VerifyError, from string) {
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
		zap.String("source", from),
		zap.Bool("report_only", m.ReportOnly),
	)
}

func isCORSPreflight(r *http.Request) bool {
	return r.Method == http.MethodOptions &&
		r.Header.Get("Origin") != "" &&
		r.Header.Get("Access-Control-Request-Method") != ""
}
