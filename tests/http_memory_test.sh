#!/usr/bin/env bash
# Per-account memory of the server: 20,000 distinct accounts, one after
# another, each trading once over one kept-alive connection; RSS after the
# last within 10% of RSS after the first 1,000. The broker is the stateless
# fixture (tests/plugins/stateless.c: nothing kept per account), so what is
# measured is the host's memory (locks, pacing, metrics, journal caches).
# The simulated exchange (plugins/sim) keeps every account's holdings and
# orders by design; its growth is printed as an info line, not checked.
# Prints PASS/FAIL lines and ends with "N passed, M failed, K skipped".
set -u
cd "$(dirname "$0")/.." && . tests/lib.sh
require_tools python3
make_work memory
ldd "$PTEXEC" | grep libasan >/dev/null &&
    skip_all memory "under AddressSanitizer the allocator's quarantine, not the server, decides RSS"
[ -f "$BUILD_DIR/tests/plugins/stateless.so" ] || { fail setup "build/tests/plugins/stateless.so is missing (make check-build)"; finish; }

cat >"$work/accounts.py" <<'PY'
import json, sys
sys.path.insert(0, sys.argv[5])
from http_raw import Client
port, count, broker, pid = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
def rss():
    for line in open("/proc/%s/status" % pid):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
client, marks = Client(port, timeout=30), {}
for i in range(count):
    body = json.dumps({"broker": broker, "credentials": {"api_key": "acct-%d" % i, "access_token": "t"},
                       "target_portfolio": [{"symbol": "RELIANCE", "target_quantity": 11},
                                            {"symbol": "TCS", "target_quantity": 4}]})
    r = client.post("/execute", body)
    if r.status != 200:
        sys.exit("execution %d: %s" % (i, r.describe()))
    if i + 1 in (1000, count):
        marks[i + 1] = rss()
print(marks[1000], marks[count])
PY

# accounts NAME INI BROKER COUNT: RSS (kB) after 1,000 and after COUNT accounts, into FIRST and LAST.
accounts() {
    start_server "$1" "$2" || return 1
    local out
    out=$(timeout 300 "$PY" "$work/accounts.py" "$PORT" "$4" "$3" "$SERVER_PID" "$SOURCE_DIR/tests" 2>&1)
    local rc=$?
    stop_server
    [ "$rc" = 0 ] || { echo "$out"; return 1; }
    read -r FIRST LAST <<<"$out"
}

printf '[host]\nplugin_dir = %s/tests/plugins\njournal = %s/stateless.db\n[broker.stateless]\nplugin = stateless.so\n' \
    "$BUILD_DIR" "$work" >"$work/stateless.ini"
if accounts stateless "$work/stateless.ini" stateless 20000; then
    growth=$(awk -v a="$FIRST" -v b="$LAST" 'BEGIN { printf "%.1f", (b - a) * 100 / a }')
    echo "info: host RSS ${FIRST} kB after 1,000 accounts, ${LAST} kB after 20,000 (${growth}%)"
    check "20,000 distinct accounts: host RSS within 10% of RSS after the first 1,000 (${growth}%)" \
        'awk -v g="$growth" "BEGIN { exit !(g < 10) }"'
else
    fail "20,000 accounts against the stateless broker" "the run failed"
fi

write_ini "$work/sim.ini" "" "journal = off"
if accounts sim "$work/sim.ini" zerodha 5000; then
    per=$(awk -v a="$FIRST" -v b="$LAST" 'BEGIN { printf "%.2f", (b - a) / 4000 }')
    echo "info: the simulated exchange (zerodha, journal off): ${FIRST} kB after 1,000 accounts, ${LAST} kB after 5,000: ${per} kB per account it keeps (holdings and orders, plugins/sim)"
    pass "5,000 accounts against the simulated exchange all trade"
else
    fail "5,000 accounts against the simulated exchange" "the run failed"
fi
finish
