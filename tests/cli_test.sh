#!/usr/bin/env bash
# End-to-end tests of the ptexec command line (design §2.4), run as a user
# would: the built binary, the real plugins, request files on disk.
# Prints PASS/FAIL/SKIP lines and ends with "N passed, M failed, K skipped".
set -u
cd "$(dirname "$0")/.." && . tests/lib.sh
make_work cli

# cli_ini FILE [BROKER_EXTRA]: the five simulated brokers and a log sink.
cli_ini() { write_ini "$1" "${2:-}" "" "[notify.log]\n"; }

cli_ini "$work/clean.ini"
seed='{"broker": "zerodha", "credentials": {"api_key": "demo", "access_token": "demo"},
 "target_portfolio": [{"symbol": "RELIANCE", "target_quantity": 20},
                      {"symbol": "TCS", "target_quantity": 0}]}'
echo "$seed" >"$work/seed.json"

# 1. The seed's example returns the seed's results, in request order, sells first.
run seed -c "$work/clean.ini" execute "$work/seed.json"
if [ "$rc" -eq 0 ] && json_check "$work/seed.out" '
  [(r["symbol"], r["quantity"], r["side"], r["status"], r["reason"], r["sequence"]) for r in d["results"]]
  == [("RELIANCE", 10, "BUY", "FILLED", None, 2), ("TCS", 5, "SELL", "FILLED", None, 1)]
  and d["status"] == "COMPLETED" and d["broker"] == "zerodha"
  and all(p["after"] == p["target"] and p["residual"] == 0 for p in d["positions"])
  and d["summary"]["orders"] == 2 and d["summary"]["filled"] == 2
  and all(r["filled_quantity"] == r["quantity"] and r["average_price"] > 0 for r in d["results"])
  and all(r["order_id"] and r["client_order_id"] for r in d["results"])'; then
    pass "seed example, exit 0"
else
    fail "seed example" "rc=$rc $(head -c 400 "$work/seed.err")"
fi

# 2. The seed example through every broker (the seed's credentials work for all five).
for b in fyers angelone groww upstox; do
    sed "s/zerodha/$b/" "$work/seed.json" >"$work/seed-$b.json"
    run "seed-$b" -c "$work/clean.ini" execute "$work/seed-$b.json"
    if [ "$rc" -eq 0 ] && json_check "$work/seed-$b.out" 'd["status"] == "COMPLETED" and
        [r["status"] for r in d["results"]] == ["FILLED", "FILLED"]'; then
        pass "seed example on $b"
    else
        fail "seed example on $b" "rc=$rc $(head -c 300 "$work/seed-$b.err")"
    fi
done

# 3. Dry run: every leg PLANNED, nothing placed (no order ids, no attempts, after == before).
run plan -c "$work/clean.ini" plan "$work/seed.json"
if [ "$rc" -eq 0 ] && json_check "$work/plan.out" '
  d["status"] == "PLANNED" and all(r["status"] == "PLANNED" and r["order_id"] is None
  and r["attempts"] == 0 and r["filled_quantity"] == 0 for r in d["results"])
  and [r["sequence"] for r in d["results"]] == [2, 1]
  and all(p["after"] == p["before"] for p in d["positions"])'; then
    pass "plan (dry run) places nothing"
else
    fail "plan (dry run)" "rc=$rc"
fi
"$PTEXEC" -c "$work/clean.ini" execute --dry-run - <"$work/seed.json" >"$work/dry.out" 2>"$work/dry.err"
rc=$?
if [ "$rc" -eq 0 ] && json_check "$work/dry.out" 'd["status"] == "PLANNED"'; then
    pass "execute --dry-run from standard input"
else
    fail "execute --dry-run from standard input" "rc=$rc"
fi

# 4. Nothing to do → NOOP, exit 0.
echo '{"broker":"zerodha","credentials":{"api_key":"demo","access_token":"demo"},
 "target_portfolio":[{"symbol":"RELIANCE","target_quantity":10}]}' >"$work/noop.json"
run noop -c "$work/clean.ini" execute "$work/noop.json"
if [ "$rc" -eq 0 ] && json_check "$work/noop.out" 'd["status"] == "NOOP" and d["results"] == []'; then
    pass "nothing to do: NOOP, exit 0"
else
    fail "nothing to do" "rc=$rc"
fi

# 5. Exit 1: the broker rejects every order.
cli_ini "$work/reject.ini" "reject_rate = 1"
run reject -c "$work/reject.ini" execute "$work/seed.json"
if [ "$rc" -eq 1 ] && json_check "$work/reject.out" '
  d["status"] == "FAILED" and all(r["status"] == "REJECTED" and r["reason"] for r in d["results"])
  and all(p["after"] == p["before"] for p in d["positions"])'; then
    pass "rejected legs: exit 1 with reasons, holdings unchanged"
else
    fail "rejected legs" "rc=$rc"
fi

# 6. Exit 3: the broker refuses the credentials; nothing placed.
sed 's/"access_token": "demo"/"access_token": "invalid-token"/' "$work/seed.json" >"$work/badauth.json"
run badauth -c "$work/clean.ini" execute "$work/badauth.json"
if [ "$rc" -eq 3 ] && json_check "$work/badauth.out" 'd["error"]["code"] == "broker_auth_failed"'; then
    pass "bad credentials: exit 3, broker_auth_failed"
else
    fail "bad credentials" "rc=$rc $(cat "$work/badauth.out")"
fi

# 7. Exit 2 with a message naming the field, for each kind of bad request.
bad_request() { # NAME FIELD-FRAGMENT BODY
    printf '%s' "$3" >"$work/$1.json"
    run "$1" -c "$work/clean.ini" execute "$work/$1.json"
    if [ "$rc" -eq 2 ] && grep -q -- "$2" "$work/$1.err" && grep -q -- "$2" "$work/$1.out"; then
        pass "bad request: $1 (exit 2, names $2)"
    else
        fail "bad request: $1" "rc=$rc err=$(head -c 300 "$work/$1.err")"
    fi
}
creds='"credentials": {"api_key": "demo", "access_token": "demo"}'
bad_request malformed 'malformed JSON at byte' '{"broker": "zerodha", "target_portfolio": [{"symbol": "TCS",'
bad_request negative 'target_portfolio\[0\].target_quantity' \
    "{\"broker\": \"zerodha\", $creds, \"target_portfolio\": [{\"symbol\": \"TCS\", \"target_quantity\": -1}]}"
bad_request float 'target_portfolio\[0\].target_quantity' \
    "{\"broker\": \"zerodha\", $creds, \"target_portfolio\": [{\"symbol\": \"TCS\", \"target_quantity\": 1.5}]}"
bad_request exponent 'target_portfolio\[0\].target_quantity' \
    "{\"broker\": \"zerodha\", $creds, \"target_portfolio\": [{\"symbol\": \"TCS\", \"target_quantity\": 1e3}]}"
bad_request string 'target_portfolio\[0\].target_quantity' \
    "{\"broker\": \"zerodha\", $creds, \"target_portfolio\": [{\"symbol\": \"TCS\", \"target_quantity\": \"10\"}]}"
bad_request huge 'target_portfolio\[0\].target_quantity' \
    "{\"broker\": \"zerodha\", $creds, \"target_portfolio\": [{\"symbol\": \"TCS\", \"target_quantity\": 10000000000}]}"
bad_request duplicate 'target_portfolio\[1\].symbol' \
    "{\"broker\": \"zerodha\", $creds, \"target_portfolio\": [{\"symbol\": \"TCS\", \"target_quantity\": 1}, {\"symbol\": \" tcs\", \"target_quantity\": 2}]}"
bad_request unknown_broker 'broker' \
    "{\"broker\": \"nosuchbroker\", $creds, \"target_portfolio\": [{\"symbol\": \"TCS\", \"target_quantity\": 1}]}"
bad_request missing_credentials 'credentials' \
    '{"broker": "zerodha", "target_portfolio": [{"symbol": "TCS", "target_quantity": 1}]}'
bad_request missing_token 'access_token' \
    '{"broker": "zerodha", "credentials": {"api_key": "demo"}, "target_portfolio": [{"symbol": "TCS", "target_quantity": 1}]}'
python3 - "$work/many.json" <<'PY'
import json, sys
json.dump({"broker": "zerodha", "credentials": {"api_key": "demo", "access_token": "demo"},
           "target_portfolio": [{"symbol": "S%d" % i, "target_quantity": 1} for i in range(10001)]},
          open(sys.argv[1], "w"))
PY
bad_request many 'target_portfolio' "$(cat "$work/many.json")"

# 8. Credentials never appear in logs or output, even at debug level with failures.
LOG_LEVEL=debug cli_ini "$work/noisy.ini" \
    "transient_failure_rate = 0.3\nunknown_outcome_rate = 0.3\nreject_rate = 0.2\nauth_expiry_rate = 0.1\nmax_retries = 8"
secret_key='SECRETKEY-7f3a9'
secret_token='SECRETTOKEN-c41d2'
leak=0
for i in 1 2 3 4 5; do
    printf '{"broker":"zerodha","credentials":{"api_key":"%s","access_token":"%s"},"target_portfolio":[{"symbol":"RELIANCE","target_quantity":%d},{"symbol":"TCS","target_quantity":%d},{"symbol":"INFY","target_quantity":0}]}' \
        "$secret_key" "$secret_token" $((i * 3)) $((i + 7)) >"$work/secret.json"
    run secret -c "$work/noisy.ini" execute "$work/secret.json"
    if grep -q -e "$secret_key" -e "$secret_token" "$work/secret.out" "$work/secret.err"; then
        leak=1
    fi
    [ -s "$work/secret.err" ] || leak=2
done
sed 's/"access_token":"[^"]*"/"access_token":"invalid-SECRETTOKEN-c41d2"/' "$work/secret.json" >"$work/secret2.json"
run secret2 -c "$work/noisy.ini" execute "$work/secret2.json"
grep -q -e "$secret_key" -e "$secret_token" "$work/secret2.out" "$work/secret2.err" && leak=1
if [ "$leak" -eq 0 ]; then
    pass "credentials never appear in logs or output"
else
    fail "credentials in logs" "leak=$leak"
fi

# 9. Help, version, usage errors.
run help --help
if [ "$rc" -eq 0 ] && grep -q "execute REQUEST.json" "$work/help.out"; then pass "--help"; else fail "--help" "rc=$rc"; fi
run version --version
if [ "$rc" -eq 0 ] && grep -q "^ptexec [0-9]" "$work/version.out"; then pass "--version"; else fail "--version" "rc=$rc"; fi
run unknown -c "$work/clean.ini" frobnicate
if [ "$rc" -eq 2 ] && grep -q "unknown command" "$work/unknown.err"; then pass "unknown command: exit 2"; else fail "unknown command" "rc=$rc"; fi
run nofile -c "$work/clean.ini" execute "$work/does-not-exist.json"
if [ "$rc" -eq 2 ] && grep -q "does-not-exist.json" "$work/nofile.err"; then pass "missing request file: exit 2"; else fail "missing request file" "rc=$rc"; fi

# 10. Configuration errors name file:line; exit 2.
printf '[host]\nplugin_dir = %s/plugins\nthis line is broken\n' "$BUILD_DIR" >"$work/broken.ini"
run broken -c "$work/broken.ini" brokers
if [ "$rc" -eq 2 ] && grep -q "broken.ini:3" "$work/broken.err"; then pass "malformed ini: exit 2 with file:line"; else fail "malformed ini" "rc=$rc $(cat "$work/broken.err")"; fi

# 11. brokers lists the five plugins; plugin check prints a descriptor.
run brokers -c "$work/clean.ini" brokers
if [ "$rc" -eq 0 ] && [ "$(grep -cE '^(zerodha|fyers|angelone|groww|upstox) ' "$work/brokers.out")" -eq 5 ]; then
    pass "brokers lists five plugins"
else
    fail "brokers" "rc=$rc $(cat "$work/brokers.out")"
fi
run check plugin check "$BUILD_DIR/plugins/groww.so"
if [ "$rc" -eq 0 ] && grep -q "name: *groww" "$work/check.out" && grep -q "abi: *1\." "$work/check.out"; then
    pass "plugin check groww.so"
else
    fail "plugin check" "rc=$rc $(cat "$work/check.err")"
fi
printf 'not a plugin\n' >"$work/fake.so"
run fakecheck plugin check "$work/fake.so"
if [ "$rc" -eq 2 ] && grep -q "fake.so" "$work/fakecheck.err" && grep -q "refused at open" "$work/fakecheck.err"; then
    pass "plugin check refuses a non-ELF file"
else
    fail "plugin check non-ELF" "rc=$rc $(cat "$work/fakecheck.err")"
fi

# 12. holdings shows the account; text format prints a table.
run holdings -c "$work/clean.ini" holdings --broker zerodha --api-key demo --access-token demo
if [ "$rc" -eq 0 ] && json_check "$work/holdings.out" '
  {h["symbol"]: h["quantity"] for h in d["holdings"]} == {"RELIANCE": 10, "TCS": 5, "INFY": 8}'; then
    pass "holdings of a new account are the initial holdings"
else
    fail "holdings" "rc=$rc $(cat "$work/holdings.err")"
fi
run text -c "$work/clean.ini" execute --format text "$work/seed.json"
if [ "$rc" -eq 0 ] && grep -qE '^1 +SELL +TCS +5 +FILLED' "$work/text.out"; then
    pass "--format text prints a table"
else
    fail "--format text" "rc=$rc $(head -c 300 "$work/text.out")"
fi

# 13. On a terminal, one progress line per order on stderr as it completes.
if command -v script >/dev/null 2>&1; then
    script -qec "'$PTEXEC' -c '$work/clean.ini' execute '$work/seed.json' >/dev/null" /dev/null \
        >"$work/tty.out" 2>&1 </dev/null
    if grep -qE '^\[1/2\] SELL TCS +5 +FILLED' "$work/tty.out" &&
        grep -qE '^\[2/2\] BUY +RELIANCE +10 +FILLED' "$work/tty.out"; then
        pass "progress lines on a terminal"
    else
        fail "progress lines on a terminal" "$(head -c 300 "$work/tty.out")"
    fi
    "$PTEXEC" -c "$work/clean.ini" execute "$work/seed.json" >/dev/null 2>"$work/notty.err"
    if grep -q '^\[1/2\]' "$work/notty.err"; then
        fail "no progress lines without a terminal" "found one"
    else
        pass "no progress lines without a terminal"
    fi
else
    skip progress_lines "the script command (bsdutils) is not installed"
fi

# 14. One trading process per journal: a CLI execution beside a running server
# is refused (it could trade the same account twice), history still reads it.
start_server serve "$work/clean.ini"
run beside -c "$work/clean.ini" execute "$work/seed.json"
if [ "$rc" -eq 3 ] && json_check "$work/beside.out" 'd["error"]["code"] == "journal_unavailable"' &&
    grep -q "in use by another ptexec process" "$work/beside.err"; then
    pass "a second trading process on the same journal is refused"
else
    fail "second trading process" "rc=$rc $(head -c 300 "$work/beside.out")"
fi
run history_beside -c "$work/clean.ini" history
if [ "$rc" -eq 0 ]; then pass "history reads the journal while the server runs"; else fail "history beside the server" "rc=$rc"; fi
stop_server
run after_server -c "$work/clean.ini" execute "$work/seed.json"
if [ "$rc" -eq 0 ] || [ "$rc" -eq 1 ]; then pass "the journal is free again once the server stops"; else fail "journal after the server stopped" "rc=$rc $(head -c 300 "$work/after_server.err")"; fi

# 15. The sample configurations parse cleanly (no unknown keys, no config errors).
for ini in config/*.ini brokers.ini; do
    PTEXEC_API_TOKEN=t "$PTEXEC" -c "$ini" brokers >"$work/sample.out" 2>"$work/sample.err"
    if grep -qiE "unknown key|invalid_config|:[0-9]+: " "$work/sample.err"; then
        fail "sample configuration $ini" "$(head -c 300 "$work/sample.err")"
    else
        pass "sample configuration $ini parses"
    fi
done

finish
