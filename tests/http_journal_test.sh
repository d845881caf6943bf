#!/usr/bin/env bash
# Integration tests of the journal through the HTTP API (issue 4): idempotent
# executions (Idempotency-Key header and idempotency_key field, sequential and
# concurrent, scoped per broker account), history (GET /executions and GET
# /executions/{id}), crash recovery through the real server (kill -9 at random
# points mid-execution, restart, resubmit with the same key) and journal
# faults (unusable path, read-only file, locked database, full disk).
# Starts build/ptexec serve on free loopback ports and speaks HTTP with curl.
# The simulated brokers keep their accounts in a state_file, so holdings
# survive restarts. Prints PASS/FAIL/SKIP lines and ends with
# "N passed, M failed, K skipped".
#   PTEXEC_CRASH_RUNS  number of kill -9 runs (default 50)
#   PTEXEC_CRASH_SEED  seed of the kill timing (default 4242)
set -u
trap "" PIPE
cd "$(dirname "$0")/.." && . tests/lib.sh
CRASH_RUNS=${PTEXEC_CRASH_RUNS:-50}
CRASH_SEED=${PTEXEC_CRASH_SEED:-4242}
require_tools curl python3
make_work httpjournal

# ---------------------------------------------------------------------------
# Helpers written once: the simulated exchange's state file, and
# the verdict of one crash run.
cat >"$work/check.py" <<'PY'
import json, sys, urllib.parse

FINAL_LEG_STATES = {"FILLED", "PARTIALLY_FILLED", "REJECTED", "CANCELLED", "FAILED", "NOT_SENT"}

def load(path):
    return json.load(open(path))

def decode(field):
    return "" if field == "~" else urllib.parse.unquote(field)

def sim_orders(state_path, account_id):
    """The orders of one account in the simulated exchange's state file:
    a list of (client_order_id, quantity, filled)."""
    accounts, orders = [], []
    try:
        lines = open(state_path).read().splitlines()
    except FileNotFoundError:
        return []
    for line in lines:
        f = line.split(" ")
        if f[0] == "A":
            accounts.append(decode(f[1]))
        elif f[0] == "O" and len(f) >= 7:
            index = int(f[1])
            if index < len(accounts) and accounts[index] == account_id:
                orders.append((decode(f[3]), int(f[4]), int(f[5])))
    return orders

def holdings_of(path):
    return {h["symbol"]: h["quantity"] for h in load(path)["holdings"]}

def cmd_orders(state_path, account_id):
    orders = sim_orders(state_path, account_id)
    ids = [o[0] for o in orders]
    print(len(orders), len(ids) - len(set(ids)))
    return 0

def cmd_crash(resubmit, headers, again, show, holdings, state, account):
    """Verdict of one crash run; prints 'OK OUTCOME' or 'FAIL reason'."""
    raw = open(resubmit, "rb").read()
    try:
        resp = json.loads(raw)
    except Exception:
        print("FAIL resubmit answered no JSON: %r" % raw[:200]); return 1
    if "error" in resp:
        print("FAIL resubmit refused: %s" % json.dumps(resp)[:300]); return 1
    if open(again, "rb").read() != raw:
        print("FAIL a second resubmit did not return the same bytes"); return 1
    rec = load(show)
    if rec.get("status") == "RUNNING":
        print("FAIL the execution is still RUNNING in the journal"); return 1
    if rec.get("response") != resp:
        print("FAIL GET /executions/{id} response differs from the replay"); return 1
    if raw.strip() not in open(show, "rb").read():
        print("FAIL the stored response is not byte-identical to the replay"); return 1
    open_legs = [l["client_order_id"] + ":" + l["state"] for l in rec["legs"]
                 if l["state"] not in FINAL_LEG_STATES]
    if open_legs:
        print("FAIL legs without a final state: %s" % open_legs); return 1
    leg_ids = {l["client_order_id"] for l in rec["legs"]}
    if leg_ids != {r["client_order_id"] for r in resp["results"]}:
        print("FAIL the journal legs and the response legs differ"); return 1
    orders = sim_orders(state, account)
    ids = [o[0] for o in orders]
    if len(ids) != len(set(ids)):
        print("FAIL a client order id was sent twice: %s" % ids); return 1
    stray = set(ids) - leg_ids
    if stray:
        print("FAIL orders at the broker that the journal does not know: %s" % stray); return 1
    by_id = {o[0]: o for o in orders}
    held = holdings_of(holdings)
    signed = {}
    for r in resp["results"]:
        at_broker = by_id.get(r["client_order_id"])
        filled_at_broker = at_broker[2] if at_broker else 0
        if r["filled_quantity"] != filled_at_broker:
            print("FAIL leg %s reports %s filled, the broker %s" % (r["client_order_id"],
                  r["filled_quantity"], filled_at_broker)); return 1
        sign = 1 if r["side"] == "BUY" else -1
        signed[r["symbol"]] = signed.get(r["symbol"], 0) + sign * r["filled_quantity"]
    for p in resp["positions"]:
        expected = p["before"] + signed.get(p["symbol"], 0)
        if held.get(p["symbol"], 0) != expected:
            print("FAIL %s holds %s, expected %s (before %s + fills)" % (p["symbol"],
                  held.get(p["symbol"], 0), expected, p["before"])); return 1
    targets = {p["symbol"]: p["target"] for p in resp["positions"]}
    for r in resp["results"]:
        if r["status"] == "FILLED" and held.get(r["symbol"], 0) != targets[r["symbol"]]:
            print("FAIL %s FILLED but holds %s, target %s" % (r["symbol"],
                  held.get(r["symbol"], 0), targets[r["symbol"]])); return 1
    replayed = "idempotent-replayed: true" in open(headers).read().lower()
    print("OK %s-%s" % ("replayed" if replayed else "fresh", resp["status"]))
    return 0

if __name__ == "__main__":
    command = sys.argv[1]
    sys.exit({"orders": cmd_orders, "crash": cmd_crash}[command](*sys.argv[2:]))
PY

# sim_orders ACCOUNT [STATE]: "ORDERS DUPLICATES" of an account in the state file.
sim_orders() { "$PY" "$work/check.py" orders "${2:-$STATE}" "$1"; }

# journal_ini FILE JOURNAL STATE_FILE BROKER_EXTRA HOST_EXTRA: simulated
# zerodha (state in STATE_FILE) and fyers (STATE_FILE.fyers) without random
# failures, journal JOURNAL.
journal_ini() {
    INI_BROKERS="zerodha fyers" INI_STATE_FILE=$3 write_ini "$1" "${4:-}" "journal = $2\n${5:-}"
}

held() { # held ACCOUNT [BROKER]: the account's holdings as "SYM:Q,…" (sorted)
    body held_q "{\"broker\":\"${2:-zerodha}\",\"credentials\":{\"api_key\":\"$1\",\"access_token\":\"t\"}}"
    req held POST /holdings "$work/held_q.json"
    json_field "$work/held.body" "','.join('%s:%s' % (h['symbol'], h['quantity']) for h in d['holdings'])"
}
replayed() { grep -qi '^Idempotent-Replayed: true' "$work/$1.headers"; }

# request ACCOUNT BROKER "SYM:Q …" [EXTRA-JSON]: an execution body on stdout.
request() {
    local targets= pair
    for pair in $3; do targets="$targets{\"symbol\":\"${pair%%:*}\",\"target_quantity\":${pair##*:}},"; done
    printf '{"broker":"%s","credentials":{"api_key":"%s","access_token":"t"},"target_portfolio":[%s]%s}' \
        "$2" "$1" "${targets%,}" "${4:-}"
}

# ===========================================================================
# 1. Idempotency over HTTP.
STATE="$work/state.txt"
journal_ini "$work/main.ini" "$work/journal.db" "$STATE"
start_server main "$work/main.ini" || { fail setup "the server did not start"; finish; }
req health GET /health
check "GET /health reports the journal as ok" \
    '[ "$CODE" = 200 ] && json_check "$work/health.body" "d[\"journal\"] == \"ok\"" >/dev/null'

request alice zerodha "RELIANCE:20 TCS:0" >"$work/k1.json"
req k1_first POST /execute "$work/k1.json" -H 'Idempotency-Key: key-1'
check "first POST /execute with an Idempotency-Key header runs (200 COMPLETED)" \
    '[ "$CODE" = 200 ] && json_check "$work/k1_first.body" "d[\"status\"] == \"COMPLETED\" and len(d[\"results\"]) == 2" >/dev/null' \
    "status $CODE: $(head -c 300 "$work/k1_first.body")"
check "a first execution is not marked as replayed" '! replayed k1_first'
k1_id=$(json_field "$work/k1_first.body" 'd["execution_id"]')
# Move the account away from the target, so a second run would trade again.
request alice zerodha "RELIANCE:25" >"$work/move.json"
req move POST /execute "$work/move.json"
before=$(held alice)
orders_before=$(sim_orders alice)
req k1_again POST /execute "$work/k1.json" -H 'Idempotency-Key: key-1'
check "same header key + same body: 200 with identical bytes" \
    '[ "$CODE" = 200 ] && cmp -s "$work/k1_first.body" "$work/k1_again.body"' \
    "status $CODE: $(head -c 300 "$work/k1_again.body")"
check "the replay says Idempotent-Replayed: true and carries the first execution id" \
    'replayed k1_again && grep -qi "^X-Execution-Id: $k1_id" "$work/k1_again.headers"'
check "the replay placed nothing (holdings and broker orders unchanged)" \
    '[ "$(held alice)" = "$before" ] && [ "$(sim_orders alice)" = "$orders_before" ]' \
    "holdings $(held alice) vs $before, orders $(sim_orders alice) vs $orders_before"

request alice zerodha "INFY:3" ',"idempotency_key":"body-key-1"' >"$work/b1.json"
req b1_first POST /execute "$work/b1.json"
req b1_again POST /execute "$work/b1.json"
orders_now=$(sim_orders alice)
req b1_both POST /execute "$work/b1.json" -H 'Idempotency-Key: body-key-1'
check "same body-field key + same body: identical bytes, replayed" \
    '[ "$CODE" = 200 ] && cmp -s "$work/b1_first.body" "$work/b1_again.body" && replayed b1_again' \
    "status $CODE: $(head -c 200 "$work/b1_again.body")"
check "the same key in the header and the body field: the same replay" \
    'cmp -s "$work/b1_first.body" "$work/b1_both.body" && [ "$(sim_orders alice)" = "$orders_now" ]'
req b1_hdr_only POST /execute "$work/b1.json" -H 'Idempotency-Key: other-key'
expect_error "header and body key differ: 422 naming idempotency_key" 422 invalid_request idempotency_key
long_key=$(printf 'k%.0s' $(seq 1 129))
req bad_hdr POST /execute "$work/k1.json" -H "Idempotency-Key: $long_key"
expect_error "a 129-character Idempotency-Key header: 422 naming the header" 422 invalid_request Idempotency-Key
req empty_hdr POST /execute "$work/k1.json" -H 'Idempotency-Key;'
expect_error "an empty Idempotency-Key header: 422 naming the header" 422 invalid_request Idempotency-Key
check "refused keys placed nothing" '[ "$(sim_orders alice)" = "$orders_now" ]'

request alice zerodha "RELIANCE:21 TCS:0" >"$work/k1_other.json"
req conflict POST /execute "$work/k1_other.json" -H 'Idempotency-Key: key-1'
expect_error "same key + different body: 409 idempotency_conflict" 409 idempotency_conflict idempotency_key
check "the conflict placed nothing" '[ "$(sim_orders alice)" = "$orders_now" ]'

request bob zerodha "RELIANCE:20 TCS:0" >"$work/k1_bob.json"
req k1_bob POST /execute "$work/k1_bob.json" -H 'Idempotency-Key: key-1'
check "same key on another account of the broker runs (200, new execution, not replayed)" \
    '[ "$CODE" = 200 ] && ! replayed k1_bob && [ "$(json_field "$work/k1_bob.body" "d[\"execution_id\"]")" != "$k1_id" ] && [ "$(held bob)" = "INFY:8,RELIANCE:20" ]' \
    "status $CODE, holdings $(held bob): $(head -c 200 "$work/k1_bob.body")"
request alice fyers "RELIANCE:20 TCS:0" >"$work/k1_fyers.json"
req k1_fyers POST /execute "$work/k1_fyers.json" -H 'Idempotency-Key: key-1'
check "same key and credentials at another broker runs" \
    '[ "$CODE" = 200 ] && ! replayed k1_fyers && json_check "$work/k1_fyers.body" "d[\"status\"] == \"COMPLETED\"" >/dev/null'
req plan_key POST /plan "$work/k1_other.json" -H 'Idempotency-Key: key-1'
check "POST /plan ignores the key (dry runs are not journaled)" \
    '[ "$CODE" = 200 ] && json_check "$work/plan_key.body" "d[\"status\"] == \"PLANNED\"" >/dev/null'
stop_server

# --- Concurrent requests with one key (simulated latency).
journal_ini "$work/slow.ini" "$work/journal.db" "$STATE" "latency_ms = 30"
start_server slow "$work/slow.ini" || exit 1
request carol zerodha "RELIANCE:4 TCS:9 INFY:0 WIPRO:6" >"$work/conc.json"
clients=()
for n in 1 2 3 4 5 6 7 8; do
    curl -s -o "$work/conc$n.body" -w '%{http_code}' -H 'Content-Type: application/json' \
        -H 'Idempotency-Key: conc-1' --data-binary "@$work/conc.json" \
        "http://127.0.0.1:$PORT/execute" >"$work/conc$n.code" &
    clients+=($!)
done
wait "${clients[@]}"
identical=1
for n in 2 3 4 5 6 7 8; do cmp -s "$work/conc1.body" "$work/conc$n.body" || identical=; done
check "8 concurrent requests with one key: all 200 with identical bytes (waiting for the first)" \
    '[ "$(cat "$work"/conc?.code)" = 200200200200200200200200 ] && [ -n "$identical" ]' "codes $(cat "$work"/conc?.code)"
check "8 concurrent requests: the legs were placed once (4 orders, no duplicate, holdings = target)" \
    '[ "$(sim_orders carol)" = "4 0" ] && [ "$(held carol)" = "RELIANCE:4,TCS:9,WIPRO:6" ]' \
    "orders $(sim_orders carol), holdings $(held carol)"
stop_server

# in_progress: retries that wait less than the first execution takes.
journal_ini "$work/short.ini" "$work/journal.db" "$STATE" "latency_ms = 100" "account_wait_ms = 50"
start_server short "$work/short.ini" || exit 1
request dave zerodha "RELIANCE:4 TCS:9 INFY:0 WIPRO:6" >"$work/prog.json"
curl -s -o "$work/prog0.body" -w '%{http_code}' -H 'Content-Type: application/json' \
    -H 'Idempotency-Key: prog-1' --data-binary "@$work/prog.json" \
    "http://127.0.0.1:$PORT/execute" >"$work/prog0.code" &
clients=($!)
for _ in $(seq 1 200); do
    req running GET '/executions?status=RUNNING&broker=zerodha'
    grep -q '"idempotency_key":"prog-1"' "$work/running.body" && break
    sleep 0.01
done
for n in 1 2 3 4 5 6 7; do
    curl -s -o "$work/prog$n.body" -w '%{http_code}' -H 'Content-Type: application/json' \
        -H 'Idempotency-Key: prog-1' --data-binary "@$work/prog.json" \
        "http://127.0.0.1:$PORT/execute" >"$work/prog$n.code" &
    clients+=($!)
done
wait "${clients[@]}"
ok=1
in_progress=0
for n in 1 2 3 4 5 6 7; do
    c=$(cat "$work/prog$n.code")
    if [ "$c" = 409 ] && json_check "$work/prog$n.body" "d['error']['code'] == 'in_progress' and d['error']['field'] == 'idempotency_key'" >/dev/null; then
        in_progress=$((in_progress + 1))
        cp "$work/prog$n.body" "$work/in_progress.body"
    elif [ "$c" != 200 ] || ! cmp -s "$work/prog0.body" "$work/prog$n.body"; then
        ok=
        echo "  retry $n: $c $(head -c 200 "$work/prog$n.body")"
    fi
done
check "retries while the first runs: each 409 in_progress or the stored response ($in_progress in_progress)" \
    '[ -n "$ok" ] && [ "$(cat "$work/prog0.code")" = 200 ] && [ "$in_progress" -ge 1 ]'
check "retries while the first runs: legs placed once, holdings = target" \
    '[ "$(sim_orders dave)" = "4 0" ] && [ "$(held dave)" = "RELIANCE:4,TCS:9,WIPRO:6" ]' \
    "orders $(sim_orders dave), holdings $(held dave)"
req prog_after POST /execute "$work/prog.json" -H 'Idempotency-Key: prog-1'
check "once it finished, the key returns the stored response" \
    '[ "$CODE" = 200 ] && cmp -s "$work/prog0.body" "$work/prog_after.body" && replayed prog_after'
stop_server

# ===========================================================================
# 2. History: GET /executions and GET /executions/{id}.
start_server history "$work/main.ini" || exit 1
req hist GET /executions
# alice: k1, move, b1; bob: k1; alice@fyers: k1; carol: conc; dave: prog -> 7
check "GET /executions lists every journaled execution, newest first" \
    '[ "$CODE" = 200 ] && json_check "$work/hist.body" "len(d[\"executions\"]) == 7 and [e[\"created_at\"] for e in d[\"executions\"]] == sorted((e[\"created_at\"] for e in d[\"executions\"]), reverse=True)" >/dev/null' \
    "status $CODE: $(head -c 300 "$work/hist.body")"
check "the listing carries the key, status and order count of the first execution" \
    'json_check "$work/hist.body" "[(e[\"idempotency_key\"], e[\"status\"], e[\"orders\"], e[\"broker\"]) for e in d[\"executions\"] if e[\"execution_id\"] == \"$k1_id\"] == [(\"key-1\", \"COMPLETED\", 2, \"zerodha\")]" >/dev/null'
check "the listing never shows credentials" '! grep -q "access_token\|api_key" "$work/hist.body"'
req hist_limit GET '/executions?limit=2'
check "limit=2 returns the newest two" \
    '[ "$CODE" = 200 ] && [ "$(json_field "$work/hist_limit.body" "[e[\"execution_id\"] for e in d[\"executions\"]]")" = "$(json_field "$work/hist.body" "[e[\"execution_id\"] for e in d[\"executions\"]][:2]")" ]'
req hist_fyers GET '/executions?broker=fyers'
check "broker=fyers lists only the fyers execution" \
    '[ "$CODE" = 200 ] && json_check "$work/hist_fyers.body" "len(d[\"executions\"]) == 1 and d[\"executions\"][0][\"broker\"] == \"fyers\"" >/dev/null'
req hist_status GET '/executions?status=COMPLETED&broker=zerodha&limit=1000'
check "status=COMPLETED&broker=zerodha filters both" \
    '[ "$CODE" = 200 ] && json_check "$work/hist_status.body" "len(d[\"executions\"]) == 6 and all(e[\"status\"] == \"COMPLETED\" and e[\"broker\"] == \"zerodha\" for e in d[\"executions\"])" >/dev/null'
req hist_none GET '/executions?status=RECOVERED'
check "status=RECOVERED: none yet (an empty list)" \
    '[ "$CODE" = 200 ] && json_check "$work/hist_none.body" "d[\"executions\"] == []" >/dev/null'
for bad in 0 1001 abc -1 2x ''; do
    req "bad_limit" GET "/executions?limit=$bad"
    expect_error "limit='$bad': 422 naming limit" 422 invalid_request limit
done
req bad_status GET '/executions?status=DONE'
expect_error "an unknown status: 422 naming status" 422 invalid_request status
req show GET "/executions/$k1_id"
check "GET /executions/{id}: 200 with the stored response, byte for byte" \
    '[ "$CODE" = 200 ] && grep -qF "$(cat "$work/k1_first.body")" "$work/show.body" && json_check "$work/show.body" "d[\"response\"] == json.load(open(\"$work/k1_first.body\"))" >/dev/null'
check "GET /executions/{id}: every leg has its timeline ending in its final state" \
    'json_check "$work/show.body" "len(d[\"legs\"]) == 2 and all(l[\"state\"] == \"FILLED\" and [e[\"state\"] for e in l[\"events\"]] == [\"SENDING\", \"ACCEPTED\", \"FILLED\"] and l[\"client_order_id\"] for l in d[\"legs\"])" >/dev/null'
req show_missing GET /executions/ex-NOSUCHEXECUTION00000000000
expect_error "an unknown execution id: 404 not_found" 404 not_found
req show_bad GET '/executions/..%2F..%2Fetc'
expect_error "an id that cannot be an execution id: 404 not_found" 404 not_found
req show_post POST "/executions/$k1_id" "$work/k1.json"
check "POST /executions/{id}: 405 with Allow: GET, HEAD" \
    '[ "$CODE" = 405 ] && grep -qi "^Allow: GET, HEAD" "$work/show_post.headers"'
req metrics GET /metrics
check "metrics count replays and idempotency conflicts" \
    'grep -q "^ptexec_execution_replays_total{broker=\"zerodha\"} 0" "$work/metrics.body" && grep -q "^ptexec_execution_errors_total{code=\"idempotency_conflict\"} 0" "$work/metrics.body" && grep -q "route=\"/executions\",code=\"422\"" "$work/metrics.body"' \
    "$(grep -E 'replays|idempotency|executions"' "$work/metrics.body" | head)"
req replay_again POST /execute "$work/k1.json" -H 'Idempotency-Key: key-1'
req conflict_again POST /execute "$work/k1_other.json" -H 'Idempotency-Key: key-1'
req metrics2 GET /metrics
check "after a replay and a conflict the counters move" \
    'grep -q "^ptexec_execution_replays_total{broker=\"zerodha\"} 1" "$work/metrics2.body" && grep -q "^ptexec_execution_errors_total{code=\"idempotency_conflict\"} 1" "$work/metrics2.body"'
req openapi GET /openapi.json
req health_ok GET /health
stop_server

# ===========================================================================
# 3. Crash recovery through the server: kill -9 at random points.
journal_ini "$work/crash.ini" "$work/crash.db" "$work/crash_state.txt" "latency_ms = 20"
start_server crash_calibrate "$work/crash.ini" || exit 1
request calibrate zerodha "RELIANCE:3 TCS:9 INFY:0 HDFCBANK:5" >"$work/calibrate.json"
duration_ms=$(curl -s -o /dev/null -w '%{time_total}' -H 'Content-Type: application/json' \
    --data-binary "@$work/calibrate.json" "http://127.0.0.1:$PORT/execute" |
    awk '{printf "%d", $1 * 1000}')
stop_server
[ "${duration_ms:-0}" -ge 20 ] || duration_ms=300
echo "info: a 4-leg execution takes ${duration_ms} ms; killing at 0-${duration_ms} ms, seed $CRASH_SEED"
RANDOM=$CRASH_SEED
crash_ok=0
crash_failed=0
declare -A outcomes=()
for run in $(seq 1 "$CRASH_RUNS"); do
    account="crash$run"
    q1=$((RANDOM % 12)) q2=$((RANDOM % 12)) q3=$((RANDOM % 12)) q4=$((1 + RANDOM % 12))
    request "$account" zerodha "RELIANCE:$q1 TCS:$q2 INFY:$q3 HDFCBANK:$q4" >"$work/run.json"
    delay_ms=$((RANDOM % (duration_ms + 1)))
    verdict=
    if ! start_server "crash_a" "$work/crash.ini"; then
        verdict="FAIL the server did not start"
    else
        curl -s -o /dev/null --max-time 10 -H 'Content-Type: application/json' \
            -H "Idempotency-Key: crash-key-$run" --data-binary "@$work/run.json" \
            "http://127.0.0.1:$PORT/execute" &
        client=$!
        sleep "$(printf '%d.%03d' $((delay_ms / 1000)) $((delay_ms % 1000)))"
        kill_server
        wait "$client" 2>/dev/null
        if ! start_server "crash_b" "$work/crash.ini"; then
            verdict="FAIL the server did not restart"
        else
            req crash_resubmit POST /execute "$work/run.json" -H "Idempotency-Key: crash-key-$run"
            req crash_again POST /execute "$work/run.json" -H "Idempotency-Key: crash-key-$run"
            id=$(json_field "$work/crash_resubmit.body" 'd.get("execution_id", "")' 2>/dev/null)
            req crash_show GET "/executions/$id"
            held "$account" >/dev/null
            verdict=$("$PY" "$work/check.py" crash "$work/crash_resubmit.body" \
                "$work/crash_resubmit.headers" "$work/crash_again.body" "$work/crash_show.body" \
                "$work/held.body" "$work/crash_state.txt" "$account")
            stop_server
        fi
    fi
    if [[ "$verdict" == OK* ]]; then
        crash_ok=$((crash_ok + 1))
        outcome=${verdict#OK }
        outcomes[$outcome]=$((${outcomes[$outcome]:-0} + 1))
    else
        crash_failed=$((crash_failed + 1))
        echo "  run $run (kill at ${delay_ms} ms): $verdict"
        [ "$crash_failed" -le 3 ] && tail -n 5 "$work/crash_b.log" | sed 's/^/    /'
    fi
done
summary=
for k in "${!outcomes[@]}"; do summary="$summary $k=${outcomes[$k]}"; done
echo "info: crash outcomes:$summary"
check "crash recovery: $crash_ok of $CRASH_RUNS kill -9 runs end consistent (no order sent twice, holdings = before + fills, FILLED legs at target, every leg final, replay = journal)" \
    '[ "$crash_failed" = 0 ] && [ "$crash_ok" = "$CRASH_RUNS" ]' "$crash_failed runs failed"
check "crash recovery: some runs were killed mid-execution and finished by recovery (RECOVERED)" \
    '[ "${outcomes[replayed-RECOVERED]:-0}" -ge 1 ]' "outcomes:$summary"
start_server crash_final "$work/crash.ini" || exit 1
req crash_running GET '/executions?status=RUNNING&limit=1000'
check "after the resubmits no execution is left RUNNING in the journal" \
    '[ "$CODE" = 200 ] && json_check "$work/crash_running.body" "d[\"executions\"] == []" >/dev/null' \
    "$(head -c 300 "$work/crash_running.body")"
req crash_recovered GET '/executions?status=RECOVERED&limit=1000'
stop_server

# ===========================================================================
# 4. Journal faults: refused with 503 journal_unavailable before placing,
#    the server stays up.
# a) A journal path that is a folder: the journal cannot be opened.
mkdir "$work/journal-dir"
journal_ini "$work/dir.ini" "$work/journal-dir" "$work/fault_state.txt"
start_server dir "$work/dir.ini" || exit 1
before=$(held fault1)
request fault1 zerodha "RELIANCE:20 TCS:0" >"$work/fault1.json"
req dir_exec POST /execute "$work/fault1.json" -H 'Idempotency-Key: f-1'
expect_error "journal path is a folder: POST /execute answers 503 journal_unavailable" 503 journal_unavailable
check "journal path is a folder: nothing placed" \
    '[ "$(held fault1)" = "$before" ] && [ "$(sim_orders fault1 "$work/fault_state.txt")" = "0 0" ]'
req dir_health GET /health
check "journal path is a folder: the server stays up, /health says degraded (journal unavailable)" \
    '[ "$CODE" = 200 ] && json_check "$work/dir_health.body" "d[\"status\"] == \"degraded\" and d[\"journal\"] == \"unavailable\"" >/dev/null'
check "journal path is a folder: the 503 body names no file and points to the log" \
    '! grep -q "journal-dir\|/tmp" "$work/dir_exec.body" && grep -q "see the server log" "$work/dir_exec.body"'
req dir_ready GET /ready
check "journal path is a folder: /ready answers 503 journal_unavailable" \
    '[ "$CODE" = 503 ] && json_check "$work/dir_ready.body" "d[\"status\"] == \"not_ready\" and d[\"code\"] == \"journal_unavailable\" and \"journal-dir\" not in d[\"reason\"]" >/dev/null'
check "journal path is a folder: the log names the journal and the refusal" \
    'grep -q "journal-dir" "$work/dir.log" && grep -q "journal_unavailable" "$work/dir.log"'
req dir_plan POST /plan "$work/fault1.json"
check "journal path is a folder: a dry run still works" '[ "$CODE" = 200 ]'
req dir_hist GET /executions
expect_error "journal path is a folder: GET /executions answers 503 journal_unavailable" 503 journal_unavailable
stop_server

# b) A read-only journal file (as nobody: root ignores mode bits).
if command -v setpriv >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    ro="$work/ro"
    mkdir "$ro"
    journal_ini "$ro/ro.ini" "$ro/journal.db" "$ro/state.txt"
    start_server ro_make "$ro/ro.ini" || exit 1
    stop_server
    chmod 444 "$ro/journal.db"
    chmod 755 "$ro"
    touch "$ro/state.txt" && chown 65534:65534 "$ro/state.txt"
    chmod 777 "$ro" # the state file is replaced by rename; the journal file stays read-only
    start_server ro "$ro/ro.ini" setpriv --reuid=65534 --regid=65534 --clear-groups || exit 1
    STATE_SAVE=$STATE
    STATE="$ro/state.txt"
    before=$(held fault2)
    request fault2 zerodha "RELIANCE:20 TCS:0" >"$work/fault2.json"
    req ro_exec POST /execute "$work/fault2.json"
    expect_error "read-only journal file: 503 journal_unavailable" 503 journal_unavailable
    check "read-only journal file: nothing placed" \
        '[ "$(held fault2)" = "$before" ] && [ "$(sim_orders fault2)" = "0 0" ]'
    req ro_health GET /health
    check "read-only journal file: the server stays up (/health 200)" '[ "$CODE" = 200 ]'
    check "read-only journal file: the log says why" 'grep -qi "journal" "$work/ro.log" && grep -qi "read.only\|readonly\|permission\|unable\|cannot" "$work/ro.log"' \
        "$(grep -i journal "$work/ro.log" | head -3)"
    STATE=$STATE_SAVE
    stop_server
else
    skip readonly_journal "needs root and setpriv to run the server as nobody"
fi

# c) A database locked by another process.
journal_ini "$work/lock.ini" "$work/lock.db" "$work/fault_state.txt"
start_server lock "$work/lock.ini" || exit 1
STATE="$work/fault_state.txt"
mkfifo "$work/lock.fifo"
"$PY" - "$work/lock.db" "$work/lock.fifo" <<'PY' >"$work/locker.out" 2>&1 &
import sqlite3, sys
con = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=10)
con.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
open(sys.argv[2]).read()  # hold the lock until the test writes to the fifo
con.execute("COMMIT")
PY
locker=$!
helpers+=("$locker")
for _ in $(seq 1 200); do grep -q locked "$work/locker.out" && break; sleep 0.02; done
before=$(held fault3)
request fault3 zerodha "RELIANCE:20 TCS:0" >"$work/fault3.json"
req lock_exec POST /execute "$work/fault3.json" -H 'Idempotency-Key: lock-1'
expect_error "locked journal: 503 journal_unavailable" 503 journal_unavailable
check "locked journal: nothing placed" \
    '[ "$(held fault3)" = "$before" ] && [ "$(sim_orders fault3)" = "0 0" ]'
req lock_health GET /health
check "locked journal: the server stays up (/health 200)" '[ "$CODE" = 200 ]'
check "locked journal: the log says the execution was refused" \
    'grep -q "refused before placing anything" "$work/lock.log"'
timeout 5 bash -c 'echo release >"$1"' _ "$work/lock.fifo"
wait "$locker"
req lock_after POST /execute "$work/fault3.json" -H 'Idempotency-Key: lock-1'
check "locked journal: once the lock is gone the same request runs (200 COMPLETED)" \
    '[ "$CODE" = 200 ] && json_check "$work/lock_after.body" "d[\"status\"] == \"COMPLETED\"" >/dev/null && [ "$(held fault3)" = "INFY:8,RELIANCE:20" ]' \
    "status $CODE: $(head -c 300 "$work/lock_after.body")"
stop_server

# d) A full disk (a 512 KiB tmpfs holding the journal).
full="$work/full"
mkdir "$full"
if [ "$(id -u)" != 0 ]; then
    skip full_disk "mounting a tmpfs needs root"
elif ! mount_err=$(mount -t tmpfs -o size=512k tmpfs "$full" 2>&1); then
    skip full_disk "cannot mount a tmpfs ($mount_err)"
else
    mounted=$full
    journal_ini "$work/full.ini" "$full/journal.db" "$work/fault_state.txt"
    start_server full "$work/full.ini" || exit 1
    dd if=/dev/zero of="$full/filler" bs=4k 2>/dev/null # until the disk is full
    big=
    for i in $(seq 1 300); do big="$big SYM$i:$((i % 7 + 1))"; done
    request fault4 zerodha "$big" >"$work/fault4.json"
    before=$(held fault4)
    req full_exec POST /execute "$work/fault4.json" -H 'Idempotency-Key: full-1'
    expect_error "full disk: 503 journal_unavailable" 503 journal_unavailable
    check "full disk: nothing placed" \
        '[ "$(held fault4)" = "$before" ] && [ "$(sim_orders fault4)" = "0 0" ]'
    req full_health GET /health
    check "full disk: the server stays up (/health 200)" '[ "$CODE" = 200 ]'
    rm -f "$full/filler"
    # A small execution: a big one would fill the 512 KiB again with its WAL.
    request fault4b zerodha "RELIANCE:20 TCS:0" >"$work/fault4b.json"
    req full_after POST /execute "$work/fault4b.json" -H 'Idempotency-Key: full-2'
    check "full disk: once there is room again executions run (200 COMPLETED)" \
        '[ "$CODE" = 200 ] && json_check "$work/full_after.body" "d[\"status\"] == \"COMPLETED\"" >/dev/null && [ "$(held fault4b)" = "INFY:8,RELIANCE:20" ]' \
        "status $CODE: $(head -c 300 "$work/full_after.body")"
    stop_server
    umount "$full" && mounted=
fi

# e) journal = off: executions run, history answers 503 saying so.
journal_ini "$work/off.ini" "off" "$work/fault_state.txt"
start_server off "$work/off.ini" || exit 1
req off_health GET /health
check "journal = off: /health says off" \
    'json_check "$work/off_health.body" "d[\"journal\"] == \"off\"" >/dev/null'
req off_hist GET /executions
expect_error "journal = off: GET /executions answers 503 journal_unavailable" 503 journal_unavailable
check "journal = off: the message says the journal is off" 'grep -q "journal is off" "$work/off_hist.body"'
request fault5 zerodha "RELIANCE:20" >"$work/fault5.json"
req off_exec POST /execute "$work/fault5.json"
check "journal = off: executions still run" '[ "$CODE" = 200 ]'
stop_server

# ===========================================================================
# OpenAPI: the document describes the new endpoints; live answers match it.
"$PY" - "$work" "$SOURCE_DIR/tests" <<'PY' >"$work/openapi.check" 2>&1
import json, os, sys
work = sys.argv[1]
sys.path.insert(0, sys.argv[2])
from openapi_check import document_valid, responses_match, result
doc = json.load(open(os.path.join(work, "openapi.body")))
paths = doc.get("paths", {})
result("get" in paths.get("/executions", {}) and "get" in paths.get("/executions/{id}", {}),
       "the OpenAPI document describes GET /executions and GET /executions/{id}")
codes = doc["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["code"]["enum"]
result({"idempotency_conflict", "in_progress", "journal_unavailable"} <= set(codes),
       "the Error schema lists idempotency_conflict, in_progress and journal_unavailable")
execute = paths["/execute"]["post"]
result(any(p.get("$ref", "").endswith("/IdempotencyKey") for p in execute.get("parameters", []))
       and "409" in execute["responses"] and "503" in execute["responses"],
       "POST /execute documents the Idempotency-Key header, 409 and 503")
document_valid(doc)
responses_match(doc, work, [
    ("hist", "ExecutionList"), ("hist_status", "ExecutionList"), ("crash_recovered", "ExecutionList"),
    ("show", "ExecutionRecord"), ("crash_show", "ExecutionRecord"), ("k1_again", "ExecutionResult"),
    ("crash_resubmit", "ExecutionResult"), ("conflict", "Error"), ("in_progress", "Error"),
    ("dir_exec", "Error"), ("lock_exec", "Error"), ("bad_status", "Error"),
    ("show_missing", "Error"), ("health_ok", "Health"), ("dir_health", "Health"), ("dir_ready", "Ready"),
    ("off_health", "Health")], missing_ok=True)
PY
tally "$work/openapi.check"

check "no sanitizer report in any server log" '[ ! -s "$work/sanitizer.reports" ]' \
    "$(head -c 1500 "$work/sanitizer.reports" 2>/dev/null)"

finish
