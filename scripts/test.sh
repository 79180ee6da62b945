#!/usr/bin/env bash
# The project's test command: formatting, vet, then every test (unit and
# integration on a real Caddy) under the race detector. A skipped test is a
# failure: every test here must run on any machine with Go.
set -uo pipefail
cd "$(dirname "$0")/.."

fail=0
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [[ -n $unformatted ]]; then
	echo "gofmt would change: $unformatted"
	fail=1
fi
go vet ./... || fail=1
# The integration tests' Caddy is built with this tag (testhooks.go); vet
# it too, so that a rename breaks here rather than in the Caddy build.
go vet -tags soloauth_testhooks ./... || fail=1
# The fleet's Caddy (fleet/, a module of its own so that the plugin's
# go.mod does not carry the Redis client) is built by the fleet tests.
(cd fleet && go vet ./...) || fail=1

log=$(mktemp)
trap 'rm -f "$log"' EXIT
go test -race -count=1 -timeout 30m -v ./... >"$log" 2>&1
status=$?
# fleet/'s own tests run on a real redis-server through the real Redis
# storage module, which the plugin's module does not carry. Without -race:
# they share its build cache with the fleet Caddy the integration tests
# built, and the code they reach is raced above.
(cd fleet && go test -count=1 -timeout 10m -v ./...) >>"$log" 2>&1 || status=1
# Package results, failures and skips; the full log only on failure.
grep -E '^(ok|FAIL|panic:|--- FAIL|--- SKIP|\s+--- (FAIL|SKIP))' "$log"
if ((status != 0)); then
	echo "---- go test failed; full output:"
	cat "$log"
	fail=1
fi
passed=$(grep -cE '^\s*--- PASS' "$log")
failed=$(grep -cE '^\s*--- FAIL' "$log")
skipped=$(grep -cE '^\s*--- SKIP' "$log")
if ((skipped > 0)); then
	echo "skipped tests count as failures here"
	fail=1
fi
echo "tests: $passed passed, $failed failed, $skipped skipped"
exit $fail
