#!/usr/bin/env bash
# GET /docs in a real browser: starts the server on a free loopback port and
# drives headless Chromium (Debian package chromium) with tests/docs_test.mjs:
# the operations are listed, "Try it out" on POST /plan answers 200, and a
# screenshot is saved under the test output folder. Prints PASS/FAIL lines and
# ends with "N passed, M failed"; one SKIP line when Chromium or Node is missing.
set -u
cd "$(dirname "$0")/.."
BUILD_DIR=${PTEXEC_BUILD_DIR:-$PWD/build}
out_dir="$BUILD_DIR/test-output"
mkdir -p "$out_dir"
for tool in chromium node curl; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "SKIP docs: $tool is not installed (Debian packages chromium, nodejs)"
        echo "0 passed, 0 failed"
        exit 0
    fi
done
work=$(mktemp -d /tmp/ptexec-docs-XXXXXX)
chmod 755 "$work"
server=
trap '[ -n "$server" ] && kill -TERM "$server" 2>/dev/null; rm -rf "$work"' EXIT
passed=0
failed=0

{
    printf '[host]\nplugin_dir = %s/plugins\n\n' "$BUILD_DIR"
    for b in zerodha fyers angelone groww upstox; do
        printf '[broker.%s]\nplugin = %s.so\nmode = simulated\ntransient_failure_rate = 0\n' "$b" "$b"
        printf 'unknown_outcome_rate = 0\n\n'
    done
} >"$work/brokers.ini"
"$BUILD_DIR/ptexec" -c "$work/brokers.ini" serve --listen 127.0.0.1:0 >"$work/server.log" 2>&1 </dev/null &
server=$!
port=
for _ in $(seq 1 200); do
    port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$work/server.log" | head -n1)
    [ -n "$port" ] && break
    sleep 0.05
done
if [ -z "$port" ]; then
    echo "FAIL server start: $(tail -n 5 "$work/server.log")"
    echo "0 passed, 1 failed"
    exit 1
fi

node --experimental-websocket --no-warnings tests/docs_test.mjs \
    "http://127.0.0.1:$port/docs" "$out_dir/docs-screenshot.png" >"$work/node.out" 2>&1
cat "$work/node.out"
passed=$(grep -c '^PASS' "$work/node.out")
failed=$(grep -c '^FAIL' "$work/node.out")
if grep -q 'POST /plan 200' "$work/server.log"; then
    passed=$((passed + 1))
    echo "PASS the server logged the POST /plan sent from the browser"
else
    failed=$((failed + 1))
    echo "FAIL browser request: no 'POST /plan 200' in the server log"
fi
[ "$passed" -gt 0 ] || failed=$((failed + 1))
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
