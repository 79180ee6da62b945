#!/usr/bin/env bash
# Builds Caddy with solo_auth from this checkout and runs Caddyfile.example
# with a demo backend. Needs only Go. Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."

# A throwaway secret for the demo; set your own to try a real one.
export SOLO_SDK_SECRET="${SOLO_SDK_SECRET:-demo-secret-not-for-production-0123456789}"

echo "building ./caddy with the solo_auth plugin..." >&2
go build -o ./caddy ./cmd/caddy

cat >&2 <<'HELP'

solo_auth demo: http://localhost:8080 (backend echo on 127.0.0.1:9080)
In another shell, from this folder:

  export SOLO_SDK_SECRET=demo-secret-not-for-production-0123456789
  TOKEN=$(./caddy solo-auth token --sub user_123 --permissions templates:read,identity:prefill)
  curl -i http://localhost:8080/api/templates/identity_prefill/42 -H "Authorization: Bearer $TOKEN"  # 200
  curl -i http://localhost:8080/api/admin/users -H "Authorization: Bearer $TOKEN"                    # 403
  curl -i http://localhost:8080/api/templates                                                        # 401

HELP
exec ./caddy run --config Caddyfile.example --adapter caddyfile
