#!/usr/bin/env bash
# A solo_auth fleet on one machine: builds a Caddy with the plugin and the
# Redis storage module (fleet/), starts a Redis, a stand-in for WorkOS's
# JWKS endpoint and three Caddy instances that share the Redis, and prints
# how to call them. Needs Go; installs Debian's redis-server if it is
# missing. Ctrl-C stops everything. Ports: FLEET_BASE (default 8080) + 1..3
# for the instances, + 10 for the JWKS, + 20 for Redis; admin endpoints on
# 2021..2023 (FLEET_ADMIN_BASE + 1..3).
set -euo pipefail
cd "$(dirname "$0")/.."

base=${FLEET_BASE:-8080}
admin_base=${FLEET_ADMIN_BASE:-2020}
export SOLO_SDK_SECRET="${SOLO_SDK_SECRET:-demo-secret-not-for-production-0123456789}"
export FLEET_DIR="$PWD/.fleet"
export FLEET_REDIS="127.0.0.1:$((base + 20))"
export FLEET_JWKS_PORT=$((base + 10))
export FLEET_JWKS_URL="http://127.0.0.1:$FLEET_JWKS_PORT/jwks"
mkdir -p "$FLEET_DIR/redis"

./scripts/install-redis.sh
echo "building ./caddy-fleet (solo_auth + caddy.storage.redis)..." >&2
go build -C fleet -o ../caddy-fleet .
if [[ ! -s demo-keys/dev-jwks.json || ! -s demo-keys/dev.key ]]; then
	mkdir -p demo-keys
	./caddy-fleet solo-auth keygen --kid demo-dev-1 --key demo-keys/dev.key --jwks demo-keys/dev-jwks.json --force
fi

pids=()
cleanup() {
	trap - EXIT INT TERM
	kill "${pids[@]}" 2>/dev/null || true
	wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT TERM

# await LABEL PID COMMAND...: runs COMMAND until it succeeds, for at most
# 30 s, and gives up at once if PID has exited (its log says why).
await() {
	local label=$1 pid=$2
	shift 2
	for _ in $(seq 300); do
		"$@" >/dev/null 2>&1 && return 0
		if ! kill -0 "$pid" 2>/dev/null; then
			echo "$label exited at start-up; see .fleet/" >&2
			exit 1
		fi
		sleep 0.1
	done
	echo "$label not ready after 30 s; see .fleet/" >&2
	exit 1
}

redis-server --port $((base + 20)) --bind 127.0.0.1 --dir "$FLEET_DIR/redis" \
	--appendonly yes --save "" --daemonize no >"$FLEET_DIR/redis.log" 2>&1 &
pids+=($!)
await redis $! redis-cli -p $((base + 20)) ping

./caddy-fleet run --config fleet/jwks.Caddyfile --adapter caddyfile >"$FLEET_DIR/jwks.log" 2>&1 &
pids+=($!)
for i in 1 2 3; do
	name=$(printf '\x'$((40 + i)))
	FLEET_NAME=$name FLEET_PORT=$((base + i)) FLEET_ADMIN=$((admin_base + i)) \
		./caddy-fleet run --config fleet/Caddyfile --adapter caddyfile >"$FLEET_DIR/$name.log" 2>&1 &
	pids+=($!)
	await "instance $name" $! curl -s -o /dev/null "http://127.0.0.1:$((base + i))/"
done

cat >&2 <<HELP

solo_auth fleet: instances A, B, C on http://127.0.0.1:$((base + 1)), :$((base + 2)), :$((base + 3))
(admin on 127.0.0.1:$((admin_base + 1))..$((admin_base + 3))), Redis on $FLEET_REDIS, JWKS stand-in on $FLEET_JWKS_URL.
Logs in .fleet/. In another shell, from this folder:

  export SOLO_SDK_SECRET=$SOLO_SDK_SECRET
  TOKEN=\$(./caddy-fleet solo-auth token --sub user_123)
  WORKOS=\$(./caddy-fleet solo-auth token --rs256 --key demo-keys/dev.key --kid demo-dev-1 --sub user_456)
  for p in $((base + 1)) $((base + 2)) $((base + 3)); do curl -s -w '\n' http://127.0.0.1:\$p/ -H "Authorization: Bearer \$TOKEN"; done

  # Revoke on A; B and C refuse within revocation_poll (2 s):
  ./caddy-fleet solo-auth revoke --address 127.0.0.1:$((admin_base + 1)) --sub user_123
  sleep 3; curl -i http://127.0.0.1:$((base + 3))/ -H "Authorization: Bearer \$TOKEN"   # 401 on C

  # What the fleet shares, in Redis:
  redis-cli -p $((base + 20)) zrange caddy/solo_auth/revocations 0 -1

Ctrl-C stops the fleet.
HELP
wait -n "${pids[@]}" || true
echo "a fleet process exited; see .fleet/*.log" >&2
