#!/usr/bin/env bash
# Runs every Check suite (build/tests/test_*) and every shell test
# (tests/*_test.sh), then prints one summary line: "N passed, M failed".
# Environment: BUILD (default build) is the build folder to test.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
export PTEXEC_BUILD_DIR="$PWD/$BUILD"
export PTEXEC_SOURCE_DIR="$PWD"
export CK_DEFAULT_TIMEOUT=${CK_DEFAULT_TIMEOUT:-60}
[ -n "${CK_TIMEOUT_MULTIPLIER:-}" ] || export CK_TIMEOUT_MULTIPLIER=1
out="$PWD/$BUILD/test-output"
mkdir -p "$out"
passed=0
failed=0
failed_names=()
for t in "$BUILD"/tests/test_*; do
    [ -x "$t" ] || continue
    name=$(basename "$t")
    log="$out/$name.log"
    "$t" >"$log" 2>&1
    rc=$?
    line=$(grep -E '^[0-9]+%: Checks: [0-9]+' "$log" | tail -n1)
    if [ -n "$line" ]; then
        checks=$(sed -E 's/.*Checks: ([0-9]+).*/\1/' <<<"$line")
        fails=$(sed -E 's/.*Failures: ([0-9]+).*/\1/' <<<"$line")
        errs=$(sed -E 's/.*Errors: ([0-9]+).*/\1/' <<<"$line")
        bad=$((fails + errs))
        passed=$((passed + checks - bad))
        failed=$((failed + bad))
        [ "$bad" -gt 0 ] && failed_names+=("$name")
        echo "$name: $line"
    else
        failed=$((failed + 1))
        failed_names+=("$name")
        echo "$name: no Check summary (exit $rc)"
    fi
    if [ "$rc" -ne 0 ] || grep -qE 'Failures: [1-9]|Errors: [1-9]' <<<"$line"; then
        grep -E ':[EF]:' "$log" | head -n 20
    fi
done
for t in tests/*_test.sh; do
    [ -f "$t" ] || continue
    name=$(basename "$t" .sh)
    log="$out/$name.log"
    bash "$t" >"$log" 2>&1
    rc=$?
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -n1)
    if [ -n "$line" ]; then
        p=$(sed -E 's/^([0-9]+) passed.*/\1/' <<<"$line")
        f=$(sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"$line")
        passed=$((passed + p))
        failed=$((failed + f))
        echo "$name: $line"
        if [ "$f" -gt 0 ]; then
            failed_names+=("$name")
            grep -E '^(FAIL|SKIP)' "$log" | head -n 20
        fi
    else
        failed=$((failed + 1))
        failed_names+=("$name")
        echo "$name: no summary (exit $rc)"
        tail -n 20 "$log"
    fi
done
[ ${#failed_names[@]} -gt 0 ] && echo "failing: ${failed_names[*]} (logs in $out)"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
