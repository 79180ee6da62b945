// Package workos reads WorkOS webhook deliveries: the signature header
// and its check (signature.go), and the events that cut off tokens
// (event.go). It knows nothing of Caddy or of revocation storage.
package workos

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"
)

// SignatureHeader is the header WorkOS signs a delivery with:
// "t=<unix milliseconds>, v1=<lowercase hex HMAC-SHA256>".
const SignatureHeader = "WorkOS-Signature"

// Window is how far a delivery's timestamp may be from now, either way.
const Window = 180 * time.Second

var (
	// ErrBadSignature: the header is missing or malformed, or no v1 value
	// is the HMAC of this body with the secret (a 401).
	ErrBadSignature = errors.New("bad or missing signature")
	// ErrStale: the signature is good but its timestamp is outside the
	// window (a 400): a replay of an old delivery, or a skewed clock.
	ErrStale = errors.New("signature timestamp outside the window")
)

// Verify checks a delivery's signature header against its raw body and
// the endpoint's secrets (several while one rotates): some v1 value must
// be the HMAC-SHA256 of "<t>.<body>" with some secret, compared in
// constant time. Only then is the timestamp judged, so that a forged
// request learns nothing from the answer but "bad signature".
func Verify(header string, body []byte, secrets [][]byte, now time.Time) error {
	t, sigs, ok := parseHeader(header)
	if !ok {
		return ErrBadSignature
	}
	if !anyMatch(t, body, secrets, sigs) {
		return ErrBadSignature
	}
	ms, _ := strconv.ParseInt(t, 10, 64)
	at := time.UnixMilli(ms)
	if at.Before(now.Add(-Window)) || at.After(now.Add(Window)) {
		return ErrStale
	}
	return nil
}

// parseHeader splits "t=..., v1=..., v1=..." into the timestamp as sent
// (it is signed as sent) and the decoded v1 values. Unknown schemes are
// skipped, as WorkOS may add some; a header without t or v1 is malformed.
func parseHeader(header string) (t string, sigs [][]byte, ok bool) {
	for part := range strings.SplitSeq(header, ",") {
		name, value, found := strings.Cut(strings.TrimSpace(part), "=")
		if !found {
			return "", nil, false
		}
		switch name {
		case "t":
			if t != "" || !allDigits(value) {
				return "", nil, false
			}
			t = value
		case "v1":
			sig, err := hex.DecodeString(value)
			if err != nil || len(sig) != sha256.Size || value != strings.ToLower(value) {
				continue // not one WorkOS would send: it matches nothing
			}
			sigs = append(sigs, sig)
		}
	}
	return t, sigs, t != "" && len(sigs) > 0
}

func allDigits(s string) bool {
	if s == "" || len(s) > 15 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func anyMatch(t string, body []byte, secrets [][]byte, sigs [][]byte) bool {
	matched := false
	for _, secret := range secrets {
		mac := hmac.New(sha256.New, secret)
		mac.Write([]byte(t))
		mac.Write([]byte{'.'})
		mac.Write(body)
		want := mac.Sum(nil)
		for _, sig := range sigs {
			// Every pair is compared, so the time taken says nothing
			// of which one matched.
			if hmac.Equal(want, sig) {
				matched = true
			}
		}
	}
	return matched
}

// Sign is the header WorkOS would send for body at t with secret: for the
// CLI's test events and for tests.
func Sign(secret []byte, body []byte, t time.Time) string {
	ts := strconv.FormatInt(t.UnixMilli(), 10)
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(ts))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "t=" + ts + ", v1=" + hex.EncodeToString(mac.Sum(nil))
}
