#!/usr/bin/env bash
# Runs every Check suite (build/tests/test_*) and every shell test
# (tests/*_test.sh), then prints one summary line: "N passed, M failed,
# K skipped".
# A skipped check is a line "SKIP <name>: <reason>" in a suite's log (the C
# suites print it with tu_skip, the shell suites with skip from tests/lib.sh);
# each is printed again here as "SKIP <suite>/<name>: <reason>" and listed on a
# "skipped:" line before the summary. A skip is never a failure; a suite that
# prints no summary, or a line starting with SKIP in another form, is one.
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
skipped=0
failed_names=()
skipped_names=()
skip_form='^SKIP ([^ :]+): (.+)$'

# collect_skips SUITE LOG: prints every skip line of LOG as "SKIP SUITE/name:
# reason" and records it; sets SKIPS to how many there are and BAD_SKIPS to
# the lines that start with SKIP but are not of that form.
collect_skips() {
    local suite=$1 log=$2 line
    SKIPS=0
    BAD_SKIPS=0
    while IFS= read -r line; do
        if [[ $line =~ $skip_form ]]; then
            echo "SKIP $suite/${BASH_REMATCH[1]}: ${BASH_REMATCH[2]}"
            skipped_names+=("$suite/${BASH_REMATCH[1]} (${BASH_REMATCH[2]})")
            SKIPS=$((SKIPS + 1))
        else
            echo "$suite: a skip line not of the form 'SKIP <name>: <reason>': $line"
            BAD_SKIPS=$((BAD_SKIPS + 1))
        fi
    done < <(grep -E '^SKIP' "$log")
}

# An excerpt of a log, indented so that none of its lines reads as a skip here.
excerpt() { sed 's/^/    /'; }

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
        echo "$name: $line"
        collect_skips "$name" "$log"
        # Check counts a skipped test as passed.
        bad=$((fails + errs + BAD_SKIPS))
        good=$((checks - fails - errs - SKIPS))
        [ "$good" -ge 0 ] || good=0
        passed=$((passed + good))
        failed=$((failed + bad))
        skipped=$((skipped + SKIPS))
        [ "$bad" -gt 0 ] && failed_names+=("$name")
    else
        failed=$((failed + 1))
        failed_names+=("$name")
        echo "$name: no Check summary (exit $rc)"
    fi
    if [ "$rc" -ne 0 ] || grep -qE 'Failures: [1-9]|Errors: [1-9]' <<<"$line"; then
        grep -E ':[EF]:' "$log" | head -n 20 | excerpt
    fi
done
for t in tests/*_test.sh; do
    [ -f "$t" ] || continue
    name=$(basename "$t" .sh)
    log="$out/$name.log"
    bash "$t" >"$log" 2>&1
    rc=$?
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed(, [0-9]+ skipped)?$' "$log" | tail -n1)
    if [ -n "$line" ]; then
        p=$(sed -E 's/^([0-9]+) passed.*/\1/' <<<"$line")
        f=$(sed -E 's/^[0-9]+ passed, ([0-9]+) failed.*/\1/' <<<"$line")
        echo "$name: $line"
        collect_skips "$name" "$log"
        f=$((f + BAD_SKIPS))
        if [[ $line == *skipped ]]; then
            k=$(sed -E 's/.* ([0-9]+) skipped$/\1/' <<<"$line")
            if [ "$k" -ne "$SKIPS" ]; then
                echo "$name: the summary says $k skipped, the log has $SKIPS skip lines"
                f=$((f + 1))
            fi
        fi
        passed=$((passed + p))
        failed=$((failed + f))
        skipped=$((skipped + SKIPS))
        if [ "$f" -gt 0 ]; then
            failed_names+=("$name")
            grep -E '^FAIL' "$log" | head -n 20 | excerpt
        fi
    else
        failed=$((failed + 1))
        failed_names+=("$name")
        echo "$name: no summary (exit $rc)"
        tail -n 20 "$log" | excerpt
    fi
done
[ ${#failed_names[@]} -gt 0 ] && echo "failing: ${failed_names[*]} (logs in $out)"
if [ ${#skipped_names[@]} -gt 0 ]; then
    list=$(printf '%s, ' "${skipped_names[@]}")
    echo "skipped: ${list%, }"
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
