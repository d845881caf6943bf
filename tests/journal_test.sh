#!/usr/bin/env bash
# End-to-end tests of the journal through the command line (issue 4):
# execute --idempotency-key twice places once and prints the same bytes,
# a reused key with another body is refused, history lists, show prints the
# stored response and the leg timeline, a journal that cannot be written
# refuses before placing, `journal = off` runs without one, and the journal's
# files are 0600.
# Prints PASS/FAIL lines and ends with "N passed, M failed, K skipped".
set -u
cd "$(dirname "$0")/.." && . tests/lib.sh
make_work journal

# journal_ini FILE JOURNAL: one simulated zerodha with a state file, no faults.
journal_ini() { INI_BROKERS=zerodha INI_STATE_FILE="$work/state.txt" write_ini "$1" "" "journal = $2"; }

orders() { grep -c '^O ' "$work/state.txt" 2>/dev/null || echo 0; }

ini="$work/brokers.ini"
journal_ini "$ini" "$work/journal.db"
cat >"$work/request.json" <<'JSON'
{"broker": "zerodha", "credentials": {"api_key": "demo", "access_token": "demo"},
 "target_portfolio": [{"symbol": "RELIANCE", "target_quantity": 20},
                      {"symbol": "TCS", "target_quantity": 0}]}
JSON

run first -c "$ini" execute "$work/request.json" --idempotency-key cli-key-1
check "first execute with a key succeeds" '[ $rc -eq 0 ]' "exit $rc: $(cat "$work/first.err")"
check "first execute placed two orders" '[ "$(orders)" = 2 ]' "orders: $(orders)"
state_before=$(cat "$work/state.txt")
run second -c "$ini" execute "$work/request.json" --idempotency-key cli-key-1
check "second execute with the same key succeeds" '[ $rc -eq 0 ]'
check "second execute prints identical bytes" 'cmp -s "$work/first.out" "$work/second.out"'
check "second execute placed nothing" '[ "$(cat "$work/state.txt")" = "$state_before" ]'
check "second execute logs the replay" 'grep -q "stored response returned, nothing placed" "$work/second.err"'

sed 's/"target_quantity": 20/"target_quantity": 21/' "$work/request.json" >"$work/other.json"
run conflict -c "$ini" execute "$work/other.json" --idempotency-key cli-key-1
check "same key, other body: exit 2" '[ $rc -eq 2 ]' "exit $rc"
check "same key, other body: idempotency_conflict" \
    '[ "$(json_field "$work/conflict.out" "d[\"error\"][\"code\"]")" = idempotency_conflict ]'
check "same key, other body: nothing placed" '[ "$(orders)" = 2 ]'

run plain -c "$ini" execute "$work/other.json"
check "execute without a key runs" '[ $rc -eq 0 ] && [ "$(orders)" = 3 ]' "exit $rc, orders $(orders)"

id=$(json_field "$work/first.out" 'd["execution_id"]')
run history -c "$ini" history
check "history lists the keyed execution" 'grep -q "$id .*COMPLETED .*cli-key-1" "$work/history.out"'
run history_json -c "$ini" history --limit 1 --format json
check "history --limit 1 --format json lists one" \
    '[ "$(json_field "$work/history_json.out" "len(d[\"executions\"])")" = 1 ]'
run show -c "$ini" show "$id"
check "show exits 0" '[ $rc -eq 0 ]'
check "show carries the stored response" \
    '[ "$(json_field "$work/show.out" "json.dumps(d[\"response\"], separators=(\",\", \":\"))")" = "$(cat "$work/first.out")" ]'
check "show has the per-leg timeline" \
    '[ "$(json_field "$work/show.out" "[e[\"state\"] for e in d[\"legs\"][0][\"events\"]]")" = "['"'"'SENDING'"'"', '"'"'ACCEPTED'"'"', '"'"'FILLED'"'"']" ]'
run show_missing -c "$ini" show ex-NOSUCHEXECUTION
check "show of an unknown id: exit 2, not_found" \
    '[ $rc -eq 2 ] && grep -q "not_found" "$work/show_missing.out"'

# A journal that cannot be written: refused before placing, exit 3.
journal_ini "$work/broken.ini" "$work/no/such/folder/journal.db"
before=$(orders)
run broken -c "$work/broken.ini" execute "$work/request.json" --idempotency-key k2
check "unwritable journal: exit 3, journal_unavailable" \
    '[ $rc -eq 3 ] && grep -q journal_unavailable "$work/broken.out"' "exit $rc"
check "unwritable journal: the log names the file" 'grep -q "no/such/folder/journal.db" "$work/broken.err"'
check "unwritable journal: nothing placed" '[ "$(orders)" = "$before" ]'
run broken_plan -c "$work/broken.ini" plan "$work/request.json"
check "unwritable journal: a dry run still works" '[ $rc -eq 0 ]'

# journal = off: executions run, history says the journal is off.
journal_ini "$work/off.ini" "off"
run off -c "$work/off.ini" execute "$work/request.json" --idempotency-key k3
check "journal = off: execute runs" '[ $rc -eq 0 ]'
run off_history -c "$work/off.ini" history
check "journal = off: history explains" '[ $rc -ne 0 ] && grep -q "journal is off" "$work/off_history.err"'

# The journal, its lock and key files are 0600 whatever the umask.
mkdir "$work/modes"
journal_ini "$work/modes/brokers.ini" "$work/modes/journal.db"
(umask 000 && "$PTEXEC" -c "$work/modes/brokers.ini" execute "$work/request.json" >/dev/null 2>&1)
check "journal, lock and key files are 0600 under umask 000" \
    '[ "$(stat -c %a "$work/modes/journal.db")" = 600 ] && [ "$(stat -c %a "$work/modes/journal.db.lock")" = 600 ] && [ "$(stat -c %a "$work/modes/journal.db.key")" = 600 ]' \
    "modes: $(stat -c '%n %a' "$work"/modes/journal.db* | tr '\n' ' ')"

finish
