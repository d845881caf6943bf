#!/usr/bin/env bash
# GET /docs in a real browser: starts the server on a free loopback port and
# drives headless Chromium (Debian package chromium) with tests/docs_test.mjs:
# the operations are listed, "Try it out" on POST /plan answers 200, and a
# screenshot is saved under the test output folder. Prints PASS/FAIL lines and
# ends with "N passed, M failed, K skipped"; one SKIP line when Chromium or
# Node is missing.
set -u
cd "$(dirname "$0")/.." && . tests/lib.sh
out_dir="$BUILD_DIR/test-output"
mkdir -p "$out_dir"
skip_all_unless_tools docs "(Debian packages chromium, nodejs)" chromium node curl
make_work docs

write_ini "$work/brokers.ini"
start_server server "$work/brokers.ini" || { fail "server start" "see the server log above"; finish; }

node --experimental-websocket --no-warnings tests/docs_test.mjs \
    "http://127.0.0.1:$PORT/docs" "$out_dir/docs-screenshot.png" >"$work/node.out" 2>&1
tally "$work/node.out"
if grep -q 'POST /plan 200' "$work/server.log"; then
    pass "the server logged the POST /plan sent from the browser"
else
    fail "browser request" "no 'POST /plan 200' in the server log"
fi
[ "$passed" -gt 0 ] || failed=$((failed + 1))
finish
