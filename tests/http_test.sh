#!/usr/bin/env bash
# Integration tests of the HTTP API (design §2.5): starts the real server
# (build/ptexec serve) on a free loopback port and speaks HTTP to it with curl.
# Prints PASS/FAIL/SKIP lines and ends with "N passed, M failed, K skipped".
set -u
trap "" PIPE # a write to a connection the server closed must fail, not end the script
cd "$(dirname "$0")/.." && . tests/lib.sh
require_tools curl python3
make_work http

seed='{"broker":"zerodha","credentials":{"api_key":"demo","access_token":"demo"},"target_portfolio":[{"symbol":"RELIANCE","target_quantity":20},{"symbol":"TCS","target_quantity":0}]}'

# ---------------------------------------------------------------------------
# 1. A server with failures off: every endpoint and every error class.
write_ini "$work/main.ini"
start_server main "$work/main.ini" || { fail setup "the server did not start"; finish; }

req health GET /health
if [ "$CODE" = 200 ] && json_check "$work/health.body" "d['status'] == 'ok' and d['brokers'] == 5" >/dev/null; then
    pass "GET /health answers 200 with status ok and 5 brokers"
else
    fail "GET /health" "status $CODE: $(cat "$work/health.body")"
fi

body seed "$seed"
req seed POST /execute "$work/seed.json"
if [ "$CODE" = 200 ] && out=$(json_check "$work/seed.body" "
d['status'] == 'COMPLETED' and d['broker'] == 'zerodha' and d['execution_id'] and
[(r['symbol'], r['side'], r['quantity'], r['status'], r['reason'], r['sequence']) for r in d['results']]
 == [('RELIANCE', 'BUY', 10, 'FILLED', None, 2), ('TCS', 'SELL', 5, 'FILLED', None, 1)] and
all(r['filled_quantity'] == r['quantity'] and r['client_order_id'] and r['order_id'] for r in d['results']) and
[(p['symbol'], p['before'], p['target'], p['after'], p['residual']) for p in d['positions']]
 == [('RELIANCE', 10, 20, 20, 0), ('TCS', 5, 0, 0, 0)] and
d['summary']['orders'] == 2 and d['summary']['filled'] == 2 and d['summary']['failed'] == 0"); then
    pass "POST /execute with the seed example returns the seed results (BUY RELIANCE 10 seq 2, SELL TCS 5 seq 1)"
else
    fail "POST /execute seed example" "status $CODE ${out:-}"
fi
exec_id=$(json_field "$work/seed.body" 'd["execution_id"]' 2>/dev/null)
if grep -qi "^X-Execution-Id: $exec_id" "$work/seed.headers" &&
    grep -q "POST /execute 200 .* $exec_id" "$work/main.log"; then
    pass "the execution id is in the X-Execution-Id header and the access-log line"
else
    fail "execution id header/access log" "id '$exec_id' not in headers or log"
fi

req seed_again POST /execute "$work/seed.json"
if [ "$CODE" = 200 ] && json_check "$work/seed_again.body" "d['status'] == 'NOOP' and d['results'] == []" >/dev/null; then
    pass "repeating the seed example on the same account places nothing (NOOP)"
else
    fail "repeat seed" "status $CODE: $(head -c 300 "$work/seed_again.body")"
fi

body holdings '{"broker":"zerodha","credentials":{"api_key":"demo","access_token":"demo"}}'
req holdings POST /holdings "$work/holdings.json"
if [ "$CODE" = 200 ] && out=$(json_check "$work/holdings.body" "
d['broker'] == 'zerodha' and {h['symbol']: h['quantity'] for h in d['holdings']}.get('RELIANCE') == 20 and
{h['symbol']: h['quantity'] for h in d['holdings']}.get('TCS', 0) == 0 and
{h['symbol']: h['quantity'] for h in d['holdings']}.get('INFY') == 8 and
[h['symbol'] for h in d['holdings']] == sorted(h['symbol'] for h in d['holdings'])"); then
    pass "POST /holdings shows the account after the execution (RELIANCE 20, TCS 0, INFY 8)"
else
    fail "POST /holdings" "status $CODE ${out:-}"
fi

body plan '{"broker":"fyers","credentials":{"api_key":"plan","access_token":"plan"},"target_portfolio":[{"symbol":"RELIANCE","target_quantity":15},{"symbol":"INFY","target_quantity":8},{"symbol":"TCS","target_quantity":1}]}'
req plan POST /plan "$work/plan.json"
if [ "$CODE" = 200 ] && out=$(json_check "$work/plan.body" "
d['status'] == 'PLANNED' and
[(r['symbol'], r['side'], r['quantity'], r['status'], r['sequence']) for r in d['results']]
 == [('RELIANCE', 'BUY', 5, 'PLANNED', 2), ('TCS', 'SELL', 4, 'PLANNED', 1)]"); then
    pass "POST /plan returns the planned legs (sells first) with status PLANNED"
else
    fail "POST /plan" "status $CODE ${out:-}"
fi
body plan_holdings '{"broker":"fyers","credentials":{"api_key":"plan","access_token":"plan"}}'
req plan_holdings POST /holdings "$work/plan_holdings.json"
if [ "$CODE" = 200 ] && json_check "$work/plan_holdings.body" "{h['symbol']: h['quantity'] for h in d['holdings']} == {'RELIANCE': 10, 'TCS': 5, 'INFY': 8}" >/dev/null; then
    pass "POST /plan placed nothing (holdings unchanged)"
else
    fail "plan placed nothing" "status $CODE: $(head -c 300 "$work/plan_holdings.body")"
fi
body dry '{"broker":"fyers","credentials":{"api_key":"plan","access_token":"plan"},"dry_run":true,"target_portfolio":[{"symbol":"RELIANCE","target_quantity":11}]}'
req dry POST /execute "$work/dry.json"
if [ "$CODE" = 200 ] && json_check "$work/dry.body" "d['status'] == 'PLANNED' and d['results'][0]['status'] == 'PLANNED'" >/dev/null; then
    pass "POST /execute with dry_run true only plans"
else
    fail "dry_run" "status $CODE: $(head -c 300 "$work/dry.body")"
fi

req brokers GET /brokers
if [ "$CODE" = 200 ] && json_check "$work/brokers.body" "[b['name'] for b in d['brokers']] == ['zerodha', 'fyers', 'angelone', 'groww', 'upstox'] and all(b['mode'] == 'simulated' for b in d['brokers'])" >/dev/null; then
    pass "GET /brokers lists the five simulated brokers in configuration order"
else
    fail "GET /brokers" "status $CODE: $(head -c 300 "$work/brokers.body")"
fi

# --- 400: bodies that are not JSON
n=0
for bad in '{"broker":"zerodha",' '' '{"broker": "zerodha"} trailing' '[1,2' 'nul'; do
    n=$((n + 1))
    printf '%s' "$bad" >"$work/bad400_$n.json"
    req "bad400_$n" POST /execute "$work/bad400_$n.json"
    expect_error "400 invalid_json for body '${bad:0:24}'" 400 invalid_json
done

# --- 422: well-formed JSON that breaks the schema, naming the field
check_422() {
    local label=$1 json=$2 field=$3
    n=$((n + 1))
    printf '%s' "$json" >"$work/bad422_$n.json"
    req "bad422_$n" POST /execute "$work/bad422_$n.json"
    expect_error "422 $label (field $field)" 422 invalid_request "$field"
}
creds='"credentials":{"api_key":"v","access_token":"v"}'
for q in 1e3 -1 '"10"' null 10000000000 1.5 true '[]' '{}'; do
    check_422 "target_quantity $q" "{\"broker\":\"zerodha\",$creds,\"target_portfolio\":[{\"symbol\":\"TCS\",\"target_quantity\":1},{\"symbol\":\"INFY\",\"target_quantity\":$q}]}" "target_portfolio[1].target_quantity"
done
check_422 "broker of the wrong type" "{\"broker\":5,$creds,\"target_portfolio\":[{\"symbol\":\"TCS\",\"target_quantity\":1}]}" broker
check_422 "unknown broker" "{\"broker\":\"nosuch\",$creds,\"target_portfolio\":[{\"symbol\":\"TCS\",\"target_quantity\":1}]}" broker
check_422 "credentials not an object" "{\"broker\":\"zerodha\",\"credentials\":\"x\",\"target_portfolio\":[{\"symbol\":\"TCS\",\"target_quantity\":1}]}" credentials
check_422 "target_portfolio not an array" "{\"broker\":\"zerodha\",$creds,\"target_portfolio\":{}}" target_portfolio
check_422 "empty target_portfolio" "{\"broker\":\"zerodha\",$creds,\"target_portfolio\":[]}" target_portfolio
check_422 "duplicate symbols" "{\"broker\":\"zerodha\",$creds,\"target_portfolio\":[{\"symbol\":\"TCS\",\"target_quantity\":1},{\"symbol\":\" tcs \",\"target_quantity\":2}]}" "target_portfolio[1].symbol"
check_422 "symbol with a bad character" "{\"broker\":\"zerodha\",$creds,\"target_portfolio\":[{\"symbol\":\"TC\$S\",\"target_quantity\":1}]}" "target_portfolio[0].symbol"
check_422 "missing target_quantity" "{\"broker\":\"zerodha\",$creds,\"target_portfolio\":[{\"symbol\":\"TCS\"}]}" "target_portfolio[0].target_quantity"
python3 -c '
import json, sys
targets = [{"symbol": "S%d" % i, "target_quantity": 1} for i in range(10001)]
json.dump({"broker": "zerodha", "credentials": {"api_key": "v", "access_token": "v"},
           "target_portfolio": targets}, open(sys.argv[1], "w"))' "$work/many.json"
req many POST /execute "$work/many.json"
expect_error "422 for 10001 symbols (field target_portfolio)" 422 invalid_request target_portfolio
body holdings_bad '{"broker":"zerodha"}'
req holdings_bad POST /holdings "$work/holdings_bad.json"
expect_error "422 POST /holdings without credentials" 422 invalid_request credentials

# --- 401: the broker refuses the credentials
body badauth "{\"broker\":\"zerodha\",\"credentials\":{\"api_key\":\"x\",\"access_token\":\"invalid-token\"},\"target_portfolio\":[{\"symbol\":\"TCS\",\"target_quantity\":1}]}"
req badauth POST /execute "$work/badauth.json"
expect_error "401 broker_auth_failed when the broker refuses the token" 401 broker_auth_failed
if grep -q 'invalid-token' "$work/badauth.body" "$work/main.log"; then
    fail "credentials never echoed" "the token appears in the response or the log"
else
    pass "credentials are not echoed in the error or the log"
fi

# --- 413: over the body limit, with Content-Length and chunked
head -c 2097152 /dev/zero | tr '\0' ' ' >"$work/big.json"
req big POST /execute "$work/big.json"
expect_error "413 for a 2 MiB body (Content-Length)" 413 body_too_large
req big_chunked POST /execute "$work/big.json" -H 'Transfer-Encoding: chunked'
expect_error "413 for a 2 MiB chunked body" 413 body_too_large
req after_big GET /health
[ "$CODE" = 200 ] && pass "server healthy after oversized bodies" || fail "after 413" "health $CODE"

# --- 415: content type
req ct_text POST /execute "$work/seed.json" -H 'Content-Type: text/plain'
expect_error "415 for Content-Type text/plain" 415 unsupported_media_type
req ct_form POST /execute "$work/seed.json" -H 'Content-Type: application/x-www-form-urlencoded'
expect_error "415 for a form post" 415 unsupported_media_type
req ct_charset POST /plan "$work/seed.json" -H 'Content-Type: application/json; charset=utf-8'
[ "$CODE" = 200 ] && pass "application/json; charset=utf-8 is accepted" || fail "charset" "status $CODE"

# --- 404 and 405
req nope GET /nope
expect_error "404 for an unknown path" 404 not_found
req nope2 POST /execute/extra "$work/seed.json"
expect_error "404 for /execute/extra" 404 not_found
req docs_escape GET /docs/../../etc/passwd --path-as-is
expect_error "404 for /docs/../../etc/passwd" 404 not_found
req get_exec GET /execute
if grep -qi '^Allow: POST' "$work/get_exec.headers"; then
    expect_error "405 for GET /execute with Allow: POST" 405 method_not_allowed
else
    fail "405 GET /execute" "no Allow: POST header (status $CODE)"
fi
req post_health POST /health "$work/seed.json"
if grep -qi '^Allow: GET, HEAD' "$work/post_health.headers"; then
    expect_error "405 for POST /health with Allow: GET, HEAD" 405 method_not_allowed
else
    fail "405 POST /health" "no Allow header (status $CODE)"
fi
req delete_plan DELETE /plan
expect_error "405 for DELETE /plan" 405 method_not_allowed

# --- keep-alive: two requests over one connection
curl -s -v -o /dev/null -o /dev/null "http://127.0.0.1:$PORT/health" "http://127.0.0.1:$PORT/health" 2>"$work/keepalive.err"
if grep -qi 're-using existing connection\|Reusing existing connection' "$work/keepalive.err"; then
    pass "keep-alive: a second request reuses the connection"
else
    fail "keep-alive" "curl did not reuse the connection"
fi

# --- metrics
req metrics GET /metrics
if [ "$CODE" = 200 ] && grep -q '^ptexec_executions_total{broker="zerodha",status="COMPLETED"} 1$' "$work/metrics.body" &&
    grep -q '^ptexec_executions_total{broker="zerodha",status="NOOP"} 2$' "$work/metrics.body" &&
    grep -q '^ptexec_orders_total{broker="zerodha",status="FILLED"} 2$' "$work/metrics.body" &&
    grep -q '^ptexec_execution_errors_total{code="broker_auth_failed"} 1$' "$work/metrics.body" &&
    grep -q '^ptexec_http_requests_total{route="/execute",code="422"} [1-9]' "$work/metrics.body" &&
    grep -q '^ptexec_http_requests_total{route="/health",code="200"} [1-9]' "$work/metrics.body" &&
    grep -q '^ptexec_execution_duration_seconds_count [1-9]' "$work/metrics.body" &&
    grep -q '^ptexec_execution_duration_seconds_bucket{le="+Inf"} [1-9]' "$work/metrics.body" &&
    grep -q '^ptexec_executions_in_flight 0$' "$work/metrics.body" &&
    grep -q '^ptexec_order_attempts_total{broker="zerodha"} 2$' "$work/metrics.body" &&
    grep -qi '^Content-Type: text/plain; version=0.0.4' "$work/metrics.headers"; then
    pass "GET /metrics counts executions, orders, errors, attempts, durations and HTTP requests"
else
    fail "GET /metrics" "status $CODE; $(grep -E 'zerodha|http_requests' "$work/metrics.body" | head -n 8 | tr '\n' ' ')"
fi
if python3 - "$work/metrics.body" <<'PY'; then
import re, sys
names = {}
for line in open(sys.argv[1]):
    line = line.rstrip("\n")
    if line.startswith("# TYPE "):
        _, _, name, kind = line.split(" ")
        names[name] = kind
    elif line and not line.startswith("#"):
        m = re.fullmatch(r'([a-z_]+)(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? ([0-9.e+-]+)', line)
        if not m:
            sys.exit("bad line: " + line)
        base = re.sub(r'_(bucket|sum|count)$', '', m.group(1))
        if m.group(1) not in names and base not in names:
            sys.exit("no TYPE for " + m.group(1))
PY
    pass "GET /metrics is well-formed Prometheus text (every sample has a TYPE)"
else
    fail "metrics format" "see above"
fi

# --- OpenAPI document and live responses against it
req openapi GET /openapi.json
"$PY" - "$work" "$CODE" "$SOURCE_DIR/tests" <<'PY' >"$work/openapi.check" 2>&1
import json, os, sys
work, code = sys.argv[1], sys.argv[2]
sys.path.insert(0, sys.argv[3])
from openapi_check import document_valid, responses_match, result
try:
    doc = json.load(open(os.path.join(work, "openapi.body")))
except Exception as e:
    result(False, "GET /openapi.json is JSON", str(e)); sys.exit()
result(code == "200" and doc.get("openapi", "").startswith("3."), "GET /openapi.json is an OpenAPI 3 document", code)
want = {"/execute": "post", "/plan": "post", "/holdings": "post", "/brokers": "get",
        "/health": "get", "/metrics": "get", "/openapi.json": "get", "/docs": "get",
        "/executions": "get", "/executions/{id}": "get"}
missing = [p for p, m in want.items() if m not in doc.get("paths", {}).get(p, {})]
result(not missing, "the document describes every endpoint", "missing " + ", ".join(missing))
document_valid(doc, " (python3-openapi-spec-validator)")
responses_match(doc, work, [
    ("seed", "ExecutionResult"), ("plan", "ExecutionResult"), ("seed_again", "ExecutionResult"),
    ("holdings", "Holdings"), ("brokers", "Brokers"), ("health", "Health"),
    ("bad400_1", "Error"), ("bad422_7", "Error"), ("badauth", "Error"), ("big", "Error"),
    ("ct_text", "Error"), ("nope", "Error"), ("get_exec", "Error")])
PY
tally "$work/openapi.check"

# --- Swagger UI files, served locally
req docs GET /docs
if [ "$CODE" = 200 ] && grep -q 'swagger-ui-bundle.js' "$work/docs.body" && grep -qi '^Content-Type: text/html' "$work/docs.headers"; then
    pass "GET /docs serves the Swagger UI page"
else
    fail "GET /docs" "status $CODE: $(head -c 200 "$work/docs.body")"
fi
req docs_js GET /docs/swagger-ui-bundle.js
if [ "$CODE" = 200 ] && [ "$(wc -c <"$work/docs_js.body")" -gt 100000 ] && grep -q 'SwaggerUIBundle' "$work/docs_js.body"; then
    pass "GET /docs/swagger-ui-bundle.js serves the real bundle from the local data folder"
else
    fail "GET /docs/swagger-ui-bundle.js" "status $CODE"
fi
if grep -Eqo 'https?://[a-z]' "$work/docs.body"; then
    fail "docs page offline" "index.html references a remote URL"
else
    pass "the docs page references no remote URL (works offline)"
fi

# --- access log format
if grep -Eq 'http: GET /health 200 [0-9.]+ms -' "$work/main.log" &&
    grep -Eq 'http: POST /execute 422 [0-9.]+ms -' "$work/main.log"; then
    pass "one access-log line per request: method, path, status, duration, execution id"
else
    fail "access log" "$(grep 'http:' "$work/main.log" | head -n 3)"
fi

stop_server
if [ "$STOP_RC" = 0 ] && grep -q 'http: stopped' "$work/main.log"; then
    pass "SIGTERM on an idle server: exit 0"
else
    fail "SIGTERM idle" "exit $STOP_RC"
fi

# ---------------------------------------------------------------------------
# 2. API token (constant-time compared) and JSON logs.
write_ini "$work/token.ini" "" "api_token = s3cret-token\nlog_format = json"
start_server token "$work/token.ini" || exit 1
req tok_none POST /plan "$work/seed.json"
expect_error "401 unauthorized without a token" 401 unauthorized
req tok_wrong POST /plan "$work/seed.json" -H 'Authorization: Bearer s3cret-tokem'
expect_error "401 unauthorized with a wrong token" 401 unauthorized
req tok_prefix POST /plan "$work/seed.json" -H 'Authorization: Bearer s3cret'
expect_error "401 unauthorized with a prefix of the token" 401 unauthorized
req tok_metrics GET /metrics
expect_error "401 for /metrics without a token" 401 unauthorized
req tok_ok POST /plan "$work/seed.json" -H 'Authorization: Bearer s3cret-token'
[ "$CODE" = 200 ] && pass "the right token is accepted" || fail "right token" "status $CODE"
req tok_health GET /health
[ "$CODE" = 200 ] && pass "/health needs no token" || fail "/health with api_token" "status $CODE"
if python3 - "$work/token.log" <<'PY'; then
import json, sys
lines = [l for l in open(sys.argv[1]) if l.strip()]
docs = [json.loads(l) for l in lines]
assert any("POST /plan 200" in json.dumps(d) for d in docs), "no access line"
PY
    pass "log_format = json: every log line, access lines included, is a JSON object"
else
    fail "json log" "$(head -n 3 "$work/token.log")"
fi
if grep -q 's3cret' "$work/token.log"; then
    fail "token not logged" "the API token appears in the log"
else
    pass "the API token never appears in the log"
fi
stop_server

# ---------------------------------------------------------------------------
# 2b. Bounded connections and the per-connection timeout (slowloris).
write_ini "$work/limits.ini" "" "max_connections = 2\nconnection_timeout_s = 1"
start_server limits "$work/limits.ini" || exit 1
exec 4<>"/dev/tcp/127.0.0.1/$PORT"
exec 5<>"/dev/tcp/127.0.0.1/$PORT"
sleep 0.2
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 3 "http://127.0.0.1:$PORT/health")
if [ "$code" != 200 ]; then
    pass "max_connections = 2: a third connection is not served while two are open"
else
    fail "max_connections" "a third connection was served"
fi
printf 'GET /health HTTP/1.1\r\nHost: t' >&4 # a slowloris: headers never finish
reply=$(timeout 6 cat <&4)
rc=$?
exec 4<&- 5<&-
if [ "$rc" = 0 ] && [ -z "$reply" ]; then
    pass "connection_timeout_s = 1: an unfinished request is dropped by the server"
else
    fail "slowloris timeout" "rc $rc, reply '${reply:0:60}'"
fi
ok=
for _ in $(seq 1 50); do
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 3 "http://127.0.0.1:$PORT/health")
    [ "$code" = 200 ] && { ok=1; break; }
    sleep 0.1
done
[ -n "$ok" ] && pass "once the idle connections are gone the server accepts again" ||
    fail "accept after limit" "status $code"
stop_server

# ---------------------------------------------------------------------------
# 3. Concurrency with simulated latency: /health and other accounts are not
#    blocked; two executions for one account are serialized.
write_ini "$work/slow.ini" "latency_ms = 150" "account_wait_ms = 60000"
start_server slow "$work/slow.ini" || exit 1
long='{"broker":"zerodha","credentials":{"api_key":"long","access_token":"t"},"target_portfolio":['
for i in 1 2 3 4 5 6 7 8; do long="$long{\"symbol\":\"SYM$i\",\"target_quantity\":1},"; done
long="${long%,}]}"
body long "$long"
curl -s -o "$work/long.body" -H 'Content-Type: application/json' --data-binary "@$work/long.json" \
    "http://127.0.0.1:$PORT/execute" &
long_pid=$!
for _ in $(seq 1 100); do
    req inflight GET /health
    json_check "$work/inflight.body" "d['executions_in_flight'] >= 1" >/dev/null && break
    sleep 0.02
done
req during GET /health
if [ "$CODE" = 200 ] && kill -0 "$long_pid" 2>/dev/null; then
    pass "/health answers while a long execution is running"
else
    fail "/health during execution" "status $CODE or the execution already ended"
fi
body other '{"broker":"zerodha","credentials":{"api_key":"other","access_token":"t"},"target_portfolio":[{"symbol":"RELIANCE","target_quantity":10}]}'
req other POST /execute "$work/other.json"
if [ "$CODE" = 200 ] && kill -0 "$long_pid" 2>/dev/null &&
    json_check "$work/other.body" "d['status'] == 'NOOP'" >/dev/null; then
    pass "an execution for another account completes while the long one is still running"
else
    fail "other account not blocked" "status $CODE, long execution running: $(kill -0 "$long_pid" 2>/dev/null && echo yes || echo no)"
fi
wait "$long_pid"
if json_check "$work/long.body" "d['status'] == 'COMPLETED' and len(d['results']) == 8" >/dev/null; then
    pass "the long execution completes (8 legs filled)"
else
    fail "long execution" "$(head -c 300 "$work/long.body")"
fi

body same '{"broker":"zerodha","credentials":{"api_key":"same","access_token":"t"},"target_portfolio":[{"symbol":"RELIANCE","target_quantity":25}]}'
for k in 1 2; do
    curl -s -o "$work/same$k.body" -H 'Content-Type: application/json' --data-binary "@$work/same.json" \
        "http://127.0.0.1:$PORT/execute" &
    eval "same_pid$k=\$!"
done
wait "$same_pid1" "$same_pid2"
body same_holdings '{"broker":"zerodha","credentials":{"api_key":"same","access_token":"t"}}'
req same_holdings POST /holdings "$work/same_holdings.json"
if python3 - "$work/same1.body" "$work/same2.body" "$work/same_holdings.body" <<'PY'; then
import json, sys
a, b, h = (json.load(open(p)) for p in sys.argv[1:4])
statuses = sorted([a["status"], b["status"]])
assert statuses == ["COMPLETED", "NOOP"], statuses
done = a if a["status"] == "COMPLETED" else b
assert [(r["side"], r["quantity"], r["status"]) for r in done["results"]] == [("BUY", 15, "FILLED")]
held = {x["symbol"]: x["quantity"] for x in h["holdings"]}
assert held["RELIANCE"] == 25, held
PY
    pass "two concurrent executions for one account: one buys 15, the other sees 25 and does nothing"
else
    fail "same-account serialization" "$(head -c 200 "$work/same1.body") | $(head -c 200 "$work/same2.body")"
fi

# --- graceful shutdown: in-flight execution finishes, new requests refused
body long2 "${long//\"long\"/\"long2\"}"
curl -s -o "$work/drain.body" -H 'Content-Type: application/json' --data-binary "@$work/long2.json" \
    "http://127.0.0.1:$PORT/execute" &
drain_pid=$!
for _ in $(seq 1 100); do
    req inflight GET /health
    json_check "$work/inflight.body" "d['executions_in_flight'] >= 1" >/dev/null && break
    sleep 0.02
done
# A keep-alive connection that served one request before the signal (so it
# is surely accepted) sends a second one during the shutdown.
status_line=$(python3 - "$PORT" "$SERVER_PID" "$work/slow.log" <<'PY'
import os, signal, socket, sys, time
port, pid, log = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
def ask(conn, path):
    conn.sendall(b"GET " + path + b" HTTP/1.1\r\nHost: localhost\r\n\r\n")
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        chunk = conn.recv(4096)
        if not chunk:
            break
        body += chunk
    return head.split(b"\r\n")[0].decode()
try:
    conn = socket.create_connection(("127.0.0.1", port), timeout=5)
    first = ask(conn, b"/health")
    os.kill(pid, signal.SIGTERM)
    for _ in range(250):
        if "shutting down" in open(log).read():
            break
        time.sleep(0.02)
    print(ask(conn, b"/brokers") if " 200 " in first else "first request: " + first)
except Exception as e:
    print("error: %r" % e)
PY
)
if [[ "$status_line" == *" 503 "* ]]; then
    pass "during shutdown a request on an open connection gets 503"
else
    fail "503 during shutdown" "got '$status_line'"
fi
if curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$PORT/health"; then
    fail "stop accepting" "a new connection was accepted during shutdown"
else
    pass "during shutdown new connections are refused"
fi
wait "$drain_pid"
wait "$SERVER_PID"
STOP_RC=$?
if [ "$STOP_RC" = 0 ] && json_check "$work/drain.body" "d['status'] == 'COMPLETED' and len(d['results']) == 8" >/dev/null; then
    pass "SIGTERM lets the in-flight execution finish (COMPLETED), then exits 0"
else
    fail "graceful shutdown" "exit $STOP_RC; $(head -c 200 "$work/drain.body")"
fi

# --- 409: the account stays busy past account_wait_ms
write_ini "$work/busy.ini" "latency_ms = 100" "account_wait_ms = 0"
start_server busy "$work/busy.ini" || exit 1
curl -s -o "$work/busy_first.body" -H 'Content-Type: application/json' --data-binary "@$work/long.json" \
    "http://127.0.0.1:$PORT/execute" &
busy_pid=$!
for _ in $(seq 1 100); do
    req inflight GET /health
    json_check "$work/inflight.body" "d['executions_in_flight'] >= 1" >/dev/null && break
    sleep 0.02
done
req busy POST /execute "$work/long.json"
expect_error "409 account_busy for a second execution on a busy account" 409 account_busy
wait "$busy_pid"
if json_check "$work/busy_first.body" "d['status'] in ('COMPLETED', 'NOOP')" >/dev/null; then
    pass "the first execution on the busy account completes normally"
else
    fail "busy first execution" "$(head -c 200 "$work/busy_first.body")"
fi
stop_server

# --- grace period runs out
write_ini "$work/grace.ini" "latency_ms = 300" "shutdown_grace_ms = 200"
start_server grace "$work/grace.ini" || exit 1
curl -s -o /dev/null -H 'Content-Type: application/json' --data-binary "@$work/long.json" \
    "http://127.0.0.1:$PORT/execute" &
grace_curl=$!
for _ in $(seq 1 100); do
    req inflight GET /health
    json_check "$work/inflight.body" "d['executions_in_flight'] >= 1" >/dev/null && break
    sleep 0.02
done
kill -TERM "$SERVER_PID"
wait "$SERVER_PID"
STOP_RC=$?
wait "$grace_curl" 2>/dev/null
if [ "$STOP_RC" = 1 ] && grep -q 'still running after 200 ms' "$work/grace.log"; then
    pass "when the grace period runs out the server says so and exits 1"
else
    fail "grace expiry" "exit $STOP_RC; $(tail -n 2 "$work/grace.log")"
fi

# --- the default brokers.ini (with its failure rates) still returns the seed results
sed -e "s|^plugin_dir *=.*|plugin_dir = $BUILD_DIR/plugins|" -e 's|^journal *=.*|journal = '"$work"'/ptexec.db|' \
    "$SOURCE_DIR/brokers.ini" >"$work/default.ini"
start_server default "$work/default.ini" || exit 1
req default_seed POST /execute "$work/seed.json"
if [ "$CODE" = 200 ] && json_check "$work/default_seed.body" "
[(r['symbol'], r['side'], r['quantity'], r['status'], r['reason'], r['sequence']) for r in d['results']]
 == [('RELIANCE', 'BUY', 10, 'FILLED', None, 2), ('TCS', 'SELL', 5, 'FILLED', None, 1)]" >/dev/null; then
    pass "the default brokers.ini returns the seed results for the seed example"
else
    fail "default brokers.ini seed" "status $CODE: $(head -c 300 "$work/default_seed.body")"
fi
stop_server

finish
