#!/usr/bin/env bash
# In-process executions through the host library against the same requests
# over HTTP on loopback (figures, not pass/fail). One run of each line:
#   library  bench/bench_host: THREADS threads (default: the core count)
#            share one host (<ptexec/host.h>, libptexec.so)
#   HTTP     ptexec serve + wrk -t2 -c32 with bench/wrk_execute.lua
# for a 20-symbol portfolio that trades nothing and one that trades 20 legs,
# the five simulated brokers with every failure rate 0, journal off (as
# bench/http_bench.sh). The two paths take turns (library, HTTP, library, …)
# for ROUNDS rounds so that a change in the machine's load hits both; prints
# the median executions/s of each side by side and their ratio (issue 9's
# goal: library >= 2x HTTP).
# Environment: BUILD (default build), DURATION seconds per line (default 5),
# ROUNDS (default 3), THREADS (default: the core count).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
BUILD_DIR=$(cd "$BUILD" && pwd)
duration=${DURATION:-5}
threads=${THREADS:-$(nproc)}
rounds=${ROUNDS:-3}
command -v wrk >/dev/null 2>&1 || { echo "host_bench: wrk is not installed (apt-get install wrk)" >&2; exit 1; }
work=$(mktemp -d /tmp/ptexec-host-bench-XXXXXX)
chmod 755 "$work"
server=
trap '[ -n "$server" ] && kill -TERM "$server" 2>/dev/null; rm -rf "$work"' EXIT
{
    printf '[host]\nplugin_dir = %s/plugins\nlog_level = warn\njournal = off\n\n' "$BUILD_DIR"
    for b in zerodha fyers angelone groww upstox; do
        printf '[broker.%s]\nplugin = %s.so\nmode = simulated\nrate_limit_per_second = 0\n' "$b" "$b"
        printf 'poll_interval_ms = 1\ntransient_failure_rate = 0\nunknown_outcome_rate = 0\n'
        printf 'reject_rate = 0\npartial_fill_rate = 0\nauth_expiry_rate = 0\n\n'
    done
} >"$work/brokers.ini"

field() { sed -nE "s/.*(^| )$2=([^ ]+).*/\2/p" <<<"$1"; }
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }

"$BUILD_DIR/ptexec" -c "$work/brokers.ini" serve --listen 127.0.0.1:0 >"$work/server.log" 2>&1 &
server=$!
port=
for _ in $(seq 1 200); do
    port=$(ss -ltnp 2>/dev/null | sed -n "s/.*127\.0\.0\.1:\([0-9]*\) .*pid=$server,.*/\1/p" | head -n1)
    [ -n "$port" ] && break
    sleep 0.05
done
[ -n "$port" ] || { echo "host_bench: server did not start" >&2; cat "$work/server.log" >&2; exit 1; }

# library MODE / http MODE: one line's executions/s.
library() {
    field "$("$BUILD_DIR/bench/bench_host" "$work/brokers.ini" "$1" "$duration" "$threads")" \
        executions_per_s
}
http() {
    wrk -t2 -c32 -d"${duration}s" -s bench/wrk_execute.lua "http://127.0.0.1:$port/execute" \
        -- "$1" >"$work/wrk-$1.out" 2>&1
    grep -q 'codes: 2xx=[1-9][0-9]* 4xx=0 5xx=0' "$work/wrk-$1.out" ||
        echo "host_bench: HTTP $1 answered errors: $(grep codes: "$work/wrk-$1.out")" >&2
    sed -n 's/^Requests\/sec:[[:space:]]*\([0-9.]*\).*/\1/p' "$work/wrk-$1.out"
}
declare -A library_runs http_runs
for ((round = 1; round <= rounds; round++)); do
    for mode in notrade trade; do
        library_runs[$mode]+=" $(library "$mode")"
        http_runs[$mode]+=" $(http "$mode")"
    done
done

echo "library ($threads threads, one host) vs HTTP (wrk -t2 -c32, loopback); ${duration} s per" \
    "line, medians of $rounds interleaved rounds; $(nproc) cores; journal off"
printf '%-22s %14s %14s %8s   %s\n' "POST /execute body" "library ex/s" "HTTP ex/s" "ratio" \
    "runs (library | HTTP)"
for mode in notrade trade; do
    label="no trade (20 symbols)"
    [ "$mode" = trade ] && label="20-leg trade"
    a=$(median ${library_runs[$mode]})
    b=$(median ${http_runs[$mode]})
    printf '%-22s %14.0f %14.0f %7sx   %s |%s\n' "$label" "$a" "$b" \
        "$(awk -v a="$a" -v b="$b" 'BEGIN {printf "%.1f", (b > 0 ? a / b : 0)}')" \
        "${library_runs[$mode]# }" "${http_runs[$mode]}"
done
echo "goal: library >= 2x HTTP"
