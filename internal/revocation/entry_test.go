package revocation

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/solo-one/caddy-solo-auth/internal/clock"
	tu "github.com/solo-one/caddy-solo-auth/internal/testutil"
)

var revNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// TestRevocationRequestBadInput is every bad input of the contract's list
// (and the value rules the README adds): each is refused with an error.
func TestRevocationRequestBadInput(t *testing.T) {
	hash := strings.Repeat("ab", 32)
	for _, tt := range []struct{ name, body string }{
		{"empty body", ``},
		{"not JSON", `sub=alice`},
		{"truncated", `{"sub":"alice"`},
		{"trailing data", `{"sub":"alice"} {}`},
		{"an array", `[{"sub":"alice"}]`},
		{"a string", `"alice"`},
		{"no kind", `{}`},
		{"until alone", `{"until":"2026-03-02T00:00:00Z"}`},
		{"two kinds", `{"sub":"alice","jti":"j1"}`},
		{"sub and hash", `{"sub":"alice","token_sha256":"` + hash + `"}`},
		{"sub a number", `{"sub":42}`},
		{"sub null", `{"sub":null}`},
		{"sub and sid null", `{"sub":"alice","sid":null}`},
		{"jti null beside a hash", `{"token_sha256":"` + hash + `","jti":null}`},
		{"until null", `{"sub":"alice","until":null}`},
		{"sub an array", `{"sub":["alice"]}`},
		{"sid an object", `{"sid":{"id":"s"}}`},
		{"jti true", `{"jti":true}`},
		{"until a number", `{"sub":"alice","until":1770000000}`},
		{"unknown field", `{"sub":"alice","reason":"leak"}`},
		{"duplicate member", `{"sub":"alice","sub":"bob"}`},
		{"empty sub", `{"sub":""}`},
		{"empty sid", `{"sid":""}`},
		{"empty jti", `{"jti":""}`},
		{"empty hash", `{"token_sha256":""}`},
		{"hash too short", `{"token_sha256":"` + hash[:62] + `"}`},
		{"hash too long", `{"token_sha256":"` + hash + `00"}`},
		{"hash not hex", `{"token_sha256":"` + hash[:63] + `g"}`},
		{"hash is a token", `{"token_sha256":"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln"}`},
		{"sub too long", `{"sub":"` + strings.Repeat("a", maxValue+1) + `"}`},
		{"until malformed", `{"sub":"alice","until":"tomorrow"}`},
		{"until without zone", `{"sub":"alice","until":"2026-03-02T00:00:00"}`},
		{"until in the past", `{"sub":"alice","until":"2026-03-01T11:00:00Z"}`},
		{"until now", `{"sub":"alice","until":"2026-03-01T12:00:00Z"}`},
		{"until too far", `{"sub":"alice","until":"2026-03-31T12:00:01Z"}`},
		{"until empty", `{"sub":"alice","until":""}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if e, err := ParseRequest([]byte(tt.body), revNow); err == nil {
				t.Errorf("accepted %s as %+v", tt.body, e)
			}
		})
	}
}

func TestRevocationRequestGood(t *testing.T) {
	upper := strings.Repeat("AB", 32)
	for _, tt := range []struct {
		name, body string
		want       Entry
	}{
		{"sub, default until", `{"sub":"alice"}`, Entry{Sub: "alice", Until: revNow.Add(24 * time.Hour)}},
		{"hash in upper case, stored lower", `{"token_sha256":"` + upper + `"}`,
			Entry{TokenSHA256: strings.ToLower(upper), Until: revNow.Add(24 * time.Hour)}},
		{"sid", `{"sid":"session_01H"}`, Entry{SID: "session_01H", Until: revNow.Add(24 * time.Hour)}},
		{"jti, until in an hour", `{"jti":"j1","until":"2026-03-01T13:00:00Z"}`,
			Entry{JTI: "j1", Until: revNow.Add(time.Hour)}},
		{"until exactly 30 days, another zone", `{"sub":"a","until":"2026-03-31T14:00:00+02:00"}`,
			Entry{Sub: "a", Until: revNow.Add(maxTTL)}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e, err := ParseRequest([]byte(tt.body), revNow)
			if err != nil {
				t.Fatal(err)
			}
			if !IsID(e.ID) {
				t.Errorf("id %q", e.ID)
			}
			if e.Sub != tt.want.Sub || e.TokenSHA256 != tt.want.TokenSHA256 || e.SID != tt.want.SID || e.JTI != tt.want.JTI {
				t.Errorf("got %+v, want %+v", e, tt.want)
			}
			if !e.Created.Equal(revNow) || !e.Until.Equal(tt.want.Until) {
				t.Errorf("created %v until %v, want %v %v", e.Created, e.Until, revNow, tt.want.Until)
			}
		})
	}
}

func mustRevocation(t testing.TB, body string, created time.Time) *Entry {
	t.Helper()
	e, err := ParseRequest([]byte(body), created)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// TestRevocationLookup is the contract's rules: a subject's tokens issued
// up to the revocation's second (or without iat), one token by its hash
// in either case, a session, a jti; each until its until.
func TestRevocationLookup(t *testing.T) {
	created := revNow.Add(500 * time.Millisecond) // 12:00:00.5
	token := tu.HS256(tu.SecretA, tu.SDKClaims("alice"))
	other := tu.HS256(tu.SecretA, tu.SDKClaims("alice").With("jti", "x"))
	x := newIndex([]*Entry{
		mustRevocation(t, `{"sub":"alice","until":"2026-03-01T13:00:00Z"}`, created),
		mustRevocation(t, `{"token_sha256":"`+strings.ToUpper(sha256Hex(token))+`"}`, created),
		mustRevocation(t, `{"sid":"session_1"}`, created),
		mustRevocation(t, `{"jti":"jti_1","until":"2026-03-01T12:30:00Z"}`, created),
	})
	at := func(sec int64, frac int64) time.Time { return time.Unix(revNow.Unix()+sec, frac) }
	for _, tt := range []struct {
		name string
		id   idSpec
		now  time.Time
		want bool
	}{
		{"sub, iat long before", identity("alice", at(-3600, 0)), created, true},
		{"sub, iat in the same second, earlier", identity("alice", at(0, 0)), created, true},
		{"sub, fractional iat in the same second, after the revocation", identity("alice", at(0, 900_000_000)), created, true},
		{"sub, no iat", idSpec{sub: "alice"}, created, true},
		{"sub, iat in the next second", identity("alice", at(1, 0)), created, false},
		{"sub, fractional iat in the next second", identity("alice", at(1, 100_000_000)), created, false},
		{"another sub", identity("bob", at(-3600, 0)), created, false},
		{"sub, just before until", identity("alice", at(-3600, 0)), revNow.Add(time.Hour - time.Nanosecond), true},
		{"sub, at until", identity("alice", at(-3600, 0)), revNow.Add(time.Hour), false},
		{"token by hash", withToken(identity("bob", at(0, 0)), token), created, true},
		{"another token", withToken(identity("bob", at(0, 0)), other), created, false},
		{"token at until", withToken(identity("bob", at(0, 0)), token), created.Add(24 * time.Hour), false},
		{"sid", withClaims(identity("bob", at(1, 0)), "session_1", ""), created, true},
		{"another sid", withClaims(identity("bob", at(1, 0)), "session_2", ""), created, false},
		{"jti", withClaims(identity("bob", at(1, 0)), "", "jti_1"), created, true},
		{"jti after its until", withClaims(identity("bob", at(1, 0)), "", "jti_1"), revNow.Add(30 * time.Minute), false},
		{"jti named as a sid", withClaims(identity("bob", at(1, 0)), "jti_1", ""), created, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := x.revokes(tt.id.identity(), tt.now); got != tt.want {
				t.Errorf("revokes = %v, want %v", got, tt.want)
			}
		})
	}
}

// idSpec describes a verified token.
type idSpec struct {
	sub, sid, jti, token string
	iat                  time.Time
	hasIat               bool
}

func (s idSpec) identity() *testToken {
	return &testToken{idSpec: s, hash: sha256.Sum256([]byte(cmp.Or(s.token, "a.b.c")))}
}

// testToken is a verified token for the list, which counts how often its
// hash is asked for.
type testToken struct {
	idSpec
	hash   [32]byte
	hashes int
}

func (t *testToken) RevocationClaims() (string, time.Time, bool, string, string) {
	return t.sub, t.iat, t.hasIat, t.sid, t.jti
}

func (t *testToken) TokenSHA256() [32]byte {
	t.hashes++
	return t.hash
}

func identity(sub string, iat time.Time) idSpec { return idSpec{sub: sub, iat: iat, hasIat: true} }

func withToken(id idSpec, token string) idSpec {
	id.token = token
	return id
}

func withClaims(id idSpec, sid, jti string) idSpec {
	id.sid, id.jti = sid, jti
	return id
}

// TestRevocationLookupAllocs: the request path's lookup allocates
// nothing: with no entries; with entries of every kind but token hashes,
// where the token's hash is never asked for; and with token hashes.
func TestRevocationLookupAllocs(t *testing.T) {
	l := NewList(clock.Real{}, nil)
	tok := idSpec{sub: "carol", hasIat: true, iat: time.Now().Add(time.Hour), sid: "s", jti: "j"}.identity()
	check := func(what string) {
		t.Helper()
		if n := testing.AllocsPerRun(100, func() {
			if l.Revokes(tok) {
				t.Fatal("revoked")
			}
		}); n != 0 {
			t.Errorf("%s: %v allocations per lookup", what, n)
		}
	}
	check("no entries")
	now := time.Now()
	var entries []*Entry
	for _, body := range []string{`{"sub":"carol"}`, `{"sub":"dave"}`, `{"sid":"s2"}`, `{"jti":"j2"}`} {
		entries = append(entries, mustRevocation(t, body, now))
	}
	l.index.Store(newIndex(entries))
	check("entries, none by token hash")
	if tok.hashes != 0 {
		t.Errorf("the token's hash was asked for %d times with no token_sha256 entry", tok.hashes)
	}
	entries = append(entries, mustRevocation(t, `{"token_sha256":"`+strings.Repeat("0", 64)+`"}`, now))
	l.index.Store(newIndex(entries))
	check("entries of every kind")
	if tok.hashes == 0 {
		t.Error("the token's hash was never asked for with a token_sha256 entry")
	}
}

// TestRevocationRequestMessages: a refusal names the member and what is
// wrong with it, and never echoes a value.
func TestRevocationRequestMessages(t *testing.T) {
	for body, want := range map[string]string{
		`{"sub":42}`:                  "sub: a number; want a string",
		`{"sid":null}`:                "sid: null; want a string",
		`{"jti":{"s3cr3t":1}}`:        "jti: an object; want a string",
		`{"sub":"a","note":"s3cr3t"}`: "note: unknown member; want one of sub, token_sha256, sid, jti and optionally until",
		`{"sub":""}`:                  "sub: empty",
		`{"sub":"","x":1}`:            "x: unknown member; want one of sub, token_sha256, sid, jti and optionally until",
		`{"sub":"a","jti":"b"}`:       "want exactly one of sub, token_sha256, sid, jti; got 2",
	} {
		_, err := ParseRequest([]byte(body), revNow)
		if err == nil || err.Error() != want {
			t.Errorf("%s: got %v, want %q", body, err, want)
		}
		if err != nil && strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("%s: the message echoes a value: %v", body, err)
		}
	}
}
