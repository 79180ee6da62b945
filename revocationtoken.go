package soloauth

import (
	"time"

	"github.com/solo-one/caddy-solo-auth/internal/jwt"
)

// revocationToken is a verified identity as the revocation list reads it:
// the conversion from *jwt.Identity costs nothing, and neither package
// knows the other.
type revocationToken jwt.Identity

func (t *revocationToken) RevocationClaims() (sub string, iat time.Time, hasIat bool, sid, jti string) {
	return t.Subject, t.IssuedAt, t.HasIssuedAt, t.SessionID, t.TokenID
}

func (t *revocationToken) TokenSHA256() [32]byte { return (*jwt.Identity)(t).TokenSHA256() }
