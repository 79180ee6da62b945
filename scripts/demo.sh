#!/usr/bin/env bash
# Builds Caddy with solo_auth from this checkout and runs Caddyfile.example
# with a demo backend. Needs only Go. Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."

# A throwaway secret for the demo; set your own to try a real one.
export SOLO_SDK_SECRET="${SOLO_SDK_SECRET:-demo-secret-not-for-production-0123456789}"
# The demo's WorkOS webhook signing secret (Caddyfile.example's
# solo_auth_webhook); `caddy solo-auth webhook` signs test events with it.
export WORKOS_WEBHOOK_SECRET="${WORKOS_WEBHOOK_SECRET:-whsec_demo_not_for_production}"

echo "building ./caddy with the solo_auth plugin..." >&2
go build -o ./caddy ./cmd/caddy

# A development key pair for WorkOS-shaped (RS256) tokens, made once and
# kept out of git (.gitignore): Caddyfile.example trusts its public half
# through jwks_file, and `caddy solo-auth token --rs256` signs with the
# private half, so the WorkOS path runs without a WorkOS account.
if [[ ! -s demo-keys/dev-jwks.json || ! -s demo-keys/dev.key ]]; then
	mkdir -p demo-keys
	./caddy solo-auth keygen --kid demo-dev-1 --key demo-keys/dev.key --jwks demo-keys/dev-jwks.json --force
fi

cat >&2 <<'HELP'

solo_auth demo: http://localhost:8080 (backend echo on 127.0.0.1:9080)
In another shell, from this folder:

  # An SDK token (HS256, the shared secret):
  export SOLO_SDK_SECRET=demo-secret-not-for-production-0123456789
  TOKEN=$(./caddy solo-auth token --sub user_123 --permissions templates:read,identity:prefill)
  curl -i http://localhost:8080/api/templates/identity_prefill/42 -H "Authorization: Bearer $TOKEN"  # 200
  curl -i http://localhost:8080/api/admin/users -H "Authorization: Bearer $TOKEN"                    # 403
  curl -i http://localhost:8080/api/templates                                                        # 401
  curl -i http://localhost:8080/api/dashboard/home -H "Authorization: Bearer $TOKEN"                 # 401, WorkOS tokens only

  # A WorkOS-shaped token (RS256, the demo's development key):
  WORKOS=$(./caddy solo-auth token --rs256 --key demo-keys/dev.key --kid demo-dev-1 --sub user_456 --sid session_demo --permissions templates:read)
  curl -i http://localhost:8080/api/dashboard/home -H "Authorization: Bearer $WORKOS"                # 200, token_type workos

  # The user signs out: WorkOS's session.revoked event, signed as WorkOS signs it:
  export WORKOS_WEBHOOK_SECRET=whsec_demo_not_for_production
  ./caddy solo-auth webhook --url http://localhost:8080/webhooks/workos --event session.revoked --sid session_demo --user user_456
  curl -i http://localhost:8080/api/dashboard/home -H "Authorization: Bearer $WORKOS"                # 401, the session is revoked

HELP
exec ./caddy run --config Caddyfile.example --adapter caddyfile
