#!/usr/bin/env bash
# HTTP benchmarks with wrk (Debian package wrk); figures, not pass/fail.
#   bench/http_bench.sh         one run, side by side: the libmicrohttpd ceiling
#                               (build/bench/http_ceiling: the server's threading
#                               flags, a fixed reply) on GET /health, then ptexec
#                               with the journal off and on: GET /health and
#                               POST /execute with 20-symbol portfolios that
#                               (a) trade nothing and (b) trade 20 legs; then the
#                               same (journal off) with 1,000 idle connections
#                               held open beside wrk. wrk -t2 -c32, DURATION s
#                               each: req/s, p50, p99, RSS, share of the ceiling.
#   bench/http_bench.sh trade   the 20-leg trade line alone; `notrade` the
#                               no-trade line alone (bench/journal_http.sh
#                               compares them across journal modes); with the
#                               journal on, then also how many bytes the
#                               journal file grew per execution
#   bench/http_bench.sh soak    60 s of mixed good and bad /execute bodies:
#                               fails on connection errors, any 5xx, or RSS
#                               growth of 10% or more between 10 s and 60 s.
# Environment: BUILD (default build), DURATION (seconds, default 10),
# SOAK_SECONDS (default 60), BENCH_JOURNAL (trade, notrade and soak modes:
# off, the default; "on" journals to SQLite in the temporary folder; "full"
# with journal_sync = full), BENCH_IDLE (idle connections, default 1000),
# BENCH_LATENCY_MS (latency_ms of every broker, default 0).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
BUILD_DIR=$(cd "$BUILD" && pwd)
mode=${1:-bench}
duration=${DURATION:-10}
command -v wrk >/dev/null 2>&1 || { echo "http_bench: wrk is not installed (apt-get install wrk)" >&2; exit 1; }
work=$(mktemp -d /tmp/ptexec-bench-XXXXXX)
chmod 755 "$work"
server=

idle_pid=
trap '[ -n "$server" ] && kill -TERM "$server" 2>/dev/null; [ -n "$idle_pid" ] && kill "$idle_pid" 2>/dev/null; rm -rf "$work"' EXIT

# start_ptexec JOURNAL: starts ptexec serve (journal off, on or full); sets
# server and url.
start_ptexec() {
    local journal=$1 journal_sync=normal
    case $journal in
    off) journal_path=off ;;
    on) journal_path="$work/journal-$RANDOM.db" ;;
    full) journal_path="$work/journal-$RANDOM.db" journal_sync=full ;;
    *) echo "http_bench: BENCH_JOURNAL must be off, on or full" >&2; exit 2 ;;
    esac
    {
        printf '[host]\nplugin_dir = %s/plugins\nlog_level = warn\njournal = %s\njournal_sync = %s\n' \
            "$BUILD_DIR" "$journal_path" "$journal_sync"
        # Idle connections are held for the whole run.
        printf 'connection_timeout_s = 600\nheader_timeout_s = 600\n\n'
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
    wait_port "$server"
}

# wait_port PID: the loopback port PID listens on, into url.
wait_port() {
    local port=
    for _ in $(seq 1 200); do
        port=$(ss -ltnpH 2>/dev/null | sed -n "s/.*127\.0\.0\.1:\([0-9]*\) .*pid=$1,.*/\1/p" | head -n1)
        [ -n "$port" ] && break
        sleep 0.05
    done
    [ -n "$port" ] || { echo "http_bench: server did not start" >&2; cat "$work/server.log" >&2; exit 1; }
    url="http://127.0.0.1:$port"
}

stop_server() {
    kill -TERM "$server" 2>/dev/null
    wait "$server" 2>/dev/null || true
    server=
}

start_ceiling() {
    "$BUILD_DIR/bench/http_ceiling" 0 >"$work/server.log" 2>&1 &
    server=$!
    wait_port "$server"
}

# hold_idle COUNT: COUNT connections (from 127.0.0.2-5, under the per-address
# limit) that each send one GET /health, read the answer and stay open.
hold_idle() {
    python3 - "${url##*:}" "$1" >"$work/idle.log" 2>&1 <<'PY' &
import socket, sys, time
port, count = int(sys.argv[1]), int(sys.argv[2])
held = []
for i in range(count):
    s = socket.create_connection(("127.0.0.1", port), timeout=5, source_address=("127.0.0.%d" % (2 + i % 4), 0))
    s.sendall(b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n")
    held.append(s)
for s in held:
    s.recv(4096)
print("holding", len(held), flush=True)
time.sleep(3600)
PY
    idle_pid=$!
    for _ in $(seq 1 200); do grep -q holding "$work/idle.log" && return; sleep 0.05; done
    echo "http_bench: could not hold $1 idle connections: $(cat "$work/idle.log")" >&2
}

release_idle() {
    [ -n "$idle_pid" ] && kill "$idle_pid" 2>/dev/null
    wait "$idle_pid" 2>/dev/null || true
    idle_pid=
}
rss_kb() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\).*/\1/p' "/proc/$server/status"; }

# run_wrk LABEL ARGS…: prints one line "LABEL req/s p50 p99 RSS share codes";
# the req/s goes into rps_LABEL. `ceiling` is the ceiling's req/s, once known.
ceiling=
run_wrk() {
    local label=$1
    shift
    local out="$work/${label//[^a-z0-9]/_}.out"
    wrk -t2 -c32 -d"${duration}s" --latency "$@" >"$out" 2>&1
    local rps p50 p99 codes share=-
    rps=$(sed -n 's/^Requests\/sec:[[:space:]]*\([0-9.]*\).*/\1/p' "$out")
    p50=$(sed -n 's/^[[:space:]]*50%[[:space:]]*\([0-9.]*[a-z]*\).*/\1/p' "$out")
    p99=$(sed -n 's/^[[:space:]]*99%[[:space:]]*\([0-9.]*[a-z]*\).*/\1/p' "$out")
    codes=$(sed -n 's/^codes: //p' "$out")
    [ -n "$ceiling" ] && share=$(awk -v a="$rps" -v c="$ceiling" 'BEGIN { printf "%.0f%%", a * 100 / c }')
    printf '%-22s %10s req/s  p50 %-9s p99 %-9s RSS %6s kB  %5s of ceiling  %s\n' "$label" "$rps" \
        "$p50" "$p99" "$(rss_kb)" "$share" "$codes"
    eval "rps_${label//[^a-z0-9]/_}=$rps"
}

if [ "$mode" = soak ]; then
    start_ptexec "${BENCH_JOURNAL:-off}"
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
# the journal's bytes per execution of the last run.
journal_growth() {
    [ "$journal_path" = off ] && return 0
    stop_server
    local bytes executions
    bytes=$(($(stat -c %s "$journal_path") + $(stat -c %s "$journal_path-wal" 2>/dev/null || echo 0)))
    executions=$(sqlite3 "$journal_path" 'SELECT count(*) FROM executions' 2>/dev/null || echo 0)
    [ "$executions" -gt 0 ] && printf 'journal %d bytes for %d executions: %d bytes each\n' \
        "$bytes" "$executions" $((bytes / executions))
    return 0
}

if [ "$mode" = trade ] || [ "$mode" = notrade ]; then
    start_ptexec "${BENCH_JOURNAL:-off}"
    run_wrk "$mode" -s bench/wrk_execute.lua "$url/execute" -- "$mode"
    journal_growth
    exit 0
fi

idle=${BENCH_IDLE:-1000}
echo "wrk -t2 -c32 -d${duration}s on loopback, $(nproc) cores; simulated brokers, every failure rate 0"
start_ceiling
run_wrk "ceiling /health" "$url/health"
ceiling=$rps_ceiling__health
stop_server
for journal in off on; do
    start_ptexec "$journal"
    run_wrk "journal $journal: /health" "$url/health"
    run_wrk "journal $journal: no-trade" -s bench/wrk_execute.lua "$url/execute" -- notrade
    run_wrk "journal $journal: trade" -s bench/wrk_execute.lua "$url/execute" -- trade
    stop_server
done
echo "with $idle idle connections held open beside wrk (journal off):"
saved_ceiling=$ceiling
ceiling=
start_ceiling
hold_idle "$idle"
run_wrk "idle ceiling /health" "$url/health"
ceiling=$rps_idle_ceiling__health
release_idle
stop_server
start_ptexec off
hold_idle "$idle"
run_wrk "idle: /health" "$url/health"
run_wrk "idle: no-trade" -s bench/wrk_execute.lua "$url/execute" -- notrade
run_wrk "idle: trade" -s bench/wrk_execute.lua "$url/execute" -- trade
release_idle
stop_server
awk -v c="$saved_ceiling" -v a="$rps_journal_off__no_trade" -v b="$rps_journal_off__trade" 'BEGIN {
    printf "journal off: no-trade %.0f%% of the ceiling (goal >= 40%%), trade %.0f%% (goal >= 12%%)\n",
        a * 100 / c, b * 100 / c }'
