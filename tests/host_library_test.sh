#!/usr/bin/env bash
# The host library (libptexec.so.1, <ptexec/host.h>) as a front-end meets it:
#   1. the library exports only ptexec_* and has its soname;
#   2. the CLI and HTTP front-ends use the public API alone: their includes,
#      and a link of the ptexec executable from their objects against the
#      shared library only (hidden visibility: a private symbol cannot link);
#   3. `make install PREFIX=…`, then the C example (sdk/examples/host) built
#      with the installed pkg-config file: the seed example, a bad request,
#      two threads on two accounts through one host, a clean close (leak-free
#      under the sanitizer build);
#   4. the installed ptexec runs from the prefix (rpath $ORIGIN/../lib);
#   5. the Python module ptexec.py (ctypes) against the installed library:
#      the same checks with Python threads, history, and the model example.
# Prints PASS/FAIL/SKIP lines and ends with "N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/.."
source_dir=$PWD
BUILD_DIR=${PTEXEC_BUILD_DIR:-$PWD/build}
BUILD=$(realpath --relative-to="$source_dir" "$BUILD_DIR" 2>/dev/null || echo build)
work=$(mktemp -d /tmp/ptexec-lib-XXXXXX)
chmod 755 "$work"
trap 'rm -rf "$work"' EXIT
passed=0
failed=0
pass() { echo "PASS $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1: $2"; failed=$((failed + 1)); }
finish() {
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ]
    exit $?
}

# --- 1. exports and soname ------------------------------------------------------
lib="$BUILD_DIR/libptexec.so.1"
exports=$(nm -D --defined-only "$lib" | awk 'NF >= 3 {print $3}')
others=$(grep -v '^ptexec_' <<<"$exports" | tr '\n' ' ')
if [ -n "$exports" ] && [ -z "${others// /}" ] && grep -q '^ptexec_execute$' <<<"$exports"; then
    pass "libptexec.so.1 exports only ptexec_* ($(wc -l <<<"$exports") symbols)"
else
    fail "exports" "not ptexec_*: $others"
fi
if readelf -d "$lib" | grep 'SONAME.*\[libptexec\.so\.1\]' >/dev/null &&
    [ "$(readlink "$BUILD_DIR/libptexec.so")" = libptexec.so.1 ]; then
    pass "soname libptexec.so.1 and the libptexec.so dev link"
else
    fail "soname" "$(readelf -d "$lib" | grep SONAME)"
fi

# --- 2. the front-ends use the public API alone -----------------------------------
front_headers="cli.h http.h openapi.h"
bad_includes=
for file in host/cli.c host/cli.h host/http.c host/http.h host/openapi.c host/openapi.h host/main.c; do
    while read -r header; do
        case " $front_headers " in *" $header "*) ;; *) bad_includes+="$file:$header " ;; esac
    done < <(sed -nE 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"([^"]+)".*/\1/p' "$file")
    while read -r header; do
        case $header in ptexec/host.h | ptexec/broker_plugin.h) ;; *) bad_includes+="$file:<$header> " ;; esac
    done < <(sed -nE 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*<(ptexec\/[^>]+)>.*/\1/p' "$file")
done
if [ -z "$bad_includes" ] && grep -q '#include <ptexec/host.h>' host/cli.c host/http.h; then
    pass "cli.c, http.c, openapi.c include only their own headers and <ptexec/...>"
else
    fail "front-end includes" "$bad_includes"
fi
front_objs=("$BUILD_DIR/host/cli.o" "$BUILD_DIR/host/http.o" "$BUILD_DIR/host/openapi.o" "$BUILD_DIR/host/main.o")
if cc -o "$work/ptexec-proof" "${front_objs[@]}" -L"$BUILD_DIR" -lptexec \
    $(pkg-config --libs libmicrohttpd) -lpthread $(ldd "$lib" | grep libasan >/dev/null && echo -fsanitize=address,undefined) \
    >"$work/link.log" 2>&1; then
    pass "the front-end objects link against libptexec.so alone"
else
    fail "front-end link" "$(head -c 400 "$work/link.log")"
fi
lib_symbols=$(for o in "$BUILD_DIR"/host/*.o; do
    case " ${front_objs[*]} " in *" $o "*) continue ;; esac
    nm -g --defined-only "$o" | awk '{print $3}'
done | sort -u)
copied=$(comm -12 <(echo "$lib_symbols") <(nm -g --defined-only "$BUILD_DIR/ptexec" | awk '{print $3}' | sort -u) | tr '\n' ' ')
if [ -n "$lib_symbols" ] && [ -z "${copied// /}" ]; then
    pass "build/ptexec holds no host module (every host symbol comes from the library)"
else
    fail "build/ptexec contains host modules" "$copied"
fi
printf 'struct engine;\nint engine_execute(void);\nint main(void) { return engine_execute(); }\n' >"$work/private.c"
if cc -o "$work/private" "$work/private.c" -L"$BUILD_DIR" -lptexec >"$work/private.log" 2>&1; then
    fail "hidden symbols" "a program calling engine_execute linked against the library"
else
    pass "a private symbol (engine_execute) does not link against the library"
fi
found=$(ldd "$BUILD_DIR/ptexec" | awk '$1 == "libptexec.so.1" {print $3}')
if [ -n "$found" ] && [ "$(readlink -f "$found")" = "$(readlink -f "$BUILD_DIR/libptexec.so.1")" ]; then
    pass "build/ptexec finds the library beside it (rpath \$ORIGIN)"
else
    fail "build/ptexec rpath" "$(ldd "$BUILD_DIR/ptexec" | grep ptexec)"
fi

# --- 3. install, then the C example against the installed library ----------------
prefix="$work/prefix"
if make --no-print-directory install PREFIX="$prefix" BUILD="$BUILD" >"$work/install.log" 2>&1; then
    pass "make install PREFIX=…"
else
    fail "make install" "$(tail -n 20 "$work/install.log")"
    finish
fi
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
if [ -f "$prefix/include/ptexec/host.h" ] && [ -L "$prefix/lib/libptexec.so" ] &&
    [ -f "$prefix/lib/libptexec.so.1" ] &&
    [ "$(echo $(pkg-config --cflags --libs ptexec))" = "-I$prefix/include -L$prefix/lib -lptexec" ]; then
    pass "installed: lib, dev link, host.h, ptexec.pc (pkg-config --cflags --libs ptexec)"
else
    fail "installed files" "$(pkg-config --cflags --libs ptexec 2>&1)"
fi

san_flags=
if ldd "$prefix/lib/libptexec.so.1" | grep libasan >/dev/null; then
    san_flags="-fsanitize=address,undefined -fno-omit-frame-pointer"
fi
example="$work/example"
cp -R "$prefix/share/ptexec/examples/host" "$example"
if env -u CPATH -u C_INCLUDE_PATH make -C "$example" CFLAGS="-O1 -g -Werror $san_flags" \
    LDFLAGS="$san_flags" >"$work/example-build.log" 2>&1 &&
    grep -q -- "-I$prefix/include" "$work/example-build.log" &&
    ! grep -q -- "$source_dir/sdk" "$work/example-build.log"; then
    pass "the C example builds from the installed header and pkg-config file"
else
    fail "C example build" "$(tail -n 20 "$work/example-build.log")"
    finish
fi
lines=$(grep -cv '^[[:space:]]*$' "$example/execute.c")
[ "$(wc -l <"$example/execute.c")" -lt 100 ] && pass "the C example is under 100 lines ($lines non-blank)" ||
    fail "C example length" "$(wc -l <"$example/execute.c") lines"

ini="$work/brokers.ini"
{
    printf '[host]\nplugin_dir = %s/lib/ptexec/plugins\nlog_level = warn\njournal = %s/journal.db\n\n' \
        "$prefix" "$work"
    for b in zerodha fyers; do
        printf '[broker.%s]\nplugin = %s.so\nmode = simulated\nretry_base_ms = 1\n' "$b" "$b"
        printf 'poll_interval_ms = 1\nrate_limit_per_second = 0\n'
        printf 'transient_failure_rate = 0\nunknown_outcome_rate = 0\n\n'
    done
} >"$ini"
seed_targets='[{"symbol": "RELIANCE", "target_quantity": 20}, {"symbol": "TCS", "target_quantity": 0}]'
request() { # FILE API_KEY [TARGETS]
    printf '{"broker": "zerodha", "credentials": {"api_key": "%s", "access_token": "demo"},
 "target_portfolio": %s}\n' "$2" "${3:-$seed_targets}" >"$1"
}
request "$work/seed.json" demo
request "$work/alice.json" alice
request "$work/bob.json" bob
request "$work/bad.json" demo '[{"symbol": "TCS", "target_quantity": 1.5}]'

# seed_check FILE: the seed's response (the expected lines of tests/cli_test.sh).
seed_check() {
    python3 - "$1" <<'PY'
import json, sys
d = json.loads(open(sys.argv[1]).readline())
ok = ([(r["symbol"], r["quantity"], r["side"], r["status"], r["reason"], r["sequence"]) for r in d["results"]]
      == [("RELIANCE", 10, "BUY", "FILLED", None, 2), ("TCS", 5, "SELL", "FILLED", None, 1)]
      and d["status"] == "COMPLETED" and d["broker"] == "zerodha"
      and [(p["symbol"], p["before"], p["target"], p["after"], p["residual"]) for p in d["positions"]]
      == [("RELIANCE", 10, 20, 20, 0), ("TCS", 5, 0, 0, 0)]
      and d["summary"]["orders"] == 2 and d["summary"]["filled"] == 2)
sys.exit(0 if ok else 1)
PY
}
"$example/execute" "$ini" "$work/seed.json" >"$work/c-seed.out" 2>"$work/c-seed.err"
rc=$?
if [ "$rc" -eq 0 ] && seed_check "$work/c-seed.out" && grep -q "COMPLETED (HTTP 200)" "$work/c-seed.err"; then
    pass "C example: the seed example gives the seed's response (exit 0, leak-free close)"
else
    fail "C example seed" "rc=$rc $(head -c 400 "$work/c-seed.err")"
fi
"$example/execute" "$ini" "$work/bad.json" >"$work/c-bad.out" 2>"$work/c-bad.err"
rc=$?
if [ "$rc" -eq 1 ] && grep -q 'error invalid_request: .*target_quantity must be an integer' "$work/c-bad.err" &&
    python3 -c 'import json,sys; e=json.load(open(sys.argv[1]))["error"]; sys.exit(not (e["code"] == "invalid_request" and e["field"] == "target_portfolio[0].target_quantity"))' "$work/c-bad.out"; then
    pass "C example: a bad request gives invalid_request, its message and field"
else
    fail "C example bad request" "rc=$rc $(cat "$work/c-bad.err")"
fi
"$example/execute" "$ini" "$work/alice.json" "$work/bob.json" >"$work/c-two.out" 2>"$work/c-two.err"
rc=$?
if [ "$rc" -eq 0 ] && [ "$(grep -c 'COMPLETED (HTTP 200)' "$work/c-two.err")" -eq 2 ] &&
    python3 -c '
import json, sys
docs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
sys.exit(not (len(docs) == 2 and docs[0]["execution_id"] != docs[1]["execution_id"]
              and all(d["summary"]["filled"] == 2 for d in docs)))' "$work/c-two.out"; then
    pass "C example: two threads, two accounts, one host: both COMPLETED"
else
    fail "C example two threads" "rc=$rc $(head -c 400 "$work/c-two.err")"
fi

# --- 4. the installed ptexec runs from the prefix -------------------------------
if ldd "$prefix/bin/ptexec" | grep "libptexec.so.1 => $prefix/bin/../lib/libptexec.so.1" >/dev/null &&
    "$prefix/bin/ptexec" -c "$ini" plan "$work/seed.json" >"$work/installed.out" 2>"$work/installed.err"; then
    pass "the installed ptexec finds lib/libptexec.so.1 (rpath \$ORIGIN/../lib) and runs"
else
    fail "installed ptexec" "$(ldd "$prefix/bin/ptexec" | grep ptexec) $(head -c 300 "$work/installed.err")"
fi

# --- 5. Python (ctypes) against the installed library --------------------------
export PTEXEC_LIBRARY="$(pkg-config --variable=libdir ptexec)/libptexec.so.1"
python_env=()
if [ -n "$san_flags" ]; then
    asan_rt=$(cc -print-file-name=libasan.so)
    if [ ! -f "$asan_rt" ]; then
        echo "SKIP python-asan: libasan.so not found to preload into python3"
        finish
    fi
    # Python's own allocations are not ours to check: leaks off, errors on.
    python_env=(env LD_PRELOAD="$asan_rt" ASAN_OPTIONS=detect_leaks=0:verify_asan_link_order=0)
fi
cat >"$work/python_check.py" <<'PY'
import json, sys, threading
sys.path.insert(0, sys.argv[1])
from ptexec import Host, PtexecError
ini, work = sys.argv[2], sys.argv[3]
checks = []
def check(name, ok):
    print(("PASS " if ok else "FAIL ") + name + ("" if ok else ": check failed"))

seed = json.load(open(work + "/seed.json"))
seed["credentials"]["api_key"] = "py-demo"
with Host(ini) as host:
    d = host.execute(seed)
    check("python: Host(path).execute(seed) gives the seed's response",
          [(r["symbol"], r["quantity"], r["side"], r["status"], r["reason"], r["sequence"]) for r in d["results"]]
          == [("RELIANCE", 10, "BUY", "FILLED", None, 2), ("TCS", 5, "SELL", "FILLED", None, 1)]
          and d["status"] == "COMPLETED" and d["summary"]["filled"] == 2)
    try:
        host.execute(json.load(open(work + "/bad.json")))
        check("python: a bad request raises PtexecError", False)
    except PtexecError as e:
        check("python: a bad request raises PtexecError(code=invalid_request) with message and field",
              e.code == "invalid_request" and "target_quantity must be an integer" in e.message
              and e.field == "target_portfolio[0].target_quantity" and e.http_status == 422)
    p = host.plan(dict(seed, target_portfolio=[{"symbol": "INFY", "target_quantity": 3}]))
    check("python: plan returns PLANNED legs", p["status"] == "PLANNED"
          and [(r["side"], r["quantity"]) for r in p["results"]] == [("SELL", 5)])
    held = host.holdings("zerodha", seed["credentials"])
    check("python: holdings after the seed",
          held.get("RELIANCE") == 20 and held.get("TCS", 0) == 0 and held.get("INFY") == 8)
    results, errors = {}, []
    def run(name):
        try:
            results[name] = host.execute(dict(seed, credentials={"api_key": name, "access_token": "demo"}))
        except Exception as e:
            errors.append(e)
    threads = [threading.Thread(target=run, args=("py-thread-%d" % i,)) for i in range(4)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    check("python: four threads, four accounts, one host: all COMPLETED",
          not errors and len(results) == 4 and all(r["status"] == "COMPLETED" for r in results.values())
          and len({r["execution_id"] for r in results.values()}) == 4)
    h = host.history(limit=3)
    check("python: history lists the latest executions", len(h) == 3
          and all(e["status"] == "COMPLETED" for e in h))
    shown = host.show(d["execution_id"])
    check("python: show returns the stored response", shown["response"] == d)
    check("python: brokers", [b["name"] for b in host.brokers()] == ["zerodha", "fyers"])
try:
    host.execute(seed)
    check("python: a closed host refuses calls", False)
except ValueError:
    check("python: the context manager closed the host", True)
try:
    Host("[host]\nplugin_dir = /nonexistent\nbogus line\n")
    check("python: bad configuration text raises", False)
except PtexecError as e:
    check("python: Host(text) with a malformed line raises invalid_config naming the line",
          e.code == "invalid_config" and "(configuration text):3" in e.message)
text = open(ini).read().replace("journal = ", "journal = off ; ")
with Host(text) as host:
    check("python: Host(text) opens from configuration text",
          host.execute(dict(seed, credentials={"api_key": "py-text", "access_token": "demo"}))["status"] == "COMPLETED")
PY
"${python_env[@]}" python3 "$work/python_check.py" "$prefix/share/ptexec/examples/host" "$ini" "$work" \
    >"$work/python.out" 2>"$work/python.err"
rc=$?
while read -r line; do
    case $line in
    PASS*) pass "${line#PASS }" ;;
    FAIL*) fail "${line#FAIL }" "" ;;
    esac
done <"$work/python.out"
if [ "$rc" -ne 0 ] || ! grep -q '^PASS' "$work/python.out"; then
    fail "python checks" "exit $rc: $(tail -n 15 "$work/python.err")"
fi
(cd "$prefix/share/ptexec/examples/host" && "${python_env[@]}" python3 model.py "$ini") \
    >"$work/model.out" 2>"$work/model.err"
rc=$?
if [ "$rc" -eq 0 ] && grep -q '^execution ex-.* COMPLETED' "$work/model.out" &&
    grep -q '^plan: SELL' "$work/model.out"; then
    pass "python: the example portfolio model trades in-process"
else
    fail "python model" "rc=$rc $(head -c 300 "$work/model.out") $(tail -n 5 "$work/model.err")"
fi
finish
