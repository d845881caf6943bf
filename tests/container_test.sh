#!/usr/bin/env bash
# The container for real, with podman: builds the image from the Dockerfile,
# runs it, checks /health, the HEALTHCHECK, the non-root user, the seed
# example and a clean stop. Prints PASS/FAIL lines and ends with
# "N passed, M failed, K skipped"; where podman cannot run it prints one SKIP
# line.
# (../shared/tools/container-base.sh prepares podman and the base image; the
# image is built in Docker format, since OCI images drop HEALTHCHECK.)
set -u
cd "$(dirname "$0")/.." && . tests/lib.sh

[ -n "${PTEXEC_SKIP_CONTAINER:-}" ] && skip_all container "$PTEXEC_SKIP_CONTAINER"
command -v podman >/dev/null 2>&1 || skip_all container "podman is not installed (run ../shared/tools/container-base.sh as root)"
podman info >/dev/null 2>&1 || skip_all container "podman cannot run here: $(podman info 2>&1 | tail -n1)"
podman image exists localhost/debian:bookworm-slim || podman image exists debian:bookworm-slim ||
    skip_all container "no debian:bookworm-slim base image (run ../shared/tools/container-base.sh)"

image=localhost/ptexec-test:latest
name=ptexec-test-$$
make_work container
at_exit 'podman rm -f "$name" >/dev/null 2>&1'

if podman build --format docker -t "$image" . >"$work/build.log" 2>&1; then
    pass "podman build of the Dockerfile"
else
    fail "podman build" "$(tail -n 15 "$work/build.log")"
    finish
fi

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
podman run -d --name "$name" --network=host -e "PTEXEC_LISTEN=127.0.0.1:$port" "$image" >/dev/null 2>"$work/run.err" ||
    fail "podman run" "$(cat "$work/run.err")"
up=
for _ in $(seq 1 100); do
    curl -s -o "$work/health.json" "http://127.0.0.1:$port/health" && { up=1; break; }
    sleep 0.1
done
if [ -n "$up" ] && grep -q '"status":"ok"' "$work/health.json"; then
    pass "the container serves GET /health"
else
    fail "container /health" "$(podman logs "$name" 2>&1 | tail -n 10)"
fi

seed='{"broker":"zerodha","credentials":{"api_key":"demo","access_token":"demo"},"target_portfolio":[{"symbol":"RELIANCE","target_quantity":20},{"symbol":"TCS","target_quantity":0}]}'
code=$(curl -s -o "$work/seed.json" -w '%{http_code}' -H 'Content-Type: application/json' \
    --data-binary "$seed" "http://127.0.0.1:$port/execute")
if [ "$code" = 200 ] && python3 - "$work/seed.json" <<'PY'; then
import json, sys
d = json.load(open(sys.argv[1]))
got = [(r["symbol"], r["side"], r["quantity"], r["status"], r["sequence"]) for r in d["results"]]
assert got == [("RELIANCE", "BUY", 10, "FILLED", 2), ("TCS", "SELL", 5, "FILLED", 1)], got
PY
    pass "the seed example in the container returns the seed results"
else
    fail "seed example in the container" "status $code: $(head -c 300 "$work/seed.json")"
fi

code=$(curl -s -o "$work/docs.html" -w '%{http_code}' "http://127.0.0.1:$port/docs/swagger-ui-bundle.js")
[ "$code" = 200 ] && pass "the image serves the Swagger UI files" || fail "docs in the image" "status $code"

uid=$(podman exec "$name" id -u 2>/dev/null)
[ -n "$uid" ] && [ "$uid" != 0 ] && pass "the server runs as a non-root user (uid $uid)" ||
    fail "non-root" "uid '$uid'"
if podman exec "$name" sh -c 'command -v gcc || command -v cc || test -e /usr/include/microhttpd.h' >/dev/null 2>&1; then
    fail "runtime image" "compiler or -dev headers present in the runtime stage"
else
    pass "the runtime image has no compiler and no -dev headers"
fi
if podman healthcheck run "$name" >/dev/null 2>&1; then
    pass "the image HEALTHCHECK passes"
else
    fail "HEALTHCHECK" "podman healthcheck run failed"
fi

podman stop -t 15 "$name" >/dev/null 2>&1
rc=$(podman inspect -f '{{.State.ExitCode}}' "$name" 2>/dev/null)
if [ "$rc" = 0 ] && podman logs "$name" 2>&1 | grep -q 'http: stopped'; then
    pass "podman stop (SIGTERM) ends the server cleanly with exit 0"
else
    fail "podman stop" "exit code '$rc'"
fi

# docker-compose.yml, as the seed's `docker-compose up --build` uses it (with
# podman-compose; the image built above is reused through its layer cache).
if command -v podman-compose >/dev/null 2>&1 && ! curl -s -m 1 -o /dev/null http://127.0.0.1:8000/health; then
    project=ptexec-compose-$$
    at_exit 'podman-compose -p "$project" down -v >/dev/null 2>&1'
    if timeout 600 podman-compose -p "$project" up --build -d >"$work/compose.log" 2>&1; then
        up=
        for _ in $(seq 1 100); do
            curl -s -o "$work/compose-health.json" http://127.0.0.1:8000/health && { up=1; break; }
            sleep 0.1
        done
        code=$(curl -s -o "$work/compose-seed.json" -w '%{http_code}' -H 'Content-Type: application/json' \
            --data-binary "$seed" http://127.0.0.1:8000/execute)
        if [ -n "$up" ] && grep -q '"journal":"ok"' "$work/compose-health.json" && [ "$code" = 200 ] &&
            grep -q '"status":"COMPLETED"' "$work/compose-seed.json"; then
            pass "podman-compose up --build serves the seed example on 127.0.0.1:8000, journal on the volume"
        else
            fail "podman-compose" "health '$(cat "$work/compose-health.json" 2>/dev/null)' execute $code"
        fi
    else
        fail "podman-compose up --build" "$(tail -n 10 "$work/compose.log")"
    fi
    podman-compose -p "$project" down -v >/dev/null 2>&1
else
    skip podman_compose "not installed, or port 8000 is in use"
fi

finish
