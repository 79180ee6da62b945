package soloauth

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/solo-one/caddy-solo-auth/internal/clock"
	"github.com/solo-one/caddy-solo-auth/internal/jwt"
	"github.com/solo-one/caddy-solo-auth/internal/revocation"
	tu "github.com/solo-one/caddy-solo-auth/internal/testutil"
)

// TestRevocationTokenAllocs: the handler's lookup of a verified identity
// allocates nothing with entries of every kind in force, on a cached
// identity (its hash kept) and on identities seen for the first time
// (the hash computed through sync.Once's first call); and the hash it
// computes is the token's, so that a token_sha256 entry refuses it.
func TestRevocationTokenAllocs(t *testing.T) {
	l := revocation.NewList(clock.Real{}, nil)
	store := tu.NewStorage()
	add := func(body string) {
		t.Helper()
		e, err := revocation.ParseRequest([]byte(body), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Add(store, e, zap.NewNop()); err != nil {
			t.Fatal(err)
		}
	}
	for _, body := range []string{`{"sub":"dave"}`, `{"sid":"s2"}`, `{"jti":"j2"}`, `{"token_sha256":"` + hex.EncodeToString(make([]byte, 32)) + `"}`} {
		add(body)
	}
	v := &jwt.Verifier{Secrets: [][]byte{[]byte(tu.SecretA)}}
	tokens := tu.DistinctTokens(102, func(c tu.Claims) string { return tu.HS256(tu.SecretA, c) })
	ids := make([]*jwt.Identity, len(tokens))
	for i, token := range tokens {
		id, err := v.Verify(token)
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = id
	}
	cached := ids[0]
	l.Revokes((*revocationToken)(cached))
	if n := testing.AllocsPerRun(100, func() { l.Revokes((*revocationToken)(cached)) }); n != 0 {
		t.Errorf("cached identity: %v allocations per lookup", n)
	}
	next := 1 // AllocsPerRun runs once more to warm up: 101 fresh identities
	if n := testing.AllocsPerRun(100, func() { l.Revokes((*revocationToken)(ids[next])); next++ }); n != 0 {
		t.Errorf("first lookup of each identity: %v allocations", n)
	}
	if next != len(ids) {
		t.Fatalf("%d lookups, want %d", next-1, len(ids)-1)
	}
	sum := sha256.Sum256([]byte(tokens[1]))
	add(fmt.Sprintf(`{"token_sha256":"%x"}`, sum))
	if !l.Revokes((*revocationToken)(ids[1])) || l.Revokes((*revocationToken)(ids[2])) {
		t.Error("a token_sha256 entry does not refuse exactly its token")
	}
}
