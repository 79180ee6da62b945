package soloauth

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/solo-one/caddy-solo-auth/internal/jwt"
	"github.com/solo-one/caddy-solo-auth/internal/keys"
	"github.com/solo-one/caddy-solo-auth/internal/revocation"
)

// staticKeys is a fixed RSA key source by kid, for handler tests that do
// not need a key set.
type staticKeys map[string]*rsa.PublicKey

func (s staticKeys) RSAKeys(_ context.Context, kid string) (*rsa.PublicKey, []*rsa.PublicKey, error) {
	if k, ok := s[kid]; ok {
		return k, nil, nil
	}
	return nil, nil, jwt.ErrUnknownKeyID
}

func (s staticKeys) KeyInUse(kid string, key *rsa.PublicKey) bool { return s[kid] == key }

// unavailableKeys is a key source that has never loaded.
type unavailableKeys struct{}

func (unavailableKeys) RSAKeys(context.Context, string) (*rsa.PublicKey, []*rsa.PublicKey, error) {
	return nil, nil, jwt.ErrKeysUnavailable
}
func (unavailableKeys) KeyInUse(string, *rsa.PublicKey) bool { return false }

// awaitSettled waits for a key set's first attempt to settle.
func awaitSettled(t *testing.T, ks *keys.Set) {
	t.Helper()
	select {
	case <-ks.Settled():
	case <-time.After(10 * time.Second):
		t.Fatal("the first attempt never settled")
	}
}

// configContext is a Caddy context with a config whose storage is a
// folder of the test's, as a config load makes: ctx.Storage() needs a
// config (it panics without one).
func configContext(t *testing.T) (caddy.Context, context.CancelFunc) {
	t.Helper()
	raw, err := json.Marshal(map[string]string{"module": "file_system", "root": t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	base, err := caddy.ProvisionContext(&caddy.Config{StorageRaw: raw})
	if err != nil {
		t.Fatal(err)
	}
	return caddy.NewContext(base)
}

// parsedRevocation is the entry an admin POST of body would make at
// created.
func parsedRevocation(tb testing.TB, body string, created time.Time) *revocation.Entry {
	tb.Helper()
	e, err := revocation.ParseRequest([]byte(body), created)
	if err != nil {
		tb.Fatal(err)
	}
	return e
}
