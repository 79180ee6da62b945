// Command plain is Caddy with its standard modules and nothing else: the
// baseline that bench/run.sh measures solo_auth against.
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"
)

func main() {
	caddycmd.Main()
}
