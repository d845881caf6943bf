#!/usr/bin/env bash
# The HTTP front-end as an attacker tries it (issue 10): slow clients, request
# framing, duplicate JSON keys, invalid UTF-8, the Host header, the start-up
# refusals, /ready and /health, and the execution limit. Raw requests go
# through python sockets with bounded timeouts, so a hang is a FAIL, never a
# stuck suite. Prints PASS/FAIL/SKIP lines and ends with
# "N passed, M failed, K skipped".
set -u
trap "" PIPE
cd "$(dirname "$0")/.." && . tests/lib.sh
require_tools curl python3
make_work limits

seed='{"broker":"zerodha","credentials":{"api_key":"demo","access_token":"demo"},"target_portfolio":[{"symbol":"RELIANCE","target_quantity":20},{"symbol":"TCS","target_quantity":0}]}'

# raw NAME: runs the python in $work/NAME.py (with tests/http_raw.py on the
# path) against $PORT and counts its PASS/FAIL lines.
raw() {
    timeout 120 "$PY" "$work/$1.py" "$PORT" "$SOURCE_DIR/tests" >"$work/$1.out" 2>&1 ||
        echo "FAIL $1: the python client exited $? ($(tail -n 2 "$work/$1.out" | tr '\n' ' '))" >>"$work/$1.out"
    tally "$work/$1.out"
}

# ---------------------------------------------------------------------------
# 1. Framing: every ambiguous body length is refused before the body is read.
write_ini "$work/main.ini" "" "journal = $work/main.db"
start_server main "$work/main.ini" || { fail setup "the server did not start"; finish; }
cat >"$work/framing.py" <<'PY'
import sys
sys.path.insert(0, sys.argv[2])
from http_raw import exchange, check
port = int(sys.argv[1])
body = b'{"broker":"zerodha","credentials":{"api_key":"frame","access_token":"t"},"target_portfolio":[{"symbol":"TCS","target_quantity":1}]}'
chunked = b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n"
head = b"POST /plan HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
n = str(len(body)).encode()
cases = [
    ("two different Content-Length headers", b"Content-Length: " + n + b"\r\nContent-Length: 5\r\n", body, 400, "bad_request"),
    ("two equal Content-Length headers", b"Content-Length: " + n + b"\r\nContent-Length: " + n + b"\r\n", body, 400, "bad_request"),
    ("Content-Length with Transfer-Encoding: chunked", b"Content-Length: " + n + b"\r\nTransfer-Encoding: chunked\r\n", chunked, 400, "bad_request"),
    ("Transfer-Encoding: gzip, chunked", b"Transfer-Encoding: gzip, chunked\r\n", chunked, 501, "not_implemented"),
    ("Transfer-Encoding: gzip (not chunked last)", b"Transfer-Encoding: gzip\r\n", body, 400, "bad_request"),
    ("Transfer-Encoding: chunked, chunked", b"Transfer-Encoding: chunked, chunked\r\n", chunked, 400, "bad_request"),
    ("two Transfer-Encoding headers", b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", chunked, 400, "bad_request"),
]
for label, headers, payload, want, code in cases:
    r = exchange(port, head + headers + b"\r\n" + payload, timeout=5)
    check(r.status == want and r.json and r.json["error"]["code"] == code and r.closed,
          "%s: %d %s, connection closed" % (label, want, code), r.describe())
r = exchange(port, head + b"Transfer-Encoding: chunked\r\n\r\n" + chunked, timeout=5)
check(r.status == 200 and r.json and r.json["status"] == "PLANNED", "Transfer-Encoding: chunked alone is read (200)", r.describe())
r = exchange(port, head + b"Content-Length: " + n + b"\r\n\r\n" + body, timeout=5)
check(r.status == 200, "one Content-Length is read (200)", r.describe())
PY
raw framing

# ---------------------------------------------------------------------------
# 2. One meaning per request: duplicate keys at any depth, for every body.
dup_check() {
    local label=$1 path=$2 json=$3
    printf '%s' "$json" >"$work/dup.json"
    req dup POST "$path" "$work/dup.json"
    if [ "$CODE" = 400 ] && json_check "$work/dup.body" "d['error']['code'] == 'invalid_json' and 'duplicate key' in d['error']['message']" >/dev/null; then
        pass "duplicate key $label: 400 invalid_json naming it"
    else
        fail "duplicate key $label" "status $CODE: $(head -c 200 "$work/dup.body")"
    fi
}
creds='"credentials":{"api_key":"dup","access_token":"t"}'
targets='"target_portfolio":[{"symbol":"RELIANCE","target_quantity":11}]'
dup_check "dry_run at the top level" /execute "{\"broker\":\"zerodha\",$creds,$targets,\"dry_run\":false,\"dry_run\":true}"
dup_check "broker at the top level" /execute "{\"broker\":\"zerodha\",\"broker\":\"fyers\",$creds,$targets}"
dup_check "target_quantity in a target" /execute "{\"broker\":\"zerodha\",$creds,\"target_portfolio\":[{\"symbol\":\"RELIANCE\",\"target_quantity\":11,\"target_quantity\":0}]}"
dup_check "symbol in a target" /plan "{\"broker\":\"zerodha\",$creds,\"target_portfolio\":[{\"symbol\":\"RELIANCE\",\"symbol\":\"TCS\",\"target_quantity\":1}]}"
dup_check "api_key in credentials" /execute "{\"broker\":\"zerodha\",\"credentials\":{\"api_key\":\"dup\",\"api_key\":\"other\",\"access_token\":\"t\"},$targets}"
dup_check "credentials in the /holdings body" /holdings "{\"broker\":\"zerodha\",$creds,$creds}"
body holdings_dup_before '{"broker":"zerodha","credentials":{"api_key":"dup","access_token":"t"}}'
req dup_holdings POST /holdings "$work/holdings_dup_before.json"
check "the duplicate-key bodies placed nothing (RELIANCE still 10)" \
    '[ "$CODE" = 200 ] && json_check "$work/dup_holdings.body" "{h[\"symbol\"]: h[\"quantity\"] for h in d[\"holdings\"]}[\"RELIANCE\"] == 10" >/dev/null'
body nodup "{\"broker\":\"zerodha\",$creds,$targets,\"dry_run\":false}"
req nodup POST /execute "$work/nodup.json"
check "the same body without the duplicate trades (RELIANCE 10 -> 11)" \
    '[ "$CODE" = 200 ] && json_check "$work/nodup.body" "d[\"status\"] == \"COMPLETED\" and d[\"results\"][0][\"quantity\"] == 1" >/dev/null'
req nodup_holdings POST /holdings "$work/holdings_dup_before.json"
check "the same /holdings body without the duplicate answers 200" '[ "$CODE" = 200 ]'

# Invalid UTF-8 in a credential key: the 422 that echoes it is valid UTF-8.
printf '{"broker":"zerodha","credentials":{"api_key":"u","access_token":"t","bad\xff\xfekey":5},"target_portfolio":[{"symbol":"TCS","target_quantity":1}]}' >"$work/utf8.json"
req utf8 POST /plan "$work/utf8.json"
if [ "$CODE" = 422 ] && "$PY" -c '
import json, sys
raw = open(sys.argv[1], "rb").read()
d = json.loads(raw.decode("utf-8"))
assert "\\xFF\\xFE" in d["error"]["message"] and d["error"]["field"].startswith("credentials."), d
' "$work/utf8.body"; then
    pass "invalid UTF-8 in a credential key: the 422 body is valid UTF-8 (bytes as \\xNN)"
else
    fail "invalid UTF-8 credential key" "status $CODE: $(head -c 200 "$work/utf8.body" | od -c | head -n 3)"
fi
printf '/\xff\xfe' >"$work/badpath"
code=$(curl -s -o "$work/badpath.body" -w '%{http_code}' "http://127.0.0.1:$PORT/%FF%FE")
check "a path with invalid UTF-8: the 404 body is valid UTF-8" \
    '[ "$code" = 404 ] && "$PY" -c "import json,sys; json.loads(open(sys.argv[1],\"rb\").read().decode(\"utf-8\"))" "$work/badpath.body"'

# ---------------------------------------------------------------------------
# 3. Host header: only loopback names by default on loopback without a token.
req host_evil GET /health "" -H 'Host: evil.example'
expect_error "Host: evil.example is refused by default on loopback (421)" 421 host_not_allowed
req host_evil_exec POST /execute "$work/nodup.json" -H 'Host: evil.example:8000'
expect_error "a rebinding page's POST /execute (Host: evil.example:8000) is refused" 421 host_not_allowed
ok=1
for h in "localhost:$PORT" "127.0.0.1:$PORT" "[::1]:$PORT" "LOCALHOST" "localhost."; do
    req host_ok GET /health "" -H "Host: $h"
    [ "$CODE" = 200 ] || { ok=; fail "Host: $h" "status $CODE"; }
done
[ -n "$ok" ] && pass "Host localhost, 127.0.0.1 and [::1] (any port, any case) are admitted"
stop_server

write_ini "$work/hosts.ini" "" "allowed_hosts = evil.example, other.example:9000"
start_server hosts "$work/hosts.ini" || exit 1
req hosts_listed GET /health "" -H 'Host: evil.example:1234'
check "Host admitted when listed in allowed_hosts" '[ "$CODE" = 200 ]' "status $CODE"
req hosts_port GET /health "" -H 'Host: other.example:9000'
check "an allowed_hosts entry with a port admits that host and port" '[ "$CODE" = 200 ]' "status $CODE"
req hosts_other GET /health "" -H 'Host: localhost'
expect_error "with allowed_hosts set, an unlisted Host (localhost) is refused" 421 host_not_allowed
stop_server

write_ini "$work/hosttoken.ini" "" "api_token = tok-123\nallowed_hosts = localhost"
start_server hosttoken "$work/hosttoken.ini" || exit 1
req ht_token POST /plan "$work/nodup.json" -H 'Host: evil.example' -H 'Authorization: Bearer tok-123'
check "an unlisted Host is admitted with a valid token" '[ "$CODE" = 200 ]' "status $CODE"
req ht_wrong POST /plan "$work/nodup.json" -H 'Host: evil.example' -H 'Authorization: Bearer nope'
expect_error "an unlisted Host with a wrong token is refused" 421 host_not_allowed
stop_server

# A non-loopback address without api_token: a WARN at start-up.
port=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("0.0.0.0", 0)); print(s.getsockname()[1])')
"$PTEXEC" -c "$work/main.ini" serve --listen "0.0.0.0:$port" >"$work/open.log" 2>&1 &
open_pid=$!
helpers+=("$open_pid")
for _ in $(seq 1 100); do grep -q 'listening on' "$work/open.log" && break; sleep 0.05; done
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Host: some.name' "http://127.0.0.1:$port/health")
kill -TERM "$open_pid"
wait "$open_pid" 2>/dev/null
check "listening on 0.0.0.0 without api_token logs a WARN; any Host is answered there" \
    'grep -q "WARN.*non-loopback address without api_token" "$work/open.log" && [ "$code" = 200 ]' \
    "code $code: $(head -n 3 "$work/open.log")"

# ---------------------------------------------------------------------------
# 4. Start-up refusals: no broker, an empty ${VAR} token.
printf '[host]\nplugin_dir = %s/plugins\njournal = off\n' "$BUILD_DIR" >"$work/nobroker.ini"
timeout 10 "$PTEXEC" -c "$work/nobroker.ini" serve --listen 127.0.0.1:0 >"$work/nobroker.out" 2>&1
rc=$?
check "serve with no [broker.*] section exits 2 saying so" \
    '[ "$rc" = 2 ] && grep -q "no \[broker.NAME\] section" "$work/nobroker.out"' "exit $rc: $(cat "$work/nobroker.out")"
printf '[host]\nplugin_dir = %s/plugins\njournal = off\n[broker.nosuch]\nplugin = nosuch.so\n' "$BUILD_DIR" >"$work/refused.ini"
timeout 10 "$PTEXEC" -c "$work/refused.ini" serve --listen 127.0.0.1:0 >"$work/refused.out" 2>&1
rc=$?
check "serve whose only broker is refused exits 2 saying no broker plugin loaded" \
    '[ "$rc" = 2 ] && grep -q "no broker plugin loaded" "$work/refused.out"' "exit $rc: $(tail -n 2 "$work/refused.out")"
printf '[host]\nplugin_dir = %s/plugins\njournal = off\napi_token = ${PTX_EMPTY_TOKEN}\n[broker.zerodha]\nplugin = zerodha.so\n' \
    "$BUILD_DIR" >"$work/emptytoken.ini"
PTX_EMPTY_TOKEN= timeout 10 "$PTEXEC" -c "$work/emptytoken.ini" serve --listen 127.0.0.1:0 >"$work/emptytoken.out" 2>&1
rc=$?
check "api_token = \${VAR} with VAR set but empty: exit 2 naming FILE:4" \
    '[ "$rc" = 2 ] && grep -q "emptytoken.ini:4: api_token = \${PTX_EMPTY_TOKEN} expands to an empty token" "$work/emptytoken.out"' \
    "exit $rc: $(cat "$work/emptytoken.out")"

# ---------------------------------------------------------------------------
# 5. /ready and /health: ready, some brokers refused, journal unavailable,
#    zero brokers (through the library: serve refuses to start), shutting down.
write_ini "$work/ready.ini" "latency_ms = 200" "journal = $work/ready.db" "[broker.broken]\nplugin = nosuch.so\n"
start_server ready "$work/ready.ini" || exit 1
req ready_ok GET /ready
check "/ready answers 200 ready and lists the refused broker (without its file path)" \
    '[ "$CODE" = 200 ] && json_check "$work/ready_ok.body" "d[\"status\"] == \"ready\" and d[\"brokers\"] == 5 and [b[\"name\"] for b in d[\"refused_brokers\"]] == [\"broken\"] and d[\"refused_brokers\"][0][\"reason\"].startswith(\"refused at\")" >/dev/null' \
    "status $CODE: $(cat "$work/ready_ok.body")"
req ready_health GET /health
check "/health answers 200 ok beside a refused broker" \
    '[ "$CODE" = 200 ] && json_check "$work/ready_health.body" "d[\"status\"] == \"ok\" and d[\"refused_brokers\"] == 1" >/dev/null'
ready_pid=$SERVER_PID
ready_port=$PORT
# A second server on the same journal: the journal is held, so it is unavailable.
start_server second "$work/ready.ini" || exit 1
req second_ready GET /ready
check "journal unavailable: /ready answers 503 journal_unavailable" \
    '[ "$CODE" = 503 ] && json_check "$work/second_ready.body" "d[\"status\"] == \"not_ready\" and d[\"code\"] == \"journal_unavailable\" and d[\"journal\"] == \"unavailable\"" >/dev/null' \
    "status $CODE: $(cat "$work/second_ready.body")"
req second_health GET /health
check "journal unavailable: /health answers 200 with status degraded and the reason" \
    '[ "$CODE" = 200 ] && json_check "$work/second_health.body" "d[\"status\"] == \"degraded\" and d[\"reason\"]" >/dev/null'
stop_server
SERVER_PID=$ready_pid PORT=$ready_port
# The journal's files deleted under the running server: the next execution
# is refused before any order, /ready says why, /health is degraded.
write_ini "$work/gone.ini" "" "journal = $work/gone.db"
start_server gone "$work/gone.ini" || exit 1
body gone '{"broker":"zerodha","credentials":{"api_key":"gone","access_token":"t"},"target_portfolio":[{"symbol":"RELIANCE","target_quantity":15}]}'
body gone_hold '{"broker":"zerodha","credentials":{"api_key":"gone","access_token":"t"}}'
req gone_first POST /execute "$work/gone.json"
check "journal present: the first execution runs" '[ "$CODE" = 200 ]' "status $CODE"
rm -f "$work/gone.db" "$work/gone.db-wal" "$work/gone.db-shm"
body gone_more '{"broker":"zerodha","credentials":{"api_key":"gone","access_token":"t"},"target_portfolio":[{"symbol":"RELIANCE","target_quantity":40}]}'
req gone_refused POST /execute "$work/gone_more.json"
expect_error "journal deleted under the server: the execution is refused with 503 journal_unavailable" 503 journal_unavailable
req gone_holdings POST /holdings "$work/gone_hold.json"
check "journal deleted: nothing was placed (RELIANCE still 15)" \
    'json_check "$work/gone_holdings.body" "{h[\"symbol\"]: h[\"quantity\"] for h in d[\"holdings\"]}.get(\"RELIANCE\") == 15" >/dev/null' \
    "$(head -c 300 "$work/gone_holdings.body")"
req gone_ready GET /ready
check "journal deleted: /ready answers 503 journal_unavailable" \
    '[ "$CODE" = 503 ] && json_check "$work/gone_ready.body" "d[\"code\"] == \"journal_unavailable\" and d[\"journal\"] == \"unavailable\"" >/dev/null' \
    "status $CODE: $(cat "$work/gone_ready.body")"
req gone_health GET /health
check "journal deleted: /health is degraded" \
    'json_check "$work/gone_health.body" "d[\"status\"] == \"degraded\"" >/dev/null' "$(cat "$work/gone_health.body")"
check "journal deleted: one ERROR line of the journal names the file, once" \
    '[ "$(grep -c "ERROR journal: journal $work/gone.db: .*deleted or replaced while open" "$work/gone.log")" = 1 ]' \
    "$(grep "deleted or replaced" "$work/gone.log" | cut -c1-200 | tr '\n' '|')"
stop_server
SERVER_PID=$ready_pid PORT=$ready_port
cat >"$work/zero.py" <<'PY'
import ctypes, os, sys
sys.path.insert(0, sys.argv[2])
from http_raw import check
build = os.environ["PTEXEC_BUILD_DIR_ABS"]
lib = ctypes.CDLL(os.path.join(build, "libptexec.so.1"))
class Health(ctypes.Structure):
    _fields_ = [("brokers", ctypes.c_size_t), ("refused_brokers", ctypes.c_size_t),
                ("executions_in_flight", ctypes.c_size_t), ("journal", ctypes.c_char_p), ("ready", ctypes.c_int)]
host = ctypes.c_void_p()
text = ("[host]\nplugin_dir = %s/plugins\njournal = off\nlog_level = error\n" % build).encode()
rc = lib.ptexec_open_text(text, len(text), None, 0, ctypes.byref(host), None)
health = Health()
lib.ptexec_health_get(host, ctypes.byref(health))
ready = lib.ptexec_ready(host, None)
check(rc == 0 and ready == 6 and health.ready == 0 and health.brokers == 0,
      "zero brokers: ptexec_ready says PTEXEC_UNAVAILABLE, so /ready would be 503 and /health degraded",
      "open %d ready %d health.ready %d" % (rc, ready, health.ready))
lib.ptexec_close(host)
PY
if ldd "$BUILD_DIR/libptexec.so.1" | grep libasan >/dev/null; then
    skip zero_brokers "python3 cannot load the ASan build of libptexec through ctypes"
else
    PTEXEC_BUILD_DIR_ABS=$BUILD_DIR raw zero
fi
# Shutting down: an execution in flight keeps the server draining.
body slow '{"broker":"zerodha","credentials":{"api_key":"slow","access_token":"t"},"target_portfolio":[{"symbol":"RELIANCE","target_quantity":12},{"symbol":"TCS","target_quantity":3},{"symbol":"INFY","target_quantity":9}]}'
curl -s -o "$work/slow.body" -H 'Content-Type: application/json' --data-binary "@$work/slow.json" \
    "http://127.0.0.1:$PORT/execute" &
slow_curl=$!
for _ in $(seq 1 100); do
    req inflight GET /health
    json_check "$work/inflight.body" "d['executions_in_flight'] >= 1" >/dev/null && break
    sleep 0.02
done
cat >"$work/stopping.py" <<'PY'
import os, signal, sys, time
sys.path.insert(0, sys.argv[2])
from http_raw import Client, check
port, pid, log = int(sys.argv[1]), int(os.environ["STOP_PID"]), os.environ["STOP_LOG"]
a, b = Client(port), Client(port)
check(a.get("/health").status == 200 and b.get("/ready").status == 200, "before the signal: /health and /ready answer 200")
os.kill(pid, signal.SIGTERM)
for _ in range(250):
    if "shutting down" in open(log).read():
        break
    time.sleep(0.02)
h = a.get("/health")
check(h.status == 200 and h.json and h.json["status"] == "degraded" and "shutting down" in h.json["reason"],
      "shutting down: /health answers 200 with status degraded", h.describe())
r = b.get("/ready")
check(r.status == 503 and r.json and r.json["code"] == "shutting_down", "shutting down: /ready answers 503 shutting_down", r.describe())
PY
STOP_PID=$SERVER_PID STOP_LOG="$work/ready.log" raw stopping
wait "$slow_curl"
wait "$SERVER_PID"
STOP_RC=$?
check "the in-flight execution still completes and the server exits 0" \
    '[ "$STOP_RC" = 0 ] && json_check "$work/slow.body" "d[\"status\"] == \"COMPLETED\"" >/dev/null' "exit $STOP_RC"

# ---------------------------------------------------------------------------
# 6. max_executions: beyond it, 503 busy with Retry-After.
write_ini "$work/busy.ini" "latency_ms = 150" "journal = off\nmax_executions = 1"
start_server busy "$work/busy.ini" || exit 1
curl -s -o "$work/busy1.body" -H 'Content-Type: application/json' --data-binary "@$work/slow.json" \
    "http://127.0.0.1:$PORT/execute" &
busy_curl=$!
for _ in $(seq 1 100); do
    req inflight GET /health
    json_check "$work/inflight.body" "d['executions_in_flight'] >= 1" >/dev/null && break
    sleep 0.02
done
req busy2 POST /execute "$work/nodup.json"
if grep -qi '^Retry-After: 1' "$work/busy2.headers"; then
    expect_error "max_executions = 1: a second execution gets 503 busy with Retry-After" 503 busy
else
    fail "503 busy" "status $CODE, no Retry-After: $(head -c 200 "$work/busy2.body")"
fi
wait "$busy_curl"
check "the admitted execution completes" 'json_check "$work/busy1.body" "d[\"status\"] == \"COMPLETED\"" >/dev/null'
stop_server

# ---------------------------------------------------------------------------
# 7. The header deadline, apart from the idle timeout, and the per-IP limit.
write_ini "$work/deadline.ini" "" "journal = off\nheader_timeout_s = 1\nconnection_timeout_s = 30\nmax_connections_per_ip = 8"
start_server deadline "$work/deadline.ini" || exit 1
cat >"$work/deadline.py" <<'PY'
import select, socket, sys, time
sys.path.insert(0, sys.argv[2])
from http_raw import check, Client
port = int(sys.argv[1])
s = socket.create_connection(("127.0.0.1", port), timeout=5)
start = time.time()
closed_after = None
for byte in b"GET /health HTTP/1.1\r\nHost: localhost\r\nX-Slow: " + b"a" * 100:
    try:
        s.send(bytes([byte]))
        s.settimeout(0.25)
        if s.recv(1) == b"":
            closed_after = time.time() - start
            break
    except socket.timeout:
        pass
    except OSError:
        closed_after = time.time() - start
        break
    if time.time() - start > 6:
        break
check(closed_after is not None and closed_after < 3.5,
      "header_timeout_s = 1: a client trickling a byte every 0.25 s (never idle) is cut within ~1-2 s",
      "closed after %s" % closed_after)
idle = Client(port)
check(idle.get("/health").status == 200, "a kept-alive connection answers its first request")
time.sleep(1.6)
check(idle.get("/health").status == 200, "and, idle past header_timeout_s but within connection_timeout_s, its next one")
socks = [socket.create_connection(("127.0.0.1", port), timeout=2, source_address=("127.0.0.9", 0)) for _ in range(12)]
time.sleep(0.3)
readable, _, _ = select.select(socks, [], [], 0.2)  # closed ones read as end of stream
refused = sum(1 for c in readable if c.recv(1) == b"")
check(refused == 4, "max_connections_per_ip = 8: of 12 connections from one address, 4 are closed at once", "%d closed" % refused)
check(Client(port).get("/health").status == 200, "another address is still served")
PY
raw deadline
req deadline_metrics GET /metrics
check "/metrics counts the dropped slow client and the open connections" \
    'grep -q "^ptexec_http_slow_clients_dropped_total [1-9]" "$work/deadline_metrics.body" && grep -q "^ptexec_http_connections_open [0-9]" "$work/deadline_metrics.body"'
stop_server

# ---------------------------------------------------------------------------
# 8. Slowloris on loopback, bounded to 30 s: 1,000 connections trickle header
#    bytes from four addresses while /health is polled every 100 ms and
#    executions run.
write_ini "$work/loris.ini" "latency_ms = 5" "journal = $work/loris.db\nheader_timeout_s = 5"
start_server loris "$work/loris.ini" || exit 1
cat >"$work/loris.py" <<'PY'
import json, socket, sys, threading, time
sys.path.insert(0, sys.argv[2])
from http_raw import Client, check
port = int(sys.argv[1])
loris, opened = [], 0
for i in range(1000):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=2,
                                     source_address=("127.0.0.%d" % (2 + i % 4), 0))
        s.setblocking(False)
        loris.append(s)
        opened += 1
    except OSError:
        pass
stop = time.time() + 12
probes, slow_probes, failed_probes = 0, [], []
def probe():
    global probes
    while time.time() < stop:
        t = time.time()
        try:
            r = Client(port, timeout=2).get("/health")
            if r.status != 200:
                failed_probes.append(r.status)
        except Exception as e:
            failed_probes.append(repr(e))
        took = time.time() - t
        if took > 2:
            slow_probes.append(took)
        probes += 1
        time.sleep(0.1)
results = []
def execute():
    c = Client(port, timeout=20)
    for i in range(20):
        body = json.dumps({"broker": "zerodha", "credentials": {"api_key": "loris-%d" % i, "access_token": "t"},
                           "target_portfolio": [{"symbol": "RELIANCE", "target_quantity": 12}, {"symbol": "TCS", "target_quantity": 4}]})
        try:
            r = c.post("/execute", body)
            results.append(r.json["status"] if r.status == 200 and r.json else r.status)
        except Exception as e:
            results.append(repr(e))
            c = Client(port, timeout=20)
threads = [threading.Thread(target=probe), threading.Thread(target=execute)]
for t in threads:
    t.start()
trickle = b"GET /health HTTP/1.1\r\nHost: localhost\r\nX-Loris: " + b"x" * 64
at = 0
while time.time() < stop:
    for s in loris:
        try:
            s.send(trickle[at % len(trickle):at % len(trickle) + 1])
        except OSError:
            pass
    at += 1
    time.sleep(0.5)
for t in threads:
    t.join()
print("info: %d slowloris connections opened, %d probes" % (opened, probes))
check(opened >= 990, "1,000 slowloris connections are accepted (from four addresses)", "%d opened" % opened)
check(probes >= 60 and not failed_probes and not slow_probes,
      "every /health probe (every 100 ms for 12 s) answers 200 within 2 s",
      "%d probes, failed %s, slow %s" % (probes, failed_probes[:5], slow_probes[:5]))
check(results == ["COMPLETED"] * 20, "every execution run beside them completes", str(results))
closed = 0
for s in loris:
    try:
        if s.recv(1) == b"":
            closed += 1
    except BlockingIOError:
        pass
    except OSError:
        closed += 1
check(closed >= 990, "header_timeout_s = 5: the slowloris connections were cut", "%d of %d closed" % (closed, opened))
PY
raw loris
req loris_metrics GET /metrics
dropped=$(sed -n 's/^ptexec_http_slow_clients_dropped_total //p' "$work/loris_metrics.body")
lines=$(grep -c 'dropped .* slow client connection' "$work/loris.log")
check "the drops are counted in /metrics (>= 990) and logged once per interval, not per connection" \
    '[ "${dropped:-0}" -ge 990 ] && [ "$lines" -ge 1 ] && [ "$lines" -le 3 ]' "dropped $dropped, $lines log lines"
stop_server

check "no sanitizer report in any server log" '[ ! -s "$work/sanitizer.reports" ]' \
    "$(head -n 20 "$work/sanitizer.reports" 2>/dev/null)"
finish
