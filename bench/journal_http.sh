#!/usr/bin/env bash
# The journal's cost over HTTP (issue 8): the no-trade and 20-leg trade lines
# of bench/http_bench.sh (wrk -t2 -c32, 64 accounts per wrk thread) with the
# journal off, journal_sync = normal and journal_sync = full, ROUNDS rounds
# (default 3) taken in turn so that the machine's drift hits every mode
# alike. Prints each mode's median req/s, p50 and p99, its ratio to journal
# off, and the bytes the journal grows per 20-leg execution.
# Environment: BUILD, DURATION (s per run, 10), ROUNDS, BENCH_LATENCY_MS
# (latency_ms of the simulated brokers, 0). Figures, not pass/fail.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${ROUNDS:-3}
modes="off on full"
workloads="notrade trade"
declare -A rps p50 p99 growth
# ms VALUE: wrk's latency ("812.00us", "3.21ms", "1.02s") in milliseconds.
ms() { awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /[0-9]s$/) n *= 1000; print n }'; }
for round in $(seq 1 "$rounds"); do
    for workload in $workloads; do
        for journal in $modes; do
            out=$(BENCH_JOURNAL=$journal bench/http_bench.sh "$workload")
            line=$(head -n1 <<<"$out")
            key="$workload.$journal"
            rps[$key]="${rps[$key]:-} $(awk '{print $2}' <<<"$line")"
            p50[$key]="${p50[$key]:-} $(ms "$(awk '{print $5}' <<<"$line")")"
            p99[$key]="${p99[$key]:-} $(ms "$(awk '{print $7}' <<<"$line")")"
            bytes=$(sed -n 's/.*: \([0-9]*\) bytes each/\1/p' <<<"$out")
            [ -n "$bytes" ] && growth[$key]="${growth[$key]:-} $bytes"
            echo "round $round $workload journal $journal: $line${bytes:+ ($bytes journal bytes/execution)}"
        done
    done
done
median() { tr ' ' '\n' <<<"$1" | sed '/^$/d' | sort -g | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
echo
echo "medians of $rounds rounds, broker latency_ms = ${BENCH_LATENCY_MS:-0}"
printf '%-9s %-22s %10s %8s %9s %9s %9s %11s\n' workload journal "req/s" "vs off" "p50 ms" "p99 ms" \
    "p99/off" "bytes/exec"
for workload in $workloads; do
    off=$(median "${rps[$workload.off]}")
    off99=$(median "${p99[$workload.off]}")
    for journal in $modes; do
        key="$workload.$journal"
        label=$journal
        [ "$journal" = off ] && label="journal off"
        [ "$journal" = on ] && label="journal_sync = normal"
        [ "$journal" = full ] && label="journal_sync = full"
        value=$(median "${rps[$key]}")
        q99=$(median "${p99[$key]}")
        printf '%-9s %-22s %10.0f %7.0f%% %9.2f %9.2f %8.1fx %11s\n' "$workload" "$label" "$value" \
            "$(awk -v a="$value" -v b="$off" 'BEGIN {print 100 * a / b}')" "$(median "${p50[$key]}")" \
            "$q99" "$(awk -v a="$q99" -v b="$off99" 'BEGIN {print (b > 0 ? a / b : 0)}')" \
            "$([ -n "${growth[$key]:-}" ] && median "${growth[$key]}" || echo -)"
    done
done
echo "(issue 8's goals: no-trade >= 70% of journal off, p99 <= 3x journal off)"
