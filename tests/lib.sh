# The fixture layer of the shell tests (tests/*_test.sh), sourced by each:
#     cd "$(dirname "$0")/.." && . tests/lib.sh
# It defines the results (pass, fail, skip, check, tally, finish), the work
# folder and what is cleaned up at exit, tool checks, JSON checks through
# python3, a brokers.ini writer, the CLI runner, and starting, stopping and
# speaking HTTP to `ptexec serve`. Every suite ends with finish, which prints
# "N passed, M failed, K skipped"; a skip is the line "SKIP <name>: <reason>"
# (one word for the name), which scripts/run-tests.sh counts and lists.
# Environment: PTEXEC_BUILD_DIR (default: build/ beside this file).

SOURCE_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${PTEXEC_BUILD_DIR:-$SOURCE_DIR/build}
PTEXEC="$BUILD_DIR/ptexec"

# --- results -----------------------------------------------------------------
passed=0
failed=0
skipped=0

pass() { echo "PASS $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1${2:+: $2}"; failed=$((failed + 1)); }
skip() { echo "SKIP $1: $2"; skipped=$((skipped + 1)); }

# check LABEL EXPR [WHY]: PASS when the shell expression EXPR (evaluated here)
# succeeds, else FAIL with WHY (default: the expression).
check() { if eval "$2"; then pass "$1"; else fail "$1" "${3:-condition false: $2}"; fi; }

# tally FILE: prints the PASS/FAIL/SKIP lines a helper program wrote to FILE
# and counts them as this suite's own.
tally() {
    cat "$1"
    passed=$((passed + $(grep -c '^PASS' "$1")))
    failed=$((failed + $(grep -c '^FAIL' "$1")))
    skipped=$((skipped + $(grep -c '^SKIP' "$1")))
}

# finish: prints the summary line and exits, 0 when nothing failed.
finish() {
    echo "$passed passed, $failed failed, $skipped skipped"
    [ "$failed" -eq 0 ]
    exit $?
}

# skip_all NAME REASON: the whole suite cannot run here; one skip, then finish.
skip_all() {
    skip "$1" "$2"
    finish
}

# --- tools ---------------------------------------------------------------------
# require_tools TOOL...: a missing tool is one failed setup check, then finish.
require_tools() {
    local tool
    for tool in "$@"; do
        if ! command -v "$tool" >/dev/null 2>&1; then
            fail setup "$tool is required"
            finish
        fi
    done
}

# skip_all_unless_tools NAME HINT TOOL...: a missing tool skips the whole suite
# as NAME ("TOOL is not installed HINT").
skip_all_unless_tools() {
    local name=$1 hint=$2 tool
    shift 2
    for tool in "$@"; do
        command -v "$tool" >/dev/null 2>&1 || skip_all "$name" "$tool is not installed $hint"
    done
}

# --- work folder and cleanup -------------------------------------------------------
servers=()       # pids killed at exit (start_server adds to it)
helpers=()       # other background pids killed at exit
mounted=         # a mount point unmounted at exit
exit_commands=() # shell commands run first at exit (at_exit)

at_exit() { exit_commands+=("$1"); }

cleanup() {
    local command pid
    for command in "${exit_commands[@]}"; do
        eval "$command"
    done
    for pid in "${servers[@]}" "${helpers[@]}"; do
        kill -KILL "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    done
    wait 2>/dev/null
    [ -n "$mounted" ] && umount "$mounted" 2>/dev/null
    [ -n "${work:-}" ] && rm -rf "$work"
}

# make_work NAME: a fresh folder $work (/tmp/ptexec-NAME-*), readable by other
# users (some tests run the server as nobody), removed by cleanup at exit.
make_work() {
    work=$(mktemp -d "/tmp/ptexec-$1-XXXXXX")
    chmod 755 "$work"
    trap cleanup EXIT
}

# --- JSON ------------------------------------------------------------------------
# The interpreter itself: a version-manager shim costs ~100 ms per call.
PY=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null) || PY=python3
export PYTHONDONTWRITEBYTECODE=1 # tests/openapi_check.py leaves no __pycache__

# json_check FILE EXPR: succeeds when the Python expression EXPR, with d = the
# document in FILE (and json imported), is true; else prints why.
json_check() {
    "$PY" - "$1" "$2" <<'PY'
import json, sys
try:
    d = json.load(open(sys.argv[1]))
except Exception as e:
    print("not JSON:", e, open(sys.argv[1], errors="replace").read()[:300]); sys.exit(1)
ok = False
try:
    ok = eval("(" + sys.argv[2] + "\n)")
except Exception as e:
    print("check raised", repr(e))
if not ok:
    print(json.dumps(d)[:800])
sys.exit(0 if ok else 1)
PY
}

# json_field FILE EXPR: prints the Python expression EXPR with d = the document.
json_field() { "$PY" -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"; }

# --- configuration -----------------------------------------------------------------
# write_ini FILE [BROKER_EXTRA [HOST_EXTRA [TAIL]]]: a brokers.ini for the
# simulated brokers in $INI_BROKERS (default the five that ship): fast retries
# and polls, no rate limit, and failures off (transient_failure_rate and
# unknown_outcome_rate 0 unless BROKER_EXTRA sets them). BROKER_EXTRA goes in
# every broker section, HOST_EXTRA in [host], TAIL after the brokers; all three
# are printf %b text ("\n" between lines). $LOG_LEVEL (default info) is the
# host's log level. With $INI_STATE_FILE set, zerodha keeps its accounts in
# that file and every other broker in INI_STATE_FILE.<name>.
write_ini() {
    local file=$1 broker_extra=${2:-} host_extra=${3:-} tail=${4:-} broker key
    {
        printf '[host]\nplugin_dir = %s/plugins\nlog_level = %s\n%b\n' \
            "$BUILD_DIR" "${LOG_LEVEL:-info}" "$host_extra"
        for broker in ${INI_BROKERS:-zerodha fyers angelone groww upstox}; do
            printf '[broker.%s]\nplugin = %s.so\nmode = simulated\nretry_base_ms = 1\n' "$broker" "$broker"
            printf 'poll_interval_ms = 1\nrate_limit_per_second = 0\n'
            for key in transient_failure_rate unknown_outcome_rate; do
                [[ $broker_extra == *"$key"* ]] || printf '%s = 0\n' "$key"
            done
            if [ -n "${INI_STATE_FILE:-}" ] && [ "$broker" = zerodha ]; then
                printf 'state_file = %s\n' "$INI_STATE_FILE"
            elif [ -n "${INI_STATE_FILE:-}" ]; then
                printf 'state_file = %s.%s\n' "$INI_STATE_FILE" "$broker"
            fi
            printf '%b\n' "$broker_extra"
        done
        printf '%b' "$tail"
    } >"$file"
}

# --- the command line ---------------------------------------------------------------
# run NAME ARGS...: runs ptexec; stdout to $work/NAME.out, stderr to
# $work/NAME.err, the exit code into rc.
run() {
    local name=$1
    shift
    "$PTEXEC" "$@" >"$work/$name.out" 2>"$work/$name.err" </dev/null
    rc=$?
}

# --- the server ----------------------------------------------------------------------
# start_server NAME INI [RUN-AS...]: starts ptexec serve (under the command
# prefix RUN-AS, e.g. setpriv, if given) on a free loopback port the kernel
# picks, and waits until GET /health answers (without curl: until the server
# says it listens). Sets PORT and SERVER_PID; the log is $work/NAME.log.
# Returns 1, after printing the log, if it never listens.
start_server() {
    local name=$1 ini=$2
    shift 2
    "$@" "$PTEXEC" -c "$ini" serve --listen 127.0.0.1:0 >"$work/$name.log" 2>&1 </dev/null &
    SERVER_PID=$!
    servers+=("$SERVER_PID")
    PORT=
    for _ in $(seq 1 400); do
        PORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$work/$name.log" | head -n1)
        if [ -n "$PORT" ] && { ! command -v curl >/dev/null 2>&1 ||
            curl -s -o /dev/null "http://127.0.0.1:$PORT/health"; }; then
            return 0
        fi
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.025
    done
    echo "server $name did not start:"
    cat "$work/$name.log"
    return 1
}

# stop_server: SIGTERM to the last server started, then waits; STOP_RC is its
# exit code. A sanitizer report in any server log is kept in
# $work/sanitizer.reports (the log is overwritten by the next server of that name).
stop_server() {
    kill -TERM "$SERVER_PID" 2>/dev/null
    wait "$SERVER_PID" 2>/dev/null
    STOP_RC=$?
    grep -h -A12 'Sanitizer\|runtime error:' "$work"/*.log >>"$work/sanitizer.reports" 2>/dev/null
}

# kill_server: SIGKILL to the last server started, then waits.
kill_server() {
    kill -KILL "$SERVER_PID" 2>/dev/null
    wait "$SERVER_PID" 2>/dev/null
}

# req NAME METHOD PATH [BODY-FILE] [curl args…]: one request to the server;
# the body goes to $work/NAME.body, headers to $work/NAME.headers, the status
# code into CODE, NAME into LAST. A body is sent as application/json unless
# the curl args name another Content-Type.
req() {
    local name=$1 method=$2 path=$3 body=${4:-}
    shift 4 2>/dev/null || shift $#
    local args=(-s -o "$work/$name.body" -D "$work/$name.headers" -w '%{http_code}' -X "$method")
    if [ -n "$body" ]; then
        args+=(--data-binary "@$body")
        local have_type= a
        for a in "$@"; do
            case "$a" in [Cc]ontent-[Tt]ype:*) have_type=1 ;; esac
        done
        [ -n "$have_type" ] || args+=(-H 'Content-Type: application/json')
    fi
    CODE=$(curl "${args[@]}" "$@" "http://127.0.0.1:$PORT$path")
    LAST=$name
}

# expect_error LABEL CODE ERROR_CODE [FIELD]: the last request answered CODE
# with an error body of that code, a message, and FIELD when given.
expect_error() {
    local label=$1 want=$2 code=$3 field=${4:-} name=$LAST out
    if [ "$CODE" != "$want" ]; then
        fail "$label" "status $CODE, expected $want: $(head -c 300 "$work/$name.body")"
        return
    fi
    local expr="d['error']['code'] == '$code' and isinstance(d['error']['message'], str) and len(d['error']['message']) > 0"
    [ -n "$field" ] && expr="$expr and d['error']['field'] == '$field'"
    if out=$(json_check "$work/$name.body" "$expr"); then
        pass "$label"
    else
        fail "$label" "$out"
    fi
}

# body NAME TEXT: writes a request body to $work/NAME.json.
body() { printf '%s' "$2" >"$work/$1.json"; }
