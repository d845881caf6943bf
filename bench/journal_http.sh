#!/usr/bin/env bash
# The journal's cost over HTTP (issue 4): the 20-leg trade line of
# bench/http_bench.sh with the journal off, journal_sync = normal and
# journal_sync = full, ROUNDS rounds (default 3) taken in turn so that the
# machine's drift hits every mode alike; prints each mode's median req/s and
# its ratio to journal off. Environment: BUILD, DURATION (s per run, 10),
# ROUNDS. Figures, not pass/fail.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${ROUNDS:-3}
declare -A runs=([off]="" [on]="" [full]="")
for round in $(seq 1 "$rounds"); do
    for journal in off on full; do
        line=$(BENCH_JOURNAL=$journal bench/http_bench.sh trade)
        rps=$(awk '{print $2}' <<<"$line")
        runs[$journal]="${runs[$journal]} $rps"
        echo "round $round journal $journal: $line"
    done
done
median() { tr ' ' '\n' <<<"$1" | sed '/^$/d' | sort -n | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
off=$(median "${runs[off]}")
echo
printf '%-28s %12s %10s\n' "POST /execute, 20 legs" "median req/s" "vs off"
for journal in off on full; do
    value=$(median "${runs[$journal]}")
    label=$journal
    [ "$journal" = on ] && label="journal_sync = normal"
    [ "$journal" = full ] && label="journal_sync = full"
    [ "$journal" = off ] && label="journal off"
    printf '%-28s %12.0f %9.0f%%\n' "$label" "$value" "$(awk -v a="$value" -v b="$off" 'BEGIN {print 100 * a / b}')"
done
echo "(issue 4's target: journal_sync = normal at >= 70% of journal off)"
