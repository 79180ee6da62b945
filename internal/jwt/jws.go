package jwt

import (
	"bytes"
	"encoding/base64"
	"strings"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/solo-one/caddy-solo-auth/internal/strictjson"
)

// The JWS layer below the signature: a compact token's shape, its
// segments, and the protected header with our policy on it.

// MaxTokenSize is the longest token that is parsed at all; longer ones are
// refused before any decoding.
const MaxTokenSize = 16 << 10

// MaxKeyIDLength bounds the kid header. A kid is an opaque lookup key; real
// ones are short.
const MaxKeyIDLength = 256

// decodeSegment decodes a base64url segment into buf, or into a new slice
// if it does not fit: the verifier decodes into buffers on its stack.
func decodeSegment(buf []byte, seg string) ([]byte, error) {
	if n := base64.RawURLEncoding.DecodedLen(len(seg)); n > len(buf) {
		buf = make([]byte, n)
	}
	n, err := base64.RawURLEncoding.Decode(buf, []byte(seg))
	return buf[:n], err
}

// IsCompactJWS reports whether token has the one shape a token Verify
// accepts can have: three non-empty, unpadded, canonical base64url
// segments joined by dots, and nothing else. `caddy solo-auth revoke
// --token-file` checks a file with it before hashing.
func IsCompactJWS(token string) bool {
	first, last, ok := compactSegments(token)
	return ok && last > first+1 // a JWT's payload is never empty
}

// compactSegments checks the JWS layer's shape and returns the positions
// of the token's two dots: three unpadded, canonical base64url segments,
// the header and the signature non-empty (an empty signature is the shape
// of alg "none"). An empty payload is a JWS, refused later as claims.
// Every character is checked here, before any decoding: Go's base64
// decoder skips CR and LF.
func compactSegments(token string) (first, last int, ok bool) {
	first = strings.IndexByte(token, '.')
	last = strings.LastIndexByte(token, '.')
	if first <= 0 || last == first || last == len(token)-1 {
		return 0, 0, false
	}
	for _, seg := range [...]string{token[:first], token[first+1 : last], token[last+1:]} {
		if !base64URLOnly(seg) || !canonicalB64(seg) {
			return 0, 0, false
		}
	}
	return first, last, true
}

// base64URLOnly reports whether seg holds only the unpadded base64url
// alphabet.
func base64URLOnly(seg string) bool {
	for i := 0; i < len(seg); i++ {
		if !isB64URL[seg[i]] {
			return false
		}
	}
	return true
}

var isB64URL = func() (t [256]bool) {
	for _, c := range []byte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") {
		t[c] = true
	}
	return t
}()

// canonicalB64 reports whether an unpadded base64url string of valid
// characters is the one encoding of its bytes: its length is not 1 mod 4,
// and the bits of its last character past the data are zero. Otherwise
// several strings decode alike, and a changed token could still verify.
func canonicalB64(seg string) bool {
	var unused uint
	switch len(seg) % 4 {
	case 0:
		return true
	case 1:
		return false
	case 2:
		unused = 4
	case 3:
		unused = 2
	}
	return b64Value(seg[len(seg)-1])&(1<<unused-1) == 0
}

func b64Value(c byte) byte {
	switch {
	case 'A' <= c && c <= 'Z':
		return c - 'A'
	case 'a' <= c && c <= 'z':
		return c - 'a' + 26
	case '0' <= c && c <= '9':
		return c - '0' + 52
	case c == '-':
		return 62
	}
	return 63 // '_'
}

// tokenHeader is what the policy needs of a JWS protected header.
type tokenHeader struct {
	alg, kid        string
	algSet, kidSet  bool
	algStr, kidStr  bool // the member is a JSON string
	hasCrit, hasB64 bool
}

// The header members the policy reads, declared once, as claims.go
// declares the claims: both readers follow headerMember and store.
type headerID uint8

const (
	notAPolicyMember headerID = iota
	headerAlg
	headerKid
	headerCrit
	headerB64
)

func headerMember(name []byte) headerID {
	switch string(name) {
	case "alg":
		return headerAlg
	case "kid":
		return headerKid
	case "crit":
		return headerCrit
	case "b64":
		return headerB64
	}
	return notAPolicyMember
}

func (id headerID) shape() valueShape {
	if id == headerAlg || id == headerKid {
		return shapeText
	}
	return shapeSkip // crit and b64 are refused whatever their value
}

func (h *tokenHeader) store(id headerID, v memberValue) {
	switch id {
	case headerAlg:
		h.algSet = true
		h.alg, h.algStr = v.text, v.ok
	case headerKid:
		h.kidSet = true
		h.kid, h.kidStr = v.text, v.ok
	case headerCrit:
		h.hasCrit = true
	case headerB64:
		h.hasB64 = true
	}
}

// readHeader decodes the protected header strictly into the members the
// policy looks at: on the fast path (flatObject) if it is in its subset,
// else on the strict jsontext path, which skips the other members' values
// without building them.
func readHeader(seg string) (tokenHeader, error) {
	var buf [256]byte
	raw, err := decodeSegment(buf[:], seg)
	if err != nil {
		return tokenHeader{}, err
	}
	if h, ok := readHeaderFast(raw); ok {
		return h, nil
	}
	return readHeaderStrict(bytes.Clone(raw)) // the clone leaves buf on the stack
}

func readHeaderFast(raw []byte) (tokenHeader, bool) {
	var h tokenHeader
	o := newFlatObject(raw)
	for name, val, more := o.next(); more; name, val, more = o.next() {
		if id := headerMember(name); id != notAPolicyMember {
			h.store(id, val.read(id.shape()))
		}
	}
	return h, o.ok()
}

func readHeaderStrict(raw []byte) (tokenHeader, error) {
	var h tokenHeader
	err := strictjson.ScanObject(raw, func(name []byte, dec *jsontext.Decoder) error {
		id := headerMember(name)
		v, err := readMember(dec, id.shape())
		h.store(id, v)
		return err
	})
	return h, err
}

// checkHeader applies our policy to the protected header and returns its
// alg and kid. It refuses what general JOSE libraries tolerate.
func checkHeader(h tokenHeader) (alg, kid string, _ *VerifyError) {
	if !h.algSet || !h.algStr {
		return "", "", invalid("alg missing or not a string", nil)
	}
	if h.alg != string(jose.HS256) && h.alg != string(jose.RS256) {
		return "", "", invalid("alg not accepted", nil)
	}
	if h.kidSet {
		if !h.kidStr {
			return "", "", invalid("kid not a string", nil)
		}
		if len(h.kid) > MaxKeyIDLength {
			return "", "", invalid("kid too long", nil)
		}
		kid = h.kid
	}
	// crit names extensions the verifier must understand; we understand
	// none, and b64=false would change what the signature covers.
	if h.hasCrit {
		return "", kid, &VerifyError{Kind: KindInvalid, Reason: "crit header present", KeyID: kid}
	}
	if h.hasB64 {
		return "", kid, &VerifyError{Kind: KindInvalid, Reason: "b64 header present", KeyID: kid}
	}
	return h.alg, kid, nil
}
