// Package revocation refuses verified tokens before they expire: entries
// by subject, token hash, session or token id (entry.go), the immutable
// index the request path looks tokens up in (index.go), the process's list
// (list.go), and keeping it in step with the storage a fleet shares
// (store.go, sync.go). It knows neither Caddy nor how tokens are verified:
// storage comes through the Store interface, tokens through Token, and the
// failure metric through a callback.
package revocation

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

const (
	// DefaultTTL is how long an entry lasts without "until".
	DefaultTTL = 24 * time.Hour
	// MaxTTL is the longest an entry may last.
	MaxTTL = 30 * 24 * time.Hour
	// maxValue bounds a sub, sid or jti: no real one is longer.
	maxValue = 1024
	// reasonRevoked is the refusal reason, in the debug log and in
	// {solo.error_reason}.
	ReasonRevoked = "revoked"
)

// Entry is one entry: exactly one of Sub, TokenSHA256, SID and JTI is
// set. It is never changed once made; lifting it deletes it.
type Entry struct {
	ID string `json:"id"`
	// Sub refuses the subject's tokens issued up to Created's second
	// (iat at or before it, or no iat).
	Sub string `json:"sub,omitempty"`
	// TokenSHA256 refuses the one token whose SHA-256 this is (lowercase
	// hex of the compact token).
	TokenSHA256 string `json:"token_sha256,omitempty"`
	// SID refuses tokens whose `sid` claim (a WorkOS session) is this.
	SID string `json:"sid,omitempty"`
	// JTI refuses tokens whose `jti` claim is this.
	JTI     string    `json:"jti,omitempty"`
	Created time.Time `json:"created"`
	// Until is when the entry stops applying (it applies before it).
	Until time.Time `json:"until"`

	tokenHash [32]byte // TokenSHA256, decoded
}

// Kind names the entry's kind: sub, token_sha256, sid or jti.
func (e *Entry) Kind() string {
	switch {
	case e.Sub != "":
		return "sub"
	case e.TokenSHA256 != "":
		return "token_sha256"
	case e.SID != "":
		return "sid"
	}
	return "jti"
}

// Value is what the entry names; a token hash, never a token.
func (e *Entry) Value() string {
	return e.Sub + e.TokenSHA256 + e.SID + e.JTI // exactly one is set
}

func (e *Entry) inForce(now time.Time) bool { return now.Before(e.Until) }

// revocationRequest is the body of POST /solo_auth/revocations. Pointers
// tell an absent member from an empty one.
type revocationRequest struct {
	Sub         *string `json:"sub"`
	TokenSHA256 *string `json:"token_sha256"`
	SID         *string `json:"sid"`
	JTI         *string `json:"jti"`
	Until       *string `json:"until"`
}

// ParseRequest judges a request body and returns the entry it
// asks for, created at now, with a fresh id. Every error is the client's
// (a 400): not one JSON object, an unknown or duplicate member, a wrong
// type, no kind or two, an empty or overlong value, a malformed hash, an
// until that is not RFC 3339, not after now or more than 30 days ahead.
func ParseRequest(body []byte, now time.Time) (*Entry, error) {
	var req revocationRequest
	// RejectUnknownMembers; duplicate names and trailing data are errors
	// by default in this json package.
	if err := json.Unmarshal(body, &req, json.RejectUnknownMembers(true)); err != nil {
		return nil, fmt.Errorf("body: want one JSON object with one of sub, token_sha256, sid, jti and optionally until: %w", err)
	}
	// null would read as absent: it is a wrong type (every member is a
	// string), not a way to leave one out.
	var members map[string]jsontext.Value
	if err := json.Unmarshal(body, &members); err != nil {
		return nil, fmt.Errorf("body: %w", err)
	}
	for name, v := range members {
		if v.Kind() == 'n' {
			return nil, fmt.Errorf("%s: null; want a string", name)
		}
	}
	e := &Entry{Created: now.UTC(), Until: now.Add(DefaultTTL).UTC()}
	kinds := 0
	for _, k := range []struct {
		name string
		val  *string
		dst  *string
	}{{"sub", req.Sub, &e.Sub}, {"token_sha256", req.TokenSHA256, &e.TokenSHA256}, {"sid", req.SID, &e.SID}, {"jti", req.JTI, &e.JTI}} {
		if k.val == nil {
			continue
		}
		kinds++
		if err := checkRevocationValue(k.name, *k.val); err != nil {
			return nil, err
		}
		*k.dst = *k.val
	}
	if kinds != 1 {
		return nil, fmt.Errorf("want exactly one of sub, token_sha256, sid, jti; got %d", kinds)
	}
	if e.TokenSHA256 != "" {
		e.TokenSHA256 = strings.ToLower(e.TokenSHA256)
		_, _ = hex.Decode(e.tokenHash[:], []byte(e.TokenSHA256)) // checked above
	}
	if req.Until != nil {
		until, err := time.Parse(time.RFC3339, *req.Until)
		if err != nil {
			return nil, fmt.Errorf("until: not an RFC 3339 time: %q", *req.Until)
		}
		if !until.After(now) {
			return nil, fmt.Errorf("until: %s is not in the future", *req.Until)
		}
		if until.Sub(now) > MaxTTL {
			return nil, fmt.Errorf("until: %s is more than %v ahead", *req.Until, MaxTTL)
		}
		e.Until = until.UTC()
	}
	id, err := newRevocationID()
	if err != nil {
		return nil, err
	}
	e.ID = id
	return e, nil
}

func checkRevocationValue(kind, v string) error {
	switch {
	case v == "":
		return fmt.Errorf("%s: empty", kind)
	case len(v) > maxValue:
		return fmt.Errorf("%s: longer than %d bytes", kind, maxValue)
	case !utf8.ValidString(v):
		return fmt.Errorf("%s: not valid UTF-8", kind)
	case kind == "token_sha256" && (len(v) != 64 || !isHex(v)):
		return fmt.Errorf("token_sha256: want 64 hex digits (the SHA-256 of the compact token)")
	}
	return nil
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i] | 0x20 // lower case
		if !('0' <= s[i] && s[i] <= '9') && !('a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// newRevocationID is 16 random lowercase hex digits: unguessable enough
// for a name, and safe in a storage key and a URL path.
func newRevocationID() (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("revocation id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// isRevocationID reports whether s has the shape newRevocationID makes.
func IsID(s string) bool {
	return len(s) == 16 && isHex(s) && strings.ToLower(s) == s
}

// checkStored validates an entry read from storage (another instance
// wrote it, or a person): the same rules as a request, minus the clock.
func (e *Entry) checkStored() error {
	if !IsID(e.ID) {
		return errors.New("malformed id")
	}
	kinds := 0
	for _, k := range []struct{ name, val string }{{"sub", e.Sub}, {"token_sha256", e.TokenSHA256}, {"sid", e.SID}, {"jti", e.JTI}} {
		if k.val == "" {
			continue
		}
		kinds++
		if err := checkRevocationValue(k.name, k.val); err != nil {
			return err
		}
	}
	if kinds != 1 {
		return fmt.Errorf("want exactly one kind, got %d", kinds)
	}
	if !e.Until.After(e.Created) {
		return errors.New("until not after created")
	}
	if e.TokenSHA256 != "" {
		e.TokenSHA256 = strings.ToLower(e.TokenSHA256)
		_, _ = hex.Decode(e.tokenHash[:], []byte(e.TokenSHA256))
	}
	return nil
}
