// Command caddy is a Caddy build with the solo_auth plugin and Caddy's
// standard modules, for local runs and the integration tests. Production
// builds use xcaddy (see README.md).
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/solo-one/caddy-solo-auth"
)

func main() {
	caddycmd.Main()
}
