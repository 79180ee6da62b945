#!/usr/bin/env bash
# Measures solo_auth against the same Caddy without it, in one run, on
# loopback: requests per second with wrk (one thread, 32 connections) for
# the same HS256 token (in the header, then in a query parameter), the
# same RS256 token, and a distinct HS256 token on every request; then
# twenty solo_auth lines of one key configuration against one line, on a
# stream from a pool of 12,000 tokens (throughput and resident memory);
# then Caddy's resident memory after a flood of distinct tokens. Prints
# each ratio. Installs wrk with apt if it is missing.
#
#   bench/run.sh                       # defaults below; about 10 minutes
#   BENCH_DURATION=5s BENCH_ROUNDS=1 BENCH_FLOOD=100000 bench/run.sh
#   BENCH_FLOOD=0 bench/run.sh         # ratios only
#   BENCH_ONLY=lines BENCH_FLOOD=0 bench/run.sh  # scenarios named: hs256 query rs256 distinct lines revocations
#
# revocations compares the solo config with 10,000 revocations in force
# (none naming the tokens used; a quarter of them token hashes) against
# the same config with none: the same HS256 token, then the token pool.
set -euo pipefail
cd "$(dirname "$0")/.."

duration=${BENCH_DURATION:-5s}
rounds=${BENCH_ROUNDS:-9}
flood=${BENCH_FLOOD:-1000000}
distinct=${BENCH_DISTINCT:-400000}
pool=${BENCH_POOL:-12000}
only=${BENCH_ONLY:-hs256 query rs256 distinct lines revocations}
out=bench/out
mkdir -p "$out"

if ! command -v wrk >/dev/null; then
	echo "installing wrk..." >&2
	(apt-get update -qq && apt-get install -y -qq wrk) >/dev/null
fi

echo "building plain Caddy, Caddy with solo_auth, and the bench tool..." >&2
go build -o "$out/caddy-plain" ./bench/plain
go build -o "$out/caddy-solo" ./cmd/caddy
go build -o "$out/tool" ./bench/tool

export BENCH_SECRET=bench-secret-0123456789abcdef0123456789
# Tokens live two hours; older ones are minted again.
if [[ ! -s $out/distinct.txt ]] || (($(wc -l <"$out/distinct.txt") < distinct)) ||
	[[ -n $(find "$out/distinct.txt" -mmin +60) ]]; then
	echo "minting $distinct distinct tokens..." >&2
	"$out/tool" setup "$out" "$distinct"
fi

port=$("$out/tool" port)
jwks_port=$("$out/tool" port)
url=http://127.0.0.1:$port/

cat >"$out/plain.Caddyfile" <<CF
{
	admin off
	auto_https off
	persist_config off
}
http://127.0.0.1:$port {
	respond "ok"
}
CF
cat >"$out/solo.Caddyfile" <<CF
{
	admin off
	auto_https off
	persist_config off
	storage file_system $PWD/$out/storage
	solo_auth {
		secret {env.BENCH_SECRET}
		jwks_url http://127.0.0.1:$jwks_port/jwks.json
		token_query access_token
	}
}
http://127.0.0.1:$port {
	solo_auth templates:read
	respond "ok"
}
http://127.0.0.1:$jwks_port {
	root * $PWD/$out
	file_server
}
CF
# The same site with twenty lines of one key configuration, every one of
# which runs on every request.
{
	sed -n '1,/^http:\/\/127.0.0.1:'"$port"' {$/p' "$out/solo.Caddyfile"
	for _ in $(seq 20); do printf '\tsolo_auth templates:read\n'; done
	sed -n '/^http:\/\/127.0.0.1:'"$port"' {$/,$p' "$out/solo.Caddyfile" | sed 1,2d
} >"$out/solo20.Caddyfile"

# The solo config on a storage holding 10,000 revocations (files as
# solo_auth writes them, valid for 29 days; written again after a day).
revdir=$out/storage-rev/solo_auth/revocations
if [[ " $only " == *" revocations "* ]] && { [[ ! -d $revdir ]] || [[ -n $(find "$revdir" -maxdepth 0 -mmin +1440) ]]; }; then
	echo "writing 10,000 revocations..." >&2
	rm -rf "$revdir" && mkdir -p "$revdir"
	created=$(date -u +%Y-%m-%dT%H:%M:%SZ)
	until=$(date -u -d '+29 days' +%Y-%m-%dT%H:%M:%SZ)
	for ((i = 0; i < 10000; i++)); do
		case $((i % 4)) in
		0) kind=$(printf '"sub":"user_%08d"' "$i") ;;
		1) kind=$(printf '"token_sha256":"%064x"' "$i") ;;
		2) kind=$(printf '"sid":"session_%08d"' "$i") ;;
		3) kind=$(printf '"jti":"jti_%08d"' "$i") ;;
		esac
		printf '{"id":"%016x",%s,"created":"%s","until":"%s"}' "$i" "$kind" "$created" "$until" >"$revdir/$(printf '%016x' "$i").json"
	done
	touch "$revdir"
fi
sed "s|storage file_system .*|storage file_system $PWD/$out/storage-rev|" "$out/solo.Caddyfile" >"$out/solorev.Caddyfile"

pid=
start_caddy() { # config name: plain (the plain binary), solo, solo20 or solorev (the solo binary)
	local bin=solo
	[[ $1 == plain ]] && bin=plain
	XDG_DATA_HOME=$PWD/$out/data XDG_CONFIG_HOME=$PWD/$out/config \
		"$out/caddy-$bin" run --config "$out/$1.Caddyfile" --adapter caddyfile >"$out/$1.log" 2>&1 &
	pid=$!
	for _ in $(seq 100); do
		curl -s -o /dev/null "$url" && return 0
		sleep 0.1
	done
	echo "caddy-$1 did not start; see $out/$1.log" >&2
	exit 1
}
stop_caddy() {
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}
trap stop_caddy EXIT

# measure <name> <wrk script> <script args...>: requests/s of a fresh Caddy.
measure() {
	local name=$1 script=$2
	shift 2
	start_caddy "$name"
	if [[ $name == solo* ]]; then # the RS256 key set is loaded
		curl -s -o /dev/null -H "Authorization: Bearer $(cat "$out/rs256.txt")" "$url"
	fi
	local result cpu_before cpu_after
	cpu_before=$(cpu_ticks)
	result=$(wrk -t1 -c32 -d"$duration" --latency -s "$script" "$url" -- "$@" 2>&1)
	cpu_after=$(cpu_ticks)
	local rss_kib
	rss_kib=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
	stop_caddy
	echo "$result" >>"$out/wrk.log"
	local requests rps
	requests=$(awk '/requests in/ {print $1}' <<<"$result")
	rps=$(awk '/Requests\/sec/ {print $2}' <<<"$result")
	# Caddy's own CPU time per request, in microseconds: steadier than
	# throughput on a shared machine, since wrk's share does not enter it.
	echo "$rps $requests $(awk -v t=$((cpu_after - cpu_before)) -v n="$requests" -v hz="$(getconf CLK_TCK)" 'BEGIN {print t / hz * 1e6 / n}') $rss_kib"
}

# cpu_ticks is Caddy's user + system CPU time so far, in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

: >"$out/wrk.log"
# report <label> <wrk args...>: solo_auth against plain Caddy; BASE and
# CAND name other configs to compare (CAND=solo20 BASE=solo).
report() {
	local label=$1 base=${BASE:-plain} cand=${CAND:-solo}
	shift
	local plain=() solo=() plain_cpu=() solo_cpu=() plain_rss=() solo_rss=() max_requests=0 cpu rss
	# Alternate which goes first, so that drift on a shared machine
	# does not favour either.
	for ((i = 0; i < rounds; i++)); do
		if ((i % 2 == 0)); then
			read -r rps _ cpu rss < <(measure "$base" "$@")
			plain+=("$rps") plain_cpu+=("$cpu") plain_rss+=("$rss")
		fi
		read -r rps requests cpu rss < <(measure "$cand" "$@")
		solo+=("$rps") solo_cpu+=("$cpu") solo_rss+=("$rss")
		if ((requests > max_requests)); then max_requests=$requests; fi
		if ((i % 2 == 1)); then
			read -r rps _ cpu rss < <(measure "$base" "$@")
			plain+=("$rps") plain_cpu+=("$cpu") plain_rss+=("$rss")
		fi
	done
	# The ratio is the median of each round's ratio: a round measures both
	# within seconds, so the machine's drift between rounds cancels out.
	local p s ratios=() r
	p=$(printf '%s\n' "${plain[@]}" | median)
	s=$(printf '%s\n' "${solo[@]}" | median)
	for ((r = 0; r < rounds; r++)); do
		ratios+=("$(awk -v s="${solo[r]}" -v p="${plain[r]}" 'BEGIN {print s / p}')")
	done
	printf '%-24s %s %7.0f req/s  %s %7.0f req/s  ratio %.3f (rounds %s)\n' "$label" "$base" "$p" "$cand" "$s" \
		"$(printf '%s\n' "${ratios[@]}" | median)" "$(printf '%.2f ' "${ratios[@]}")"
	local pc sc
	pc=$(printf '%s\n' "${plain_cpu[@]}" | median)
	sc=$(printf '%s\n' "${solo_cpu[@]}" | median)
	printf '%-24s Caddy CPU per request: %s %.1f us, %s %.1f us (+%.1f us)\n' "" "$base" "$pc" "$cand" "$sc" "$(awk -v a="$sc" -v b="$pc" 'BEGIN {print a - b}')"
	printf '%-24s RSS at the end of a round: %s %d MiB, %s %d MiB\n' "" "$base" \
		$(($(printf '%s\n' "${plain_rss[@]}" | median) / 1024)) "$cand" $(($(printf '%s\n' "${solo_rss[@]}" | median) / 1024))
	if [[ $label == distinct* ]] && ((max_requests > distinct)); then
		echo "  warning: $max_requests requests in a round, more than the $distinct distinct tokens: some repeated" >&2
	fi
}

echo "solo_auth benchmark, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $duration x $rounds rounds (medians; order alternated)"
want() { [[ " $only " == *" $1 "* ]]; }
want hs256 && report "same HS256 token" bench/token.lua "$out/hs256.txt"
want query && report "same HS256 token, query" bench/token.lua "$out/hs256.txt" query
want rs256 && report "same RS256 token" bench/token.lua "$out/rs256.txt"
want distinct && report "distinct HS256 tokens" bench/distinct.lua "$out/distinct.txt" 0 "$distinct"
want lines && BASE=solo CAND=solo20 report "20 lines vs 1, $pool pool" bench/distinct.lua "$out/distinct.txt" 0 "$pool"
want revocations && BASE=solo CAND=solorev report "10,000 revocations vs 0" bench/token.lua "$out/hs256.txt"
want revocations && BASE=solo CAND=solorev report "10,000 revocations, pool" bench/distinct.lua "$out/distinct.txt" 0 "$pool"

# Memory: resident set of Caddy with solo_auth before and after a flood of
# distinct valid tokens.
((flood > 0)) || exit 0
start_caddy solo
rss() { awk '/VmRSS/ {print $2}' "/proc/$pid/status"; }
before=$(rss)
"$out/tool" flood "$url" "$flood" >&2
after=$(rss)
peak=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
stop_caddy
printf 'memory after %d distinct tokens: RSS %d MiB before, %d MiB after, peak %d MiB\n' \
	"$flood" $((before / 1024)) $((after / 1024)) $((peak / 1024))
