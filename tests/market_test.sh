#!/usr/bin/env bash
# The simulated market end to end, through the CLI and the HTTP API (issue
# "Markets as they are"): the NSE day with a set clock — the same target twice
# on one day places nothing the second time (projected positions: today's
# buys and open orders count), a holiday refuses the execution with
# market_closed and places nothing, a dry run shows the pre-flight verdicts,
# orders that fill over time are followed to the end and reconcile, charges
# are reported; and the fault invariants across the five brokers with the
# market on. Ends with "N passed, M failed, K skipped".
set -u
cd "$(dirname "$0")/.." && . tests/lib.sh
require_tools python3 curl
make_work market


# nse_ini FILE CLOCK [EXTRA]: the five brokers on the NSE day at CLOCK.
nse_ini() {
    write_ini "$1" "market_hours = nse\nsettlement = t1\ninitial_cash = 500000\nunlisted_symbols = reject\nclock = $2\nfill_latency_ms = 40\nliquidity = 4\nspread_bps = 5\nslippage_bps = 2\n${3:-}" \
        "journal = $work/$(basename "$1" .ini).db"
}
seed='{"broker":"zerodha","credentials":{"api_key":"demo","access_token":"demo"},"target_portfolio":[{"symbol":"RELIANCE","target_quantity":20},{"symbol":"TCS","target_quantity":0},{"symbol":"INFY","target_quantity":12}]}'
body seed "$seed"

# 1. A trading day (Tuesday 1 December 2026, 10:00 IST): orders fill in slices
#    of 4 over time, are followed to FILLED, and reconcile; charges reported.
nse_ini "$work/day.ini" 2026-12-01T10:00:00+05:30
run first -c "$work/day.ini" execute "$work/seed.json"
check "trading day: the execution completes (exit 0)" '[ "$rc" = 0 ]' "rc=$rc $(head -c 300 "$work/first.err")"
check "trading day: every leg FILLED, positions at target, charges reported" \
    'json_check "$work/first.out" "d[\"status\"] == \"COMPLETED\" and all(r[\"status\"] == \"FILLED\" and r[\"charges\"] > 0 for r in d[\"results\"]) and all(p[\"after\"] == p[\"target\"] and p[\"residual\"] == 0 for p in d[\"positions\"]) and abs(d[\"charges\"] - sum(r[\"charges\"] for r in d[\"results\"])) < 1e-6" >/dev/null'
exec_id=$(json_field "$work/first.out" 'd["execution_id"]')
run show -c "$work/day.ini" show "$exec_id"
check "orders filled over time: the journal shows ACCEPTED, then FILLED later" \
    'json_check "$work/show.out" "all([e[\"state\"] for e in l[\"events\"]].index(\"ACCEPTED\") < [e[\"state\"] for e in l[\"events\"]].index(\"FILLED\") for l in d[\"legs\"])" >/dev/null' \
    "$(head -c 600 "$work/show.out")"

# 2. The same target twice on one day, in one server (the simulated broker
#    lives in its process): today's buys are positions, not yet holdings, and
#    still count, so the second places nothing.
if start_server twice "$work/day.ini"; then
    req once POST /execute "$work/seed.json"
    req twice POST /execute "$work/seed.json"
    check "the same target twice on one day: the second is NOOP" \
        '[ "$CODE" = 200 ] && json_check "$work/twice.body" "d[\"status\"] == \"NOOP\" and d[\"results\"] == []" >/dev/null' \
        "status $CODE $(head -c 300 "$work/twice.body")"
    body hold '{"broker":"zerodha","credentials":{"api_key":"demo","access_token":"demo"}}'
    req holdings POST /holdings "$work/hold.json"
    check "holdings that day: what the account will hold, today's buys included" \
        'json_check "$work/holdings.body" "{h[\"symbol\"]: h[\"quantity\"] for h in d[\"holdings\"]}.get(\"RELIANCE\") == 20" >/dev/null' \
        "$(head -c 300 "$work/holdings.body")"
    stop_server
else
    fail "twice server" "did not start"
fi

# 3. A holiday (Republic Day, 26 January 2026): refused before anything is
#    placed, saying when the market opens next; a dry run shows the verdict.
nse_ini "$work/holiday.ini" 2026-01-26T10:00:00+05:30
run holiday -c "$work/holiday.ini" execute "$work/seed.json"
check "holiday: refused with market_closed, exit 3" \
    '[ "$rc" = 3 ] && json_check "$work/holiday.out" "d[\"error\"][\"code\"] == \"market_closed\" and \"opens next\" in d[\"error\"][\"message\"]" >/dev/null' \
    "rc=$rc $(head -c 300 "$work/holiday.out")"
run holiday_plan -c "$work/holiday.ini" plan "$work/seed.json"
check "holiday: a dry run shows the market CLOSED and when it opens" \
    'json_check "$work/holiday_plan.out" "d[\"status\"] == \"PLANNED\" and d[\"preflight\"][\"market\"] == \"CLOSED\" and d[\"preflight\"][\"next_open\"].startswith(\"2026-01-27T03:45\")" >/dev/null' \
    "$(head -c 400 "$work/holiday_plan.out")"
run holiday_holdings -c "$work/holiday.ini" holdings --broker zerodha --api-key demo --access-token demo
check "holiday: nothing placed (holdings as they started)" \
    'json_check "$work/holiday_holdings.out" "{h[\"symbol\"]: h[\"quantity\"] for h in d[\"holdings\"]} == {\"RELIANCE\": 10, \"TCS\": 5, \"INFY\": 8}" >/dev/null' \
    "$(head -c 300 "$work/holiday_holdings.out")"

# 4. Over HTTP: a Sunday is refused with 409 market_closed; an unknown
#    symbol is rejected by the pre-flight gate, never sent.
nse_ini "$work/sunday.ini" 2026-12-06T11:00:00+05:30
if start_server sunday "$work/sunday.ini"; then
    req sunday POST /execute "$work/seed.json"
    expect_error "HTTP on a Sunday: 409 market_closed" 409 market_closed
    stop_server
else
    fail "sunday server" "did not start"
fi
body unknown '{"broker":"fyers","credentials":{"api_key":"demo","access_token":"demo"},"target_portfolio":[{"symbol":"NOSUCHCO","target_quantity":5},{"symbol":"RELIANCE","target_quantity":11}]}'
if start_server weekday "$work/day.ini"; then
    req unknown POST /execute "$work/unknown.json"
    check "HTTP: an unlisted symbol is REJECTED before sending, the rest trades" \
        '[ "$CODE" = 200 ] && json_check "$work/unknown.body" "[(r[\"symbol\"], r[\"status\"], r[\"attempts\"]) for r in d[\"results\"]] == [(\"NOSUCHCO\", \"REJECTED\", 0), (\"RELIANCE\", \"FILLED\", 1)] and \"not listed\" in d[\"results\"][0][\"reason\"]" >/dev/null' \
        "status $CODE $(head -c 400 "$work/unknown.body")"
    stop_server
else
    fail "weekday server" "did not start"
fi

# 5. The seed example still gives the seed's response with the default
#    (always open, ample cash) brokers.
write_ini "$work/plain.ini"
run plain -c "$work/plain.ini" execute "$work/seed.json"
check "default brokers: the seed example still COMPLETED exactly" \
    'json_check "$work/plain.out" "[(r[\"symbol\"], r[\"quantity\"], r[\"side\"], r[\"status\"], r[\"reason\"], r[\"sequence\"]) for r in d[\"results\"]] == [(\"RELIANCE\", 10, \"BUY\", \"FILLED\", None, 2), (\"TCS\", 5, \"SELL\", \"FILLED\", None, 1), (\"INFY\", 4, \"BUY\", \"FILLED\", None, 3)]" >/dev/null' \
    "$(head -c 300 "$work/plain.out")"

finish
