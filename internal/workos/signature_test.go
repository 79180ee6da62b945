package workos

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// A delivery signed outside Go (Python's hmac module), as WorkOS signs:
// HMAC-SHA256 over "<t>.<body>", lowercase hex.
const (
	vectorSecret = "whsec_test_secret"
	vectorBody   = `{"id":"event_01","event":"user.deleted"}`
	vectorT      = "1700000000000"
	vectorV1     = "25f31f92b4f48605012a40a4b508ee365e29b78c5ee9a0455aeeeae766e9e24c"
)

func TestVerify(t *testing.T) {
	at := time.UnixMilli(1700000000000)
	secrets := [][]byte{[]byte(vectorSecret)}
	good := "t=" + vectorT + ", v1=" + vectorV1
	other := strings.Repeat("0", 64)
	for _, tt := range []struct {
		name    string
		header  string
		body    string
		secrets [][]byte
		now     time.Time
		want    error
	}{
		{"as WorkOS signs", good, vectorBody, secrets, at, nil},
		{"no spaces", "t=" + vectorT + ",v1=" + vectorV1, vectorBody, secrets, at, nil},
		{"several v1, one good (rotation)", "t=" + vectorT + ", v1=" + other + ", v1=" + vectorV1, vectorBody, secrets, at, nil},
		{"several secrets, one good", good, vectorBody, [][]byte{[]byte("old-secret"), []byte(vectorSecret)}, at, nil},
		{"an unknown scheme is skipped", good + ", v0=abc", vectorBody, secrets, at, nil},
		{"179 s late", good, vectorBody, secrets, at.Add(179 * time.Second), nil},
		{"179 s early", good, vectorBody, secrets, at.Add(-179 * time.Second), nil},
		{"181 s late", good, vectorBody, secrets, at.Add(181 * time.Second), ErrStale},
		{"181 s early", good, vectorBody, secrets, at.Add(-181 * time.Second), ErrStale},
		{"body changed", good, vectorBody + " ", secrets, at, ErrBadSignature},
		{"another secret", good, vectorBody, [][]byte{[]byte("whsec_other")}, at, ErrBadSignature},
		{"timestamp changed", "t=1700000000001, v1=" + vectorV1, vectorBody, secrets, at, ErrBadSignature},
		{"uppercase hex", "t=" + vectorT + ", v1=" + strings.ToUpper(vectorV1), vectorBody, secrets, at, ErrBadSignature},
		{"missing header", "", vectorBody, secrets, at, ErrBadSignature},
		{"no t", "v1=" + vectorV1, vectorBody, secrets, at, ErrBadSignature},
		{"no v1", "t=" + vectorT, vectorBody, secrets, at, ErrBadSignature},
		{"two t", "t=" + vectorT + ", t=" + vectorT + ", v1=" + vectorV1, vectorBody, secrets, at, ErrBadSignature},
		{"t not a number", "t=17e11, v1=" + vectorV1, vectorBody, secrets, at, ErrBadSignature},
		{"short v1", "t=" + vectorT + ", v1=" + vectorV1[:62], vectorBody, secrets, at, ErrBadSignature},
		{"a part without =", good + ", junk", vectorBody, secrets, at, ErrBadSignature},
		{"stale and forged: forged wins", "t=1, v1=" + other, vectorBody, secrets, at, ErrBadSignature},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := Verify(tt.header, []byte(tt.body), tt.secrets, tt.now); !errors.Is(err, tt.want) {
				t.Errorf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
}

// TestSign: Sign writes what the vector says, and Verify takes it.
func TestSign(t *testing.T) {
	at := time.UnixMilli(1700000000000)
	if got := Sign([]byte(vectorSecret), []byte(vectorBody), at); got != "t="+vectorT+", v1="+vectorV1 {
		t.Errorf("Sign = %q", got)
	}
}
