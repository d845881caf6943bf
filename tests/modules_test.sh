#!/usr/bin/env bash
# The shape of the host (design §3): no two host modules depend on each other
# in a circle, read from the symbols each object file defines and uses; the
# records (journal, render, notify, metrics) never need the engine; and the
# journal's Check suite links with the journal's own dependencies alone.
# Prints PASS/FAIL lines and ends with "N passed, M failed, K skipped".
set -u
cd "$(dirname "$0")/.." && . tests/lib.sh
require_tools python3 nm tsort
make_work modules

# One line "module dependency" per edge, from nm of build/host/*.o.
python3 - "$BUILD_DIR/host" >"$work/edges" <<'PY'
import os, subprocess, sys
folder = sys.argv[1]
defined, used = {}, {}
for name in sorted(os.listdir(folder)):
    if not name.endswith(".o"):
        continue
    module = name[:-2]
    out = subprocess.run(["nm", os.path.join(folder, name)], capture_output=True, text=True).stdout
    defined[module], used[module] = set(), set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == "U":
            used[module].add(parts[1])
        elif len(parts) == 3 and parts[1] in "TDBR":
            defined[module].add(parts[2])
owner = {symbol: module for module, symbols in defined.items() for symbol in symbols}
for module in sorted(used):
    print(module, module)  # every module is a node, even without edges
    for target in sorted({owner[s] for s in used[module] if s in owner} - {module}):
        print(module, target)
PY
if [ ! -s "$work/edges" ]; then
    fail "module graph" "no object files in $BUILD_DIR/host"
else
    if tsort "$work/edges" >/dev/null 2>"$work/tsort.err"; then
        pass "no two host modules depend on each other in a circle"
    else
        fail "module cycle" "$(head -n 5 "$work/tsort.err" | tr '\n' ' ')"
    fi
fi

# closure MODULE: MODULE and every module it needs, one per line.
closure() {
    python3 - "$work/edges" "$1" <<'PY'
import sys
edges = {}
for line in open(sys.argv[1]):
    a, b = line.split()
    edges.setdefault(a, set()).add(b)
seen, todo = set(), [sys.argv[2]]
while todo:
    m = todo.pop()
    if m not in seen:
        seen.add(m)
        todo.extend(edges.get(m, ()))
print("\n".join(sorted(seen)))
PY
}

for records in journal render notify metrics execution; do
    needs=$(closure "$records" | tr '\n' ' ')
    case " $needs " in
    *" engine "* | *" cli "* | *" http "*) fail "$records below the engine" "it needs: $needs" ;;
    *) pass "$records needs no engine or front-end ($needs)" ;;
    esac
done

# The journal's suite, linked with the journal's closure only.
objects=()
for m in $(closure journal); do objects+=("$BUILD_DIR/host/$m.o"); done
flags=$(pkg-config --cflags --libs check sqlite3 libcjson 2>/dev/null)
sanitize=()
nm "${objects[0]}" | grep -q __asan && sanitize=(-fsanitize=address,undefined)
if ${CC:-cc} -std=c11 -D_DEFAULT_SOURCE -D_POSIX_C_SOURCE=200809L -Isdk/include -Ihost -Itests \
    "${sanitize[@]}" -o "$work/test_journal_alone" tests/test_journal.c \
    "${objects[@]}" $flags -lpthread -lm -ldl 2>"$work/link.err"; then
    pass "the journal's tests link without the engine (${#objects[@]} objects)"
else
    fail "journal alone" "$(grep -m3 -E 'undefined|error' "$work/link.err" | tr '\n' ' ')"
fi

finish
