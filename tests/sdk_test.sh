#!/usr/bin/env bash
# The third-party plugin path, end to end, as a new plugin author meets it:
# install ptexec into a scratch root, build sdk/examples (paper.so) against the
# installed header and pkg-config file only, check it with the installed
# ptexec, then run executions and a holdings read through it.
#
# Environment: PTEXEC_SOURCE_DIR (default: this script's repository), BUILD
# (build folder to install from, e.g. build-asan; default from
# PTEXEC_BUILD_DIR, else build). Prints PASS/FAIL lines and ends with
# "N passed, M failed, K skipped".
set -uo pipefail

. "$(dirname "$0")/lib.sh"
source_dir=${PTEXEC_SOURCE_DIR:-$SOURCE_DIR}
if [ -z "${BUILD:-}" ]; then
    BUILD=${PTEXEC_BUILD_DIR:-build}
fi
make_work sdk-test
root="$work/root"
prefix=/usr/local
bin="$root$prefix/bin/ptexec"
scratch="$work/author" # the plugin author's own folder
mkdir -p "$scratch" "$work/conf"
chmod 755 "$scratch" "$work/conf"

# Secrets used below; none of them may ever appear in ptexec's output.
api_key="k"
access_token="t-paper-SECRET-4711"

# --- 1. install ---------------------------------------------------------------
if (cd "$source_dir" && make --no-print-directory install DESTDIR="$root" PREFIX="$prefix" \
    BUILD="$BUILD") >"$work/install.log" 2>&1; then
    pass install
else
    fail install "make install failed"
    tail -n 30 "$work/install.log"
    finish
fi
check installed_files 'test -x "$bin" -a -f "$root$prefix/include/ptexec/broker_plugin.h" \
    -a -f "$root$prefix/lib/pkgconfig/ptexec-sdk.pc" \
    -a -f "$root$prefix/share/ptexec/examples/paper.c"' "missing under $root$prefix"

# --- 2. pkg-config sees only the installed SDK -----------------------------------
export PKG_CONFIG_PATH="$root$prefix/lib/pkgconfig"
export PKG_CONFIG_LIBDIR="$root$prefix/lib/pkgconfig"
export PKG_CONFIG_SYSROOT_DIR="$root"
cflags=$(pkg-config --cflags ptexec-sdk 2>&1)
version=$(pkg-config --modversion ptexec-sdk 2>&1)
if [ "$(echo $cflags)" = "-I$root$prefix/include" ] && [[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]]; then
    pass pkgconfig
else
    fail pkgconfig "cflags '$cflags', version '$version'"
fi
check pkgconfig_no_placeholders '! grep -q "@[A-Z]*@" "$root$prefix/lib/pkgconfig/ptexec-sdk.pc"' \
    "placeholders left in ptexec-sdk.pc"

# --- 3. build the example with only the installed header ---------------------------
cp -R "$root$prefix/share/ptexec/examples/." "$scratch/"
rm -f "$scratch"/*.so # build it ourselves, never reuse a copied binary
if env -u CPATH -u C_INCLUDE_PATH make -C "$scratch" >"$work/build.log" 2>&1 &&
    [ -f "$scratch/paper.so" ]; then
    pass example_builds
else
    fail example_builds
    tail -n 30 "$work/build.log"
    finish
fi
if grep -q -- "-I$root$prefix/include" "$work/build.log" &&
    ! grep -q -- "$source_dir/sdk" "$work/build.log" &&
    ! grep -qiE 'warning:' "$work/build.log"; then
    pass example_uses_installed_header_without_warnings
else
    fail example_uses_installed_header_without_warnings
    cat "$work/build.log"
fi
exports=$(nm -D --defined-only "$scratch/paper.so" | awk 'NF >= 3 {print $3}')
if [ "$exports" = "broker_plugin_v1" ]; then
    pass example_exports_one_symbol
else
    fail example_exports_one_symbol "exports: $(echo "$exports" | tr '\n' ' ')"
fi
chmod 755 "$scratch" "$scratch/paper.so"

# --- 4. ptexec plugin check ------------------------------------------------------
out=$(cd "$scratch" && timeout 60 "$bin" plugin check ./paper.so 2>&1)
rc=$?
# The descriptor's name and version, not just the file name, and ABI 1.x.
if [ "$rc" -eq 0 ] && grep -Eq '(^|[^./])paper([^.]|$)' <<<"$out" && grep -q '1\.0\.0' <<<"$out" &&
    grep -Eiq 'abi[^0-9]*1\.[0-9]+' <<<"$out"; then
    pass plugin_check
else
    fail plugin_check "exit $rc, output: $out"
fi

# --- 5. executions through the plugin ----------------------------------------------
ini="$work/conf/brokers.ini"
cat >"$ini" <<EOF
[host]
plugin_dir = $scratch
log_level  = debug

[broker.paper]
plugin           = paper.so
max_retries      = 3
retry_base_ms    = 1
poll_interval_ms = 1
price            = 250.5
state_file       = $work/conf/paper-state.txt
EOF
chmod 644 "$ini"

# request FILE TARGETS... writes a request for targets "SYMBOL=QTY".
request() {
    local file=$1 sep="" item
    shift
    {
        printf '{"broker": "paper",\n "credentials": {"api_key": "%s", "access_token": "%s"},\n' \
            "$api_key" "$access_token"
        printf ' "target_portfolio": ['
        for item in "$@"; do
            printf '%s{"symbol": "%s", "target_quantity": %s}' "$sep" "${item%%=*}" "${item#*=}"
            sep=", "
        done
        printf ']}\n'
    } >"$file"
}

# verify_execution JSON_FILE EXPECTED_LEGS SELLS_FIRST TARGETS...: every leg
# FILLED, positions after == target with residual 0, leg count as expected and,
# when SELLS_FIRST is 1, every SELL sequenced before every BUY.
verify_execution() {
    python3 - "$@" <<'EOF'
import json, sys
path, legs, sells_first, targets = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:]
want = {t.split("=")[0]: int(t.split("=")[1]) for t in targets}
doc = json.load(open(path))
problems = []
if doc.get("broker") != "paper":
    problems.append("broker is %r" % doc.get("broker"))
if doc.get("status") not in ("COMPLETED", "NOOP"):
    problems.append("status %r" % doc.get("status"))
results = doc.get("results", [])
if len(results) != legs:
    problems.append("%d legs, expected %d" % (len(results), legs))
for leg in results:
    if leg.get("status") != "FILLED" or leg.get("filled_quantity") != leg.get("quantity"):
        problems.append("leg %s %s" % (leg.get("symbol"), leg.get("status")))
    if leg.get("status") == "FILLED" and leg.get("average_price") != 250.5:
        problems.append("leg %s price %r" % (leg.get("symbol"), leg.get("average_price")))
if sells_first == "1":
    sells = [l["sequence"] for l in results if l.get("side") == "SELL"]
    buys = [l["sequence"] for l in results if l.get("side") == "BUY"]
    if not sells or not buys:
        problems.append("expected both SELL and BUY legs")
    elif max(sells) > min(buys):
        problems.append("a BUY was sequenced before a SELL")
positions = {p["symbol"]: p for p in doc.get("positions", [])}
for symbol, quantity in want.items():
    p = positions.get(symbol)
    if p is None or p.get("after") != quantity or p.get("target") != quantity \
            or p.get("residual") != 0:
        problems.append("position %s: %r, want %d" % (symbol, p, quantity))
if problems:
    print("; ".join(problems))
    sys.exit(1)
EOF
}

# run_execute NAME EXPECTED_LEGS SELLS_FIRST TARGETS...
run_execute() {
    local name=$1 legs=$2 sells_first=$3
    shift 3
    request "$work/$name.json" "$@"
    timeout 120 "$bin" -c "$ini" execute "$work/$name.json" >"$work/$name.out" \
        2>"$work/$name.err"
    local rc=$?
    cat "$work/$name.err" >>"$work/all-logs.txt"
    cat "$work/$name.out" >>"$work/all-logs.txt"
    local why
    if [ "$rc" -ne 0 ]; then
        fail "$name" "exit $rc: $(head -c 600 "$work/$name.err")"
    elif why=$(verify_execution "$work/$name.out" "$legs" "$sells_first" "$@" 2>&1); then
        pass "$name"
    else
        fail "$name" "$why"
        head -c 2000 "$work/$name.out"
    fi
}

# A new paper account is empty: three BUY legs (ZERO has nothing to do).
run_execute execute_buys 3 0 RELIANCE=20 TCS=5 INFY=8 ZERO=0
# From there: two SELL legs and one BUY, sells sequenced first.
run_execute execute_sells_first 3 1 RELIANCE=12 TCS=0 INFY=8 HDFCBANK=3

# holdings shows the last target (TCS sold out, so absent or 0).
timeout 60 "$bin" -c "$ini" holdings --broker paper --api-key "$api_key" \
    --access-token "$access_token" >"$work/holdings.out" 2>"$work/holdings.err"
rc=$?
cat "$work/holdings.out" "$work/holdings.err" >>"$work/all-logs.txt"
if [ "$rc" -ne 0 ]; then
    fail holdings "exit $rc: $(head -c 600 "$work/holdings.err")"
elif why=$(python3 - "$work/holdings.out" RELIANCE=12 TCS=0 INFY=8 HDFCBANK=3 <<'EOF' 2>&1
import json, re, sys
text = open(sys.argv[1]).read()
want = {t.split("=")[0]: int(t.split("=")[1]) for t in sys.argv[2:]}
found = {}
def walk(node):
    if isinstance(node, dict):
        if isinstance(node.get("symbol"), str):
            for key in ("quantity", "qty", "held"):
                if isinstance(node.get(key), int):
                    found[node["symbol"]] = node[key]
        for value in node.values():
            walk(value)
    elif isinstance(node, list):
        for value in node:
            walk(value)
try:
    doc = json.loads(text)
    walk(doc)
    if not found and isinstance(doc, dict):   # {"holdings": {"RELIANCE": 12, ...}}
        for value in [doc] + [v for v in doc.values() if isinstance(v, dict)]:
            for k, v in value.items():
                if isinstance(v, int) and re.fullmatch(r"[A-Z0-9&._-]+", k):
                    found[k] = v
except ValueError:                            # a text table: SYMBOL ... QTY
    for line in text.splitlines():
        m = re.match(r"\s*([A-Z0-9&._-]+)\s+(-?\d+)\s*$", line)
        if m:
            found[m.group(1)] = int(m.group(2))
bad = ["%s=%r (want %d)" % (s, found.get(s), q) for s, q in want.items()
       if found.get(s, 0) != q or (q and s not in found)]
if bad:
    print("holdings mismatch: " + ", ".join(bad) + " in: " + text[:500])
    sys.exit(1)
EOF
); then
    pass holdings
else
    fail holdings "$why"
fi

# ptexec brokers lists the plugin as loaded.
out=$(timeout 60 "$bin" -c "$ini" brokers 2>&1)
rc=$?
echo "$out" >>"$work/all-logs.txt"
if [ "$rc" -eq 0 ] && grep -q 'paper' <<<"$out" && grep -q '1\.0\.0' <<<"$out"; then
    pass brokers_lists_paper
else
    fail brokers_lists_paper "exit $rc: $out"
fi

# A missing credential field: exit 2, the field is named, nothing placed.
cat >"$work/missing.json" <<EOF
{"broker": "paper", "credentials": {"api_key": "$api_key"},
 "target_portfolio": [{"symbol": "RELIANCE", "target_quantity": 99}]}
EOF
out=$(timeout 60 "$bin" -c "$ini" execute "$work/missing.json" 2>&1)
rc=$?
echo "$out" >>"$work/all-logs.txt"
if [ "$rc" -eq 2 ] && grep -q 'access_token' <<<"$out"; then
    pass missing_credential_named
else
    fail missing_credential_named "exit $rc: $out"
fi

# The access token never appears in anything ptexec printed (debug logs included)
# nor in the plugin's state file.
cat "$work/conf/paper-state.txt" >>"$work/all-logs.txt" 2>/dev/null
if grep -q -- "$access_token" "$work/all-logs.txt"; then
    fail secrets_not_logged "access token found in output"
else
    pass secrets_not_logged
fi

finish
