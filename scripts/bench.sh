#!/usr/bin/env bash
# Runs the benchmarks (figures, not pass/fail): plan_build and a full
# engine_execute on portfolios of 1k, 10k, 100k and 1M symbols. Each size runs
# in its own process, BENCH_RUNS times (BENCH_RUNS_LARGE for 1M), and the
# table shows medians: ns per symbol, peak RSS, and the ratio of ns/symbol to
# the previous size (about 1 when cost grows linearly).
# Environment: BUILD (default build), BENCH_SIZES, BENCH_RUNS (5),
# BENCH_RUNS_LARGE (3), BENCH_TIMEOUT seconds per run (900),
# BENCH_JOURNAL_EXECUTIONS (300): executions per journal mode,
# BENCH_PARALLEL_RUNS (3): runs of each concurrent-placement line,
# BENCH_PARALLEL_RATES ("100 25 10"): order rates of those lines,
# BENCH_ONLY=parallel: that table alone; BENCH_ONLY=symbols: plan_build and
# engine_execute by portfolio size alone.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
case $BUILD in
/*) export PTEXEC_BUILD_DIR="$BUILD" ;;
*) export PTEXEC_BUILD_DIR="$PWD/$BUILD" ;;
esac
sizes=${BENCH_SIZES:-"1000 10000 100000 1000000"}
runs=${BENCH_RUNS:-5}
runs_large=${BENCH_RUNS_LARGE:-3}
run_timeout=${BENCH_TIMEOUT:-900}
failures=0

# field LINE NAME: the value of NAME=VALUE in LINE.
field() { sed -nE "s/.*(^| )$2=([^ ]+).*/\2/p" <<<"$1"; }

# median VALUES...: the middle value (the lower middle for an even count).
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }

# bench NAME: one table for $BUILD/bench/NAME over every size.
bench() {
    local name=$1 binary="$BUILD/bench/$1" previous="" size count i line
    if [ ! -x "$binary" ]; then
        echo "$binary is missing: run make bench" >&2
        failures=$((failures + 1))
        return
    fi
    echo
    echo "$name (median of runs)"
    printf '%10s %6s %14s %14s %14s %10s\n' symbols runs "ns/symbol" "ratio/prev" \
        "seed ns/sym" "RSS MiB"
    for size in $sizes; do
        count=$runs
        [ "$size" -ge 1000000 ] && count=$runs_large
        local ns=() seed=() rss=()
        for ((i = 0; i < count; i++)); do
            if ! line=$(timeout "$run_timeout" "$binary" "$size" 2>"$BUILD/bench/$name.err"); then
                echo "$name $size: run failed: $(head -c 400 "$BUILD/bench/$name.err")" >&2
                failures=$((failures + 1))
                continue 2
            fi
            ns+=("$(field "$line" ns_per_symbol)")
            rss+=("$(field "$line" peak_rss_mib)")
            seed+=("$(field "$line" seed_ns_per_symbol)")
        done
        local ns_median rss_median seed_median="-" ratio="-"
        ns_median=$(median "${ns[@]}")
        rss_median=$(median "${rss[@]}")
        [ -n "${seed[0]}" ] && seed_median=$(median "${seed[@]}")
        [ -n "$previous" ] && ratio=$(awk -v a="$ns_median" -v b="$previous" \
            'BEGIN {printf "%.2f", a / b}')
        printf '%10s %6s %14s %14s %14s %10s\n' "$size" "$count" "$ns_median" "$ratio" \
            "$seed_median" "$rss_median"
        previous=$ns_median
    done
}

# journal_bench: engine throughput of 20-leg executions, journal off / normal / full.
journal_bench() {
    local binary="$BUILD/bench/bench_journal" mode line off_rate="" rate
    if [ ! -x "$binary" ]; then
        echo "$binary is missing: run make bench" >&2
        failures=$((failures + 1))
        return
    fi
    echo
    echo "bench_journal: engine_execute of 20-leg executions (${BENCH_JOURNAL_EXECUTIONS:-300} each)"
    printf '%8s %14s %12s %12s\n' journal "executions/s" "legs/s" "vs off"
    for mode in off normal full; do
        if ! line=$(timeout "$run_timeout" "$binary" "$mode" "${BENCH_JOURNAL_EXECUTIONS:-300}" \
            2>"$BUILD/bench/bench_journal.err"); then
            echo "bench_journal $mode: run failed: $(head -c 400 "$BUILD/bench/bench_journal.err")" >&2
            failures=$((failures + 1))
            continue
        fi
        rate=$(field "$line" executions_per_s)
        [ "$mode" = off ] && off_rate=$rate
        printf '%8s %14s %12s %11s%%\n' "$mode" "$rate" "$(field "$line" legs_per_s)" \
            "$(awk -v a="$rate" -v b="$off_rate" 'BEGIN {printf "%.0f", (b > 0 ? 100 * a / b : 0)}')"
    done
}

# parallel_line BROKER RATE SELLS BUYS JOURNAL READS: one line of the
# concurrent placement table, the median wall time of BENCH_PARALLEL_RUNS
# runs (each in its own process) and its ratio to the bound legs / RATE.
# BROKER is parallel (the fixture), a simulated plugin (zerodha), or that
# with "-cold" (instrument facts not cached yet: BENCH_PARALLEL_COLD). READS
# is "declared" (no read key: the plugin's declared limit, 0 for both
# brokers here, so reads are not paced) or a read_rate_limit_per_second
# value. 429s: the broker's own refusals, summed over the runs. Sets
# LINE_WALL to the median.
parallel_line() {
    local broker=$1 rate=$2 sells=$3 buys=$4 journal=$5 reads=$6 binary="$BUILD/bench/bench_parallel"
    local walls=() i line extra="" refused=0 wall cold="" plugin=${1%-cold}
    [ "$reads" != declared ] && extra="read_rate_limit_per_second = $reads"
    [ "$plugin" != "$broker" ] && cold=1
    for ((i = 0; i < ${BENCH_PARALLEL_RUNS:-3}; i++)); do
        if ! line=$(BENCH_PARALLEL_EXTRA=$extra BENCH_PARALLEL_COLD=$cold timeout "$run_timeout" \
            "$binary" "$rate" "$sells" "$buys" "$journal" "$plugin" \
            2>"$BUILD/bench/bench_parallel.err"); then
            echo "bench_parallel $rate $sells $buys $journal $broker: run failed: $(head -c 400 "$BUILD/bench/bench_parallel.err")" >&2
            failures=$((failures + 1))
            return
        fi
        walls+=("$(field "$line" wall_s)")
        refused=$((refused + $(field "$line" too_many_requests)))
    done
    wall=$(median "${walls[@]}")
    LINE_WALL=$wall
    printf '%-13s %6s %6s %5s %8s %8s %9s %8s %7s %6s\n' "$broker" "$rate" "$sells" "$buys" \
        "$journal" "$reads" "$wall" \
        "$(awk -v l=$((sells + buys)) -v r="$rate" 'BEGIN {printf "%.2f", l / r}')" \
        "$(awk -v w="$wall" -v l=$((sells + buys)) -v r="$rate" 'BEGIN {printf "%.3f", w * r / l}')" \
        "$refused"
}

parallel_header() {
    printf '%-13s %6s %6s %5s %8s %8s %9s %8s %7s %6s\n' broker rate sells buys journal reads \
        "wall s" "bound s" ratio "429s"
}

# parallel_bench: issue 12's 200-leg rebalance at 50 ms per call against the
# fixture broker that takes parallel calls (tests/plugins/parallel.so) and
# against a simulated broker (zerodha.so, rate_limit_per_second = rate,
# market orders filled at their first read; bench/bench_parallel.c).
parallel_bench() {
    local rate off normal
    if [ ! -x "$BUILD/bench/bench_parallel" ] || [ ! -f "$BUILD/tests/plugins/parallel.so" ]; then
        echo "bench_parallel or its plugin is missing: run make bench" >&2
        failures=$((failures + 1))
        return
    fi
    echo
    echo "bench_parallel: 200-leg rebalance, 50 ms per call (median of ${BENCH_PARALLEL_RUNS:-3}; ratio = wall / (legs / rate))"
    parallel_header
    for rate in ${BENCH_PARALLEL_RATES:-100 25 10}; do
        parallel_line parallel "$rate" 0 200 off declared
        parallel_line parallel "$rate" 100 100 off declared
        parallel_line parallel "$rate" 0 200 off "$rate"
        parallel_line parallel "$rate" 100 100 off "$rate"
        parallel_line zerodha "$rate" 0 200 off declared
        parallel_line zerodha "$rate" 100 100 off declared
    done
    parallel_line zerodha-cold 100 0 200 off declared
    echo
    echo "journal on (normal) vs off, 100 orders/s, 100 sells + 100 buys"
    parallel_header
    local reads
    for reads in declared 100; do
        parallel_line parallel 100 100 100 off "$reads"
        off=$LINE_WALL
        parallel_line parallel 100 100 100 normal "$reads"
        normal=$LINE_WALL
        awk -v a="$normal" -v b="$off" -v r="$reads" \
            'BEGIN {printf "journal normal / off (reads %s): %.3f\n", r, a / b}'
    done
}

echo "ptexec benchmarks: $(uname -m), $(nproc) cores, build $BUILD"
if [ "${BENCH_ONLY:-}" = parallel ]; then
    parallel_bench
    [ "$failures" -eq 0 ]
    exit
fi
bench bench_plan
bench bench_execute
if [ "${BENCH_ONLY:-}" = symbols ]; then
    [ "$failures" -eq 0 ]
    exit
fi
journal_bench
parallel_bench
echo
echo "ratio/prev: ns/symbol at this size over ns/symbol at the previous size;"
echo "near 1 means cost grows linearly with the number of symbols."

# The HTTP server under wrk (issue 3's targets); `make soak` runs its 60 s soak.
echo
if command -v wrk >/dev/null 2>&1; then
    BUILD=$BUILD bench/http_bench.sh || failures=$((failures + 1))
    echo
    echo "journal_http: the journal's cost over HTTP"
    BUILD=$BUILD bench/journal_http.sh || failures=$((failures + 1))
    echo
    echo "host_bench: in-process (libptexec) vs HTTP"
    BUILD=$BUILD bench/host_bench.sh || failures=$((failures + 1))
else
    echo "http_bench: SKIPPED (wrk is not installed: apt-get install wrk)"
fi
[ "$failures" -eq 0 ]
