package soloauth

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

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
		id, err = state.verify(r.Context(), m.verifier, token)
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

// verify is v.VerifyContext(token), once per request for each verifier
// and token.
func (st *requestAuth) verify(ctx context.Context, v *Verifier, token string) (*Identity, error) {
	if st.verifiedBy == v && st.verifiedToken == token {
		return st.verifiedID, st.verifiedErr
	}
	id, err := v.VerifyContext(ctx, token)
	st.verifiedBy, st.verifiedToken, st.verifiedID, st.verifiedErr = v, token, id, err
	return id, err
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

type tokenProblem int

const (
	tokenPresent   tokenProblem = iota
	tokenMissing                // no header, another scheme, or an empty token
	tokenAmbiguous              // more than one Authorization header
)

// bearerToken reads the token of `Authorization: Bearer <token>`, with the
// scheme matched case-insensitively (RFC 7235 §2.1). The token is returned
// as sent, surrounding spaces aside: the verifier refuses anything that is
// not a compact JWS, so nothing is cleaned up here.
func bearerToken(h http.Header) (string, tokenProblem) {
	values := h["Authorization"]
	switch len(values) {
	case 0:
		return "", tokenMissing
	case 1:
	default:
		return "", tokenAmbiguous
	}
	scheme, rest, _ := strings.Cut(values[0], " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", tokenMissing
	}
	token := strings.Trim(rest, " ")
	if token == "" {
		return "", tokenMissing
	}
	return token, tokenPresent
}
