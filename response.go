package soloauth

import (
	"net/http"
	"strconv"
	"strings"
)

// response is a refusal, built once and written as it is: the bodies and
// headers are the contract's, byte for byte.
type response struct {
	status    int
	detail    string
	body      []byte
	challenge string // WWW-Authenticate; empty for none
	length    string // Content-Length
}

func newResponse(status int, detail, challenge string) response {
	body := []byte(`{"detail":` + strconv.Quote(detail) + `}`)
	return response{status: status, detail: detail, body: body, challenge: challenge, length: strconv.Itoa(len(body))}
}

// The refusals of the contract's request table.
var (
	respMissing = newResponse(http.StatusUnauthorized, "Not authenticated", "Bearer")
	respInvalid = newResponse(http.StatusUnauthorized, "Invalid token", `Bearer error="invalid_token"`)
	respExpired = newResponse(http.StatusUnauthorized, "Token has expired",
		`Bearer error="invalid_token", error_description="The token has expired"`)
	respUnavailable = newResponse(http.StatusServiceUnavailable, "Authentication service unavailable", "")
)

func forbiddenResponse(required []string) response {
	return newResponse(http.StatusForbidden, "Not enough permissions", insufficientScopeChallenge(required))
}

func responseFor(kind ErrorKind) *response {
	switch kind {
	case KindExpired:
		return &respExpired
	case KindUnavailable:
		return &respUnavailable
	}
	return &respInvalid
}

// write sends the refusal. Header values are fresh slices, never the
// shared ones: a deferred `header` handler edits values in place.
func (r *response) write(w http.ResponseWriter) {
	h := w.Header()
	h["Content-Type"] = []string{"application/json"}
	h["Content-Length"] = []string{r.length}
	if r.challenge != "" {
		h["Www-Authenticate"] = []string{r.challenge}
	}
	w.WriteHeader(r.status)
	_, _ = w.Write(r.body)
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
