package soloauth

import (
	"fmt"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"
)

// jwksStartupWait is how long provisioning waits for a key set's first
// fetch before Caddy starts without it.
const jwksStartupWait = 3 * time.Second

// keySets holds one KeySet per JWKS URL for the whole process. Handlers
// of the running config and of a config being loaded share it, so a key
// set survives reloads, and it is stopped once no config uses its URL.
var keySets = caddy.NewUsagePool()

// acquireKeySet returns the key set of url, starting it if no handler
// uses it yet, and this handler's use of it. Each call must be paired
// with releaseKeySet.
func acquireKeySet(ctx caddy.Context, url string, refresh time.Duration, logger *zap.Logger) (*KeySet, *keySetUser, error) {
	var user *keySetUser
	val, loaded, err := keySets.LoadOrNew(url, func() (caddy.Destructor, error) {
		var ks *KeySet
		ks, user = newKeySetAndUser(keySetConfig{URL: url, Refresh: refresh, Store: ctx.Storage(), Logger: logger})
		ks.start(jwksStartupWait)
		return ks, nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("jwks %s: %w", url, err)
	}
	ks := val.(*KeySet)
	if loaded {
		user = ks.addUser(refresh, ctx.Storage(), logger)
	}
	return ks, user, nil
}

// releaseKeySet undoes one acquireKeySet; the last release stops the set.
func releaseKeySet(ks *KeySet, user *keySetUser) {
	ks.removeUser(user)
	_, _ = keySets.Delete(ks.url)
}
