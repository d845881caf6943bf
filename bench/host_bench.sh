#!/usr/bin/env bash
# In-process executions through the host library against the same requests
# over HTTP on loopback (figures, not pass/fail). One run of each line:
#   library  bench/bench_host: THREADS threads (default: the core count)
#            share one host (<ptexec/host.h>, libptexec.so)
#   HTTP     ptexec serve + wrk -t2 -c32 with bench/wrk_execute.lua
# for a 20-symbol portfolio that trades nothing and one that trades 20 legs,
# the five simulated brokers with every failure rate 0, journal off (as
# bench/http_bench.sh). Prints executions/s side by side and the ratio
# (issue 9's goal: library >= 2x HTTP).
# Environment: BUILD (default build), DURATION seconds per line (default 5),
# THREADS.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
BUILD_DIR=$(cd "$BUILD" && pwd)
duration=${DURATION:-5}
threads=${THREADS:-$(nproc)}
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
declare -A library http
for mode in notrade trade; do
    line=$("$BUILD_DIR/bench/bench_host" "$work/brokers.ini" "$mode" "$duration" "$threads" 2>/dev/null)
    library[$mode]=$(field "$line" executions_per_s)
done

"$BUILD_DIR/ptexec" -c "$work/brokers.ini" serve --listen 127.0.0.1:0 >"$work/server.log" 2>&1 &
server=$!
port=
for _ in $(seq 1 200); do
    port=$(ss -ltnp 2>/dev/null | sed -n "s/.*127\.0\.0\.1:\([0-9]*\) .*pid=$server,.*/\1/p" | head -n1)
    [ -n "$port" ] && break
    sleep 0.05
done
[ -n "$port" ] || { echo "host_bench: server did not start" >&2; cat "$work/server.log" >&2; exit 1; }
for mode in notrade trade; do
    wrk -t2 -c32 -d"${duration}s" -s bench/wrk_execute.lua "http://127.0.0.1:$port/execute" \
        -- "$mode" >"$work/wrk-$mode.out" 2>&1
    http[$mode]=$(sed -n 's/^Requests\/sec:[[:space:]]*\([0-9.]*\).*/\1/p' "$work/wrk-$mode.out")
    grep -q 'codes: 2xx=[1-9][0-9]* 4xx=0 5xx=0' "$work/wrk-$mode.out" ||
        echo "host_bench: HTTP $mode answered errors: $(grep codes: "$work/wrk-$mode.out")" >&2
done

echo "library ($threads threads, one host) vs HTTP (wrk -t2 -c32, loopback); ${duration} s each;" \
    "$(nproc) cores; journal off"
printf '%-22s %14s %14s %8s\n' "POST /execute body" "library ex/s" "HTTP ex/s" "ratio"
for mode in notrade trade; do
    label="no trade (20 symbols)"
    [ "$mode" = trade ] && label="20-leg trade"
    printf '%-22s %14s %14.0f %7sx\n' "$label" "${library[$mode]}" "${http[$mode]}" \
        "$(awk -v a="${library[$mode]}" -v b="${http[$mode]}" 'BEGIN {printf "%.1f", (b > 0 ? a / b : 0)}')"
done
echo "goal: library >= 2x HTTP"
