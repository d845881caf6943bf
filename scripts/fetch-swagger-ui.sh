#!/usr/bin/env bash
# Puts the Swagger UI that GET /docs serves into DEST (the build runs it for
# build/share/swagger-ui): the files of the npm package swagger-ui-dist at a
# pinned version, checked against its pinned sha512, plus web/docs/*. Fetched
# once with npm; afterwards the server needs no network. Idempotent.
set -euo pipefail
version=5.35.0
integrity=sha512-U06rpMtW9V3XPGOBeamTUSr0Z09jMX4IJuANpE/EZbAhw0G8CgwrzU4YmXkn/h0wCDNsXdGarTNNHC3sU8yVUQ==
files=(swagger-ui.css swagger-ui-bundle.js swagger-ui-standalone-preset.js
       favicon-16x16.png favicon-32x32.png LICENSE)
dest=${1:?usage: fetch-swagger-ui.sh DEST}
src=$(cd "$(dirname "$0")/.." && pwd)

if [ "$(cat "$dest/VERSION" 2>/dev/null)" != "$version" ]; then
    command -v npm >/dev/null 2>&1 || {
        echo "fetch-swagger-ui: npm is needed once to fetch swagger-ui-dist (apt-get install npm)" >&2
        exit 1
    }
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    (cd "$tmp" && npm pack --silent --fetch-timeout=30000 --fetch-retries=1 "swagger-ui-dist@$version" >/dev/null 2>"$tmp/npm.log") || {
        cat "$tmp/npm.log" >&2
        echo "fetch-swagger-ui: npm pack swagger-ui-dist@$version failed" >&2
        exit 1
    }
    tgz=$tmp/swagger-ui-dist-$version.tgz
    actual="sha512-$(openssl dgst -sha512 -binary "$tgz" | base64 -w0)"
    if [ "$actual" != "$integrity" ]; then
        echo "fetch-swagger-ui: swagger-ui-dist-$version.tgz has $actual, expected $integrity" >&2
        exit 1
    fi
    tar -xzf "$tgz" -C "$tmp"
    mkdir -p "$dest"
    for f in "${files[@]}"; do
        install -m 644 "$tmp/package/$f" "$dest/$f"
    done
    echo "$version" >"$dest/VERSION"
    echo "fetch-swagger-ui: swagger-ui-dist $version in $dest" >&2
fi
install -m 644 "$src/web/docs/index.html" "$src/web/docs/docs.js" "$dest/"
touch "$dest/VERSION"
