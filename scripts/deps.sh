#!/usr/bin/env bash
# Installs the Debian packages ptexec needs to build and test, when missing.
# Uses apt-get as root, or through sudo. Idempotent and quiet when all is there.
set -euo pipefail
packages=(build-essential pkg-config libinih-dev libcjson-dev libssl-dev libmicrohttpd-dev libsqlite3-dev check curl)
missing=()
for p in "${packages[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "deps: installing ${missing[*]}" >&2
if [ "$(id -u)" = 0 ]; then
    run=()
elif command -v sudo >/dev/null 2>&1; then
    run=(sudo)
else
    echo "deps: missing ${missing[*]}; run as root or install them with apt-get" >&2
    exit 1
fi
"${run[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
"${run[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
