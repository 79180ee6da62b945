// Package jwt verifies SOLO bearer tokens: HS256 with a shared secret and
// RS256 with keys from an RSAKeySource, in a fixed order (size, shape,
// header, signature, claims), with a cache of verified tokens. It knows
// go-jose and the JOSE rules, and nothing of Caddy, key sets or
// revocation.
package jwt

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// MinSecretLength is RFC 7518 §3.2's floor for an HS256 key, in bytes.
const MinSecretLength = 32

// Token types, as {solo.token_type} reports them.
const (
	TokenTypeSDK    = "sdk"    // HS256, verified with a configured secret
	TokenTypeWorkOS = "workos" // RS256, verified with a key from the JWKS
)

// ErrorKind sorts a refusal into the response the client gets.
type ErrorKind int

const (
	// KindInvalid is a 401 "Invalid token".
	KindInvalid ErrorKind = iota
	// KindExpired is a 401 "Token has expired".
	KindExpired
	// KindUnavailable is a 503: the token needs a key set that has never
	// been loaded.
	KindUnavailable
)

// VerifyError says why a token was refused. Reason is a short, fixed
// phrase safe to log; it never contains the token or any key material.
type VerifyError struct {
	Kind   ErrorKind
	Reason string
	// TokenType is TokenTypeSDK or TokenTypeWorkOS once the header's alg
	// was read and accepted, else empty.
	TokenType string
	// KeyID and Subject are set where they were known at the point of
	// refusal (Subject only after the signature was verified).
	KeyID   string
	Subject string
	// Err is an underlying error, where there is one.
	Err error
}

func (e *VerifyError) Error() string {
	if e.Err != nil {
		return e.Reason + ": " + e.Err.Error()
	}
	return e.Reason
}

func (e *VerifyError) Unwrap() error { return e.Err }

// Errors an RSAKeySource returns.
var (
	// ErrUnknownKeyID: the key set is loaded but has no usable key under
	// this kid.
	ErrUnknownKeyID = errors.New("unknown kid")
	// ErrKeysUnavailable: no key set has been loaded yet.
	ErrKeysUnavailable = errors.New("key set not loaded")
)

// RSAKeySource finds the RS256 verification keys published under a kid,
// in one key set or several. It never returns a key for a kid it does not
// hold.
type RSAKeySource interface {
	// RSAKeys returns the keys published under kid: first, and more where
	// several key sets name the kid (each is tried). It may fetch to find
	// an unknown kid; it stops waiting for that when ctx is done.
	RSAKeys(ctx context.Context, kid string) (first *rsa.PublicKey, more []*rsa.PublicKey, err error)
	// KeyInUse reports whether key is still published under kid in a set
	// now in use; it never fetches. The token cache asks it on every hit
	// for an RS256 token.
	KeyInUse(kid string, key *rsa.PublicKey) bool
}

// Verifier checks tokens. Its fields are set once, before first use; it is
// then safe for concurrent use.
type Verifier struct {
	// Secrets verify HS256 tokens; any one of them may have signed it.
	Secrets [][]byte
	// RSAKeys verifies RS256 tokens; nil means RS256 tokens are refused.
	RSAKeys RSAKeySource
	// Issuers, if not empty, lists the accepted iss values; one trailing
	// slash on either side is ignored (issuerAccepted).
	Issuers []string
	// Audiences, if not empty: aud must contain one of them.
	Audiences []string
	// Leeway is the clock skew allowed on exp, nbf and iat.
	Leeway time.Duration
	// ScopeClaims names the claims that hold granted scopes.
	ScopeClaims []string
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// ObserveCache, if set, is told whether each Verify found the token
	// in the cache.
	ObserveCache func(hit bool)

	cache *tokenCache // nil: every token is verified in full

	macsOnce sync.Once
	macs     []*hmacKey // one per secret, built on first use
}

// EnableCache makes the verifier remember up to entries verified tokens
// (see tokenCache). Call it before first use.
func (v *Verifier) EnableCache(entries int) {
	v.cache = newTokenCache(entries)
}

func (v *Verifier) keyMACs() {
	v.macs = make([]*hmacKey, len(v.Secrets))
	for i, secret := range v.Secrets {
		v.macs[i] = newHMACKey(secret)
	}
}

func (v *Verifier) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

func invalid(reason string, err error) *VerifyError {
	return &VerifyError{Kind: KindInvalid, Reason: reason, Err: err}
}

// Verify checks a compact-serialized JWS and its claims. The order is
// fixed: size, shape, header, signature, then claims, so that nothing about
// a token's claims is reported before its signature is known to be good.
func (v *Verifier) Verify(token string) (*Identity, error) {
	return v.VerifyContext(context.Background(), token)
}

// VerifyContext is Verify for a request: a wait for the key set, on an
// RS256 token with an unknown kid, ends when ctx does.
func (v *Verifier) VerifyContext(ctx context.Context, token string) (*Identity, error) {
	var now time.Time
	var h uint64
	if v.cache != nil {
		now = v.now()
		h = v.cache.hash(token)
		id, hit := v.cache.get(token, h, now, v.RSAKeys)
		if v.ObserveCache != nil {
			v.ObserveCache(hit)
		}
		if hit {
			return id, nil
		}
	}
	var payloadBuf [1024]byte
	payload, tokenType, kid, key, verr := v.verifySignature(ctx, token, payloadBuf[:])
	if verr != nil {
		return nil, verr
	}
	id, verr := v.checkClaims(payload)
	if verr != nil {
		verr.KeyID, verr.TokenType = kid, tokenType
		return nil, verr
	}
	id.TokenType = tokenType
	id.KeyID = kid
	id.token = token // the cache keeps it anyway; the claims are decoded from it only if asked
	if v.cache != nil {
		v.cache.put(token, h, cacheEntry{id: id, validUntil: id.ExpiresAt.Add(v.Leeway), key: key}, now)
	}
	return id, nil
}

// verifySignature is the JWS layer: it returns the payload of a token
// whose signature a configured key made, with the token type, the kid and,
// for RS256, the key that verified it. The payload is decoded into buf if
// it fits, and is only valid as long as buf.
func (v *Verifier) verifySignature(ctx context.Context, token string, buf []byte) (payload []byte, tokenType, kid string, key *rsa.PublicKey, _ *VerifyError) {
	if len(token) > MaxTokenSize {
		return nil, "", "", nil, invalid("token too large", nil)
	}
	first, last, ok := compactSegments(token)
	if !ok {
		return nil, "", "", nil, invalid("malformed token", nil)
	}
	header, err := readHeader(token[:first])
	if err != nil {
		return nil, "", "", nil, invalid("malformed header", err)
	}
	alg, kid, verr := checkHeader(header)
	if verr != nil {
		return nil, "", kid, nil, verr
	}
	// The JWS signing input is the first two segments as sent (RFC 7515
	// §5.2); the shape check made them canonical, so this is the one
	// encoding of what was signed.
	signingInput := token[:last]
	var sigBuf [512]byte
	sig, err := decodeSegment(sigBuf[:], token[last+1:])
	if err != nil {
		return nil, "", kid, nil, &VerifyError{Kind: KindInvalid, Reason: "malformed signature", KeyID: kid,
			TokenType: tokenTypeOf(alg), Err: err}
	}
	tokenType = tokenTypeOf(alg)
	switch tokenType {
	case TokenTypeSDK:
		verr = v.verifyHS256(signingInput, sig)
	case TokenTypeWorkOS:
		key, verr = v.verifyRS256(ctx, signingInput, sig, kid)
	}
	if verr != nil {
		verr.KeyID, verr.TokenType = kid, tokenType
		return nil, "", kid, nil, verr
	}
	payload, err = decodeSegment(buf, token[first+1:last])
	if err != nil {
		return nil, "", kid, nil, &VerifyError{Kind: KindInvalid, Reason: "malformed payload", KeyID: kid, TokenType: tokenType, Err: err}
	}
	return payload, tokenType, kid, key, nil
}

// tokenTypeOf names the kind of token an accepted alg signs.
func tokenTypeOf(alg string) string {
	if alg == string(jose.RS256) {
		return TokenTypeWorkOS
	}
	return TokenTypeSDK
}

// verifyHS256 checks an HMAC-SHA256 signature against each configured
// secret, comparing in constant time (crypto/hmac.Equal).
func (v *Verifier) verifyHS256(signingInput string, sig []byte) *VerifyError {
	if len(v.Secrets) == 0 {
		return invalid("HS256 token but no secret configured", nil)
	}
	if len(sig) != sha256.Size {
		return invalid("bad signature", nil)
	}
	v.macsOnce.Do(v.keyMACs)
	for i := range v.Secrets {
		if v.macs[i].verify(signingInput, sig) {
			return nil
		}
	}
	return invalid("bad signature", nil)
}

// verifyRS256 checks an RSASSA-PKCS1-v1_5 SHA-256 signature with the keys
// that the key sets publish under kid, and only those keys.
func (v *Verifier) verifyRS256(ctx context.Context, signingInput string, sig []byte, kid string) (*rsa.PublicKey, *VerifyError) {
	if v.RSAKeys == nil {
		return nil, invalid("RS256 token but no JWKS configured", nil)
	}
	if kid == "" {
		return nil, invalid("RS256 token without kid", nil)
	}
	key, more, err := v.RSAKeys.RSAKeys(ctx, kid)
	switch {
	case errors.Is(err, ErrKeysUnavailable):
		return nil, &VerifyError{Kind: KindUnavailable, Reason: "key set unavailable", Err: err}
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		return nil, invalid("request ended while the key set was fetched", err)
	case err != nil:
		return nil, invalid("unknown kid", err)
	}
	digest := sha256.Sum256(stringBytes(signingInput))
	if rsa.VerifyPKCS1v15(key, crypto.SHA256, digest[:], sig) == nil {
		return key, nil
	}
	// Two key sets may publish the kid with different keys: each is tried.
	for _, k := range more {
		if rsa.VerifyPKCS1v15(k, crypto.SHA256, digest[:], sig) == nil {
			return k, nil
		}
	}
	return nil, invalid("bad signature", nil)
}
