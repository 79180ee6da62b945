package jwt

import (
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"sync"
	"time"

	"github.com/solo-one/caddy-solo-auth/internal/strictjson"
)

// Identity is what a verified token says about its bearer.
type Identity struct {
	Subject   string
	TokenType string
	KeyID     string
	// Scopes are the scopes granted, from all scope claims.
	Scopes []string
	// ExpiresAt is the token's exp.
	ExpiresAt time.Time
	// IssuedAt is the token's iat, if HasIssuedAt; revocations by
	// subject compare it.
	IssuedAt    time.Time
	HasIssuedAt bool
	// SessionID and TokenID are the `sid` and `jti` claims, if strings;
	// revocations by session and by token id match them.
	SessionID, TokenID string

	token      string // verified; Claims decodes its payload segment
	claimsOnce sync.Once
	claims     map[string]any
	hashOnce   sync.Once
	hash       [sha256.Size]byte // TokenSHA256's result
}

// TokenSHA256 is the SHA-256 of the compact token, computed on first use
// (only while a revocation by token hash exists) and then kept, so that a
// cached identity hashes once.
func (id *Identity) TokenSHA256() [sha256.Size]byte {
	id.hashOnce.Do(func() { id.hash = sha256.Sum256(stringBytes(id.token)) })
	return id.hash
}

// Claims returns every claim of the token, numbers as json.Number. It is
// decoded on first use (the verifier needs only a few claims) and then
// kept, so a cached identity decodes once.
func (id *Identity) Claims() map[string]any {
	id.claimsOnce.Do(func() {
		// The payload passed the same strict checks when it was verified.
		payloadSeg := id.token[strings.IndexByte(id.token, '.')+1 : strings.LastIndexByte(id.token, '.')]
		if payload, err := base64.RawURLEncoding.DecodeString(payloadSeg); err == nil {
			id.claims, _ = strictjson.DecodeObject(payload)
		}
		if id.claims == nil {
			id.claims = map[string]any{}
		}
	})
	return id.claims
}
