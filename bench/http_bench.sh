#!/usr/bin/env bash
# HTTP benchmarks with wrk (Debian package wrk); figures, not pass/fail.
#   bench/http_bench.sh         wrk -t2 -c32 for 10 s each: GET /health, then
#                               POST /execute with 20-symbol portfolios that
#                               (a) trade nothing and (b) trade 20 legs; req/s,
#                               p50, p99, ratio to /health, peak RSS.
#   bench/http_bench.sh trade   the 20-leg trade line alone; `notrade` the
#                               no-trade line alone (bench/journal_http.sh
#                               compares them across journal modes); with the
#                               journal on, then also how many bytes the
#                               journal file grew per execution
#   bench/http_bench.sh soak    60 s of mixed good and bad /execute bodies:
#                               fails on connection errors, any 5xx, or RSS
#                               growth of 10% or more between 10 s and 60 s.
# Environment: BUILD (default build), DURATION (seconds, default 10),
# SOAK_SECONDS (default 60), BENCH_JOURNAL (off, the default: issue 3's
# figures are for the HTTP path and the engine; "on" journals every execution
# to SQLite in the temporary folder, as a default ptexec.ini would; "full" does
# so with journal_sync = full), BENCH_LATENCY_MS (latency_ms of every broker,
# default 0).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
BUILD_DIR=$(cd "$BUILD" && pwd)
mode=${1:-bench}
duration=${DURATION:-10}
command -v wrk >/dev/null 2>&1 || { echo "http_bench: wrk is not installed (apt-get install wrk)" >&2; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/ptexec-bench-XXXXXX")
chmod 755 "$work"
server=
trap '[ -n "$server" ] && kill -TERM "$server" 2>/dev/null; rm -rf "$work"' EXIT

journal=${BENCH_JOURNAL:-off}
journal_sync=normal
case $journal in
off) journal_path=off ;;
on) journal_path="$work/journal.db" ;;
full) journal_path="$work/journal.db" journal_sync=full ;;
*) echo "http_bench: BENCH_JOURNAL must be off, on or full" >&2; exit 2 ;;
esac
{
    printf '[host]\nplugin_dir = %s/plugins\nlog_level = warn\njournal = %s\njournal_sync = %s\n\n' \
        "$BUILD_DIR" "$journal_path" "$journal_sync"
    for b in zerodha fyers angelone groww upstox; do
        printf '[broker.%s]\nplugin = %s.so\nmode = simulated\nrate_limit_per_second = 0\n' "$b" "$b"
        printf 'poll_interval_ms = 1\ntransient_failure_rate = 0\nunknown_outcome_rate = 0\n'
        printf 'reject_rate = 0\npartial_fill_rate = 0\nauth_expiry_rate = 0\n'
        printf 'latency_ms = %s\n\n' "${BENCH_LATENCY_MS:-0}"
    done
} >"$work/brokers.ini"
# log_level = warn: the access log of ~100k requests would measure stderr, not the server.
"$BUILD_DIR/ptexec" -c "$work/brokers.ini" serve --listen 127.0.0.1:0 >"$work/server.log" 2>&1 &
server=$!
port=
for _ in $(seq 1 200); do
    port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$work/server.log" | head -n1)
    [ -n "$port" ] && break
    sleep 0.05
done
if [ -z "$port" ]; then
    # listening is logged at info; find the port from the socket instead
    port=$(ss -ltnp 2>/dev/null | sed -n "s/.*127\.0\.0\.1:\([0-9]*\) .*pid=$server,.*/\1/p" | head -n1)
fi
[ -n "$port" ] || { echo "http_bench: server did not start" >&2; cat "$work/server.log" >&2; exit 1; }
url="http://127.0.0.1:$port"
rss_kb() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\).*/\1/p' "/proc/$server/status"; }
hwm_kb() { sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\).*/\1/p' "/proc/$server/status"; }

# run_wrk LABEL ARGS…: prints one line "LABEL req/s p50 p99 codes".
run_wrk() {
    local label=$1
    shift
    wrk -t2 -c32 -d"${duration}s" --latency "$@" >"$work/$label.out" 2>&1
    local rps p50 p99 codes
    rps=$(sed -n 's/^Requests\/sec:[[:space:]]*\([0-9.]*\).*/\1/p' "$work/$label.out")
    p50=$(sed -n 's/^[[:space:]]*50%[[:space:]]*\([0-9.]*[a-z]*\).*/\1/p' "$work/$label.out")
    p99=$(sed -n 's/^[[:space:]]*99%[[:space:]]*\([0-9.]*[a-z]*\).*/\1/p' "$work/$label.out")
    codes=$(sed -n 's/^codes: //p' "$work/$label.out")
    printf '%-8s %10s req/s   p50 %-9s p99 %-9s RSS %6s kB  %s\n' "$label" "$rps" "$p50" "$p99" \
        "$(rss_kb)" "$codes"
    eval "rps_${label//[^a-z]/_}=$rps"
}

if [ "$mode" = soak ]; then
    soak=${SOAK_SECONDS:-60}
    wrk -t2 -c32 -d"${soak}s" -s bench/wrk_execute.lua "$url/execute" -- mixed >"$work/soak.out" 2>&1 &
    wrk_pid=$!
    sleep 10
    rss10=$(rss_kb)
    wait "$wrk_pid"
    rss_end=$(rss_kb)
    cat "$work/soak.out"
    growth=$(awk -v a="$rss10" -v b="$rss_end" 'BEGIN { printf "%.1f", (b - a) * 100 / a }')
    echo "RSS at 10 s: ${rss10} kB, at ${soak} s: ${rss_end} kB (growth ${growth}%)"
    bad=0
    grep -q 'codes: .* 5xx=0 ' "$work/soak.out" || { echo "soak: FAIL 5xx responses" >&2; bad=1; }
    grep -q 'errors: connect=0 read=0 write=0 timeout=0' "$work/soak.out" ||
        { echo "soak: FAIL connection errors" >&2; bad=1; }
    awk -v g="$growth" 'BEGIN { exit !(g < 10) }' || { echo "soak: FAIL RSS grew ${growth}%" >&2; bad=1; }
    [ "$bad" = 0 ] && echo "soak: PASS"
    exit "$bad"
fi

# journal_growth: after a clean stop (the WAL checkpointed into the file),
# the journal's bytes per 2xx response of the last run.
journal_growth() {
    [ "$journal" = off ] && return 0
    kill -TERM "$server" 2>/dev/null
    wait "$server" 2>/dev/null || true
    server=
    local bytes executions
    bytes=$(($(stat -c %s "$journal_path") + $(stat -c %s "$journal_path-wal" 2>/dev/null || echo 0)))
    executions=$(sqlite3 "$journal_path" 'SELECT count(*) FROM executions' 2>/dev/null || echo 0)
    [ "$executions" -gt 0 ] && printf 'journal %d bytes for %d executions: %d bytes each\n' \
        "$bytes" "$executions" $((bytes / executions))
    return 0
}

if [ "$mode" = trade ] || [ "$mode" = notrade ]; then
    run_wrk "$mode" -s bench/wrk_execute.lua "$url/execute" -- "$mode"
    journal_growth
    exit 0
fi

echo "wrk -t2 -c32 -d${duration}s on loopback; simulated brokers, every failure rate 0;" \
    "journal $journal"
run_wrk health "$url/health"
run_wrk notrade -s bench/wrk_execute.lua "$url/execute" -- notrade
run_wrk trade -s bench/wrk_execute.lua "$url/execute" -- trade
awk -v h="$rps_health" -v a="$rps_notrade" -v b="$rps_trade" 'BEGIN {
    printf "no-trade / health = %.0f%% (target >= 50%%), trade / health = %.0f%% (target >= 30%%)\n",
        a * 100 / h, b * 100 / h }'
echo "peak RSS of the server: $(hwm_kb) kB (target < 30720 kB)"
