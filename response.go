package soloauth

import (
	"net/http"
	"strconv"

	"github.com/solo-one/caddy-solo-auth/internal/jwt"
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
	// respRevoked is respInvalid byte for byte; its own value so that the
	// requests metric counts it as revoked.
	respRevoked = newResponse(http.StatusUnauthorized, "Invalid token", `Bearer error="invalid_token"`)
)

func forbiddenResponse(required []string) response {
	return newResponse(http.StatusForbidden, "Not enough permissions", insufficientScopeChallenge(required))
}

func responseFor(kind jwt.ErrorKind) *response {
	switch kind {
	case jwt.KindExpired:
		return &respExpired
	case jwt.KindUnavailable:
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
