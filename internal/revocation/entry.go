// Package revocation refuses verified tokens before they expire: entries
// by subject, token hash, session or token id (entry.go), the immutable
// index the request path looks tokens up in (index.go), the process's list
// (list.go) and its changes (change.go, event.go), and keeping it in step with the storage a fleet shares
// (store.go, sync.go). It knows neither Caddy nor how tokens are verified:
// storage comes through the Store interface, tokens through Token, and the
// failure metric through a callback.
package revocation

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

const (
	// defaultTTL is how long an entry lasts without "until".
	defaultTTL = 24 * time.Hour
	// maxTTL is the longest an entry may last.
	maxTTL = 30 * 24 * time.Hour
	// maxValue bounds a sub, sid or jti: no real one is longer.
	maxValue = 1024
	// ReasonRevoked is the refusal reason, in the debug log and in
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
	// Event is the identity provider's event that made the entry (a
	// WorkOS event id); empty for one made through the admin API.
	Event string `json:"event,omitempty"`

	tokenHash [32]byte // TokenSHA256, decoded
}

// kind is one of the four ways an entry names tokens. kinds lists them
// once, in the order the API documents them: parsing, checking, naming
// and showing an entry all go through it.
type kind struct {
	name  string // as the API and storage spell it
	field func(*Entry) *string
}

var kinds = [...]kind{
	{"sub", func(e *Entry) *string { return &e.Sub }},
	{"token_sha256", func(e *Entry) *string { return &e.TokenSHA256 }},
	{"sid", func(e *Entry) *string { return &e.SID }},
	{"jti", func(e *Entry) *string { return &e.JTI }},
}

// kindNames is "sub, token_sha256, sid, jti", for messages.
var kindNames = func() string {
	names := make([]string, len(kinds))
	for i, k := range kinds {
		names[i] = k.name
	}
	return strings.Join(names, ", ")
}()

// kindName names the entry's kind: sub, token_sha256, sid or jti.
func (e *Entry) kindName() string {
	for _, k := range kinds {
		if *k.field(e) != "" {
			return k.name
		}
	}
	return ""
}

// value is what the entry names; a token hash, never a token.
func (e *Entry) value() string {
	for _, k := range kinds {
		if v := *k.field(e); v != "" {
			return v
		}
	}
	return ""
}

func (e *Entry) inForce(now time.Time) bool { return now.Before(e.Until) }

// untilMember is the request's optional member beside the kind.
const untilMember = "until"

// ParseRequest judges the body of POST /solo_auth/revocations and returns
// the entry it asks for, created at now, with a fresh id. Every error is
// the client's (a 400): not one JSON object, an unknown or duplicate
// member, a member that is not a string (null included), no kind or two,
// an empty or overlong value, a malformed hash, an until that is not RFC
// 3339, not after now or more than 30 days ahead.
func ParseRequest(body []byte, now time.Time) (*Entry, error) {
	// Duplicate names, invalid UTF-8 and trailing data are errors by
	// default in this json package.
	var members map[string]jsontext.Value
	if err := json.Unmarshal(body, &members); err != nil {
		return nil, fmt.Errorf("body: want one JSON object with one of %s and optionally until: %w", kindNames, err)
	}
	text := func(name string) (string, bool, error) {
		raw, ok := members[name]
		if !ok {
			return "", false, nil
		}
		// null would read as absent: it is a wrong type, not a way to
		// leave a member out.
		if raw.Kind() != '"' {
			return "", true, fmt.Errorf("%s: %s; want a string", name, jsonKindName(raw.Kind()))
		}
		var v string
		if err := json.Unmarshal(raw, &v); err != nil {
			return "", true, fmt.Errorf("%s: %w", name, err)
		}
		return v, true, nil
	}
	for _, name := range slices.Sorted(maps.Keys(members)) {
		if name != untilMember && !slices.ContainsFunc(kinds[:], func(k kind) bool { return k.name == name }) {
			return nil, fmt.Errorf("%s: unknown member; want one of %s and optionally until", name, kindNames)
		}
	}
	e := &Entry{Created: now.UTC(), Until: now.Add(defaultTTL).UTC()}
	given := 0
	for _, k := range kinds {
		v, ok, err := text(k.name)
		if err != nil {
			return nil, err
		}
		if ok {
			given++
			if err := checkRevocationValue(k.name, v); err != nil {
				return nil, err
			}
			*k.field(e) = v
		}
	}
	if given != 1 {
		return nil, fmt.Errorf("want exactly one of %s; got %d", kindNames, given)
	}
	e.decodeHash()
	until, hasUntil, err := text(untilMember)
	if err != nil {
		return nil, err
	}
	if hasUntil {
		t, err := time.Parse(time.RFC3339, until)
		if err != nil {
			return nil, fmt.Errorf("until: not an RFC 3339 time: %q", until)
		}
		if !t.After(now) {
			return nil, fmt.Errorf("until: %s is not in the future", until)
		}
		if t.Sub(now) > maxTTL {
			return nil, fmt.Errorf("until: %s is more than %v ahead", until, maxTTL)
		}
		e.Until = t.UTC()
	}
	id, err := newRevocationID()
	if err != nil {
		return nil, err
	}
	e.ID = id
	return e, nil
}

// jsonKindName names a JSON value's kind for a message, which never
// echoes the value itself.
func jsonKindName(k jsontext.Kind) string {
	switch k {
	case 'n':
		return "null"
	case 't', 'f':
		return "a boolean"
	case '0':
		return "a number"
	case '[':
		return "an array"
	}
	return "an object"
}

// checkKind checks that exactly one kind is set, and to a value its kind
// allows, and decodes a token hash: an entry read from storage.
func (e *Entry) checkKind() error {
	set := 0
	for _, k := range kinds {
		if v := *k.field(e); v != "" {
			set++
			if err := checkRevocationValue(k.name, v); err != nil {
				return err
			}
		}
	}
	if set != 1 {
		return fmt.Errorf("want exactly one of %s, got %d", kindNames, set)
	}
	e.decodeHash()
	return nil
}

// decodeHash keeps a checked token hash in lower case and decoded, for
// the index.
func (e *Entry) decodeHash() {
	if e.TokenSHA256 != "" {
		e.TokenSHA256 = strings.ToLower(e.TokenSHA256)
		_, _ = hex.Decode(e.tokenHash[:], []byte(e.TokenSHA256)) // checked: 64 hex digits
	}
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

// IsID reports whether s has the shape newRevocationID makes.
func IsID(s string) bool {
	return len(s) == 16 && isHex(s) && strings.ToLower(s) == s
}

// checkStored validates an entry read from storage (another instance
// wrote it, or a person): the same rules as a request, minus the clock.
func (e *Entry) checkStored() error {
	if !IsID(e.ID) {
		return errors.New("malformed id")
	}
	if !e.Until.After(e.Created) {
		return errors.New("until not after created")
	}
	return e.checkKind()
}
