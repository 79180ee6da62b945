// Command fleet is a Caddy with the solo_auth plugin, Caddy's standard
// modules and the Redis storage module (caddy.storage.redis), for running
// several Caddy instances on one shared store: scripts/fleet.sh and the
// fleet integration tests build it. It is a module of its own so that the
// plugin's go.mod does not carry the Redis client into every build of the
// plugin; a production fleet builds the same with xcaddy (README, "Run a
// fleet").
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"
	_ "github.com/pberkel/caddy-storage-redis"

	_ "github.com/solo-one/caddy-solo-auth"
)

func main() {
	caddycmd.Main()
}
