//go:build soloauth_testhooks

package soloauth

// Test hooks, compiled only into the Caddy that the integration tests
// build (go build -tags soloauth_testhooks). A production build, with or
// without xcaddy, never has this file, so nothing here can be set by an
// operator: not from the Caddyfile, not from the environment.

import (
	"fmt"
	"os"
	"time"
)

// testhookJWKSMinIntervalEnv, if set to a Go duration, replaces
// jwksMinInterval (the unknown-kid window) for the whole process, so that
// the integration tests can watch the window open and close in seconds
// instead of waiting out 30 s.
const testhookJWKSMinIntervalEnv = "SOLO_AUTH_TEST_JWKS_MIN_INTERVAL"

func init() {
	v, ok := os.LookupEnv(testhookJWKSMinIntervalEnv)
	if !ok {
		return
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		// A test that asked for a window and silently got 30 s would
		// prove the wrong thing: refuse to start instead.
		panic(fmt.Sprintf("%s=%q: want a positive Go duration", testhookJWKSMinIntervalEnv, v))
	}
	jwksMinInterval = d
	// The tests look for this line, so that a hook that did nothing
	// cannot pass unnoticed.
	fmt.Fprintf(os.Stderr, "solo_auth test hook: unknown-kid window %v\n", d)
}
