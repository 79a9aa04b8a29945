#!/usr/bin/env bash
# Set-up of the viewer test tier (issue 8): the prebuilt OHIF viewer (dist/ of the npm package
# @ohif/app, no build), puppeteer-core (it downloads no browser) and Debian's chromium.
# OHIF and puppeteer-core go into a cache outside the repository; nothing here is committed.
# Idempotent: a second run only checks stamps and returns in well under a second.
set -euo pipefail

OHIF_VERSION="3.13.2"  # as cervi.demo.viewer.OHIF_VERSION
PUPPETEER_VERSION="${CERVI_PUPPETEER_VERSION:-24}"
CACHE="${CERVI_VIEWER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cervi/ohif}"  # cervi.demo.viewer.viewer_cache()
OHIF_DIR="$CACHE/app-$OHIF_VERSION"

mkdir -p "$CACHE"

if ! command -v npm >/dev/null; then
    echo "viewer-deps: installing Debian nodejs and npm"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi

if [ ! -f "$OHIF_DIR/.complete" ]; then
    echo "viewer-deps: fetching @ohif/app@$OHIF_VERSION into $OHIF_DIR"
    work="$(mktemp -d "$CACHE/tmp.XXXXXX")"
    trap 'rm -rf "$work"' EXIT
    tarball="$(cd "$work" && npm pack --silent "@ohif/app@$OHIF_VERSION" | tail -n 1)"
    tar -xzf "$work/$tarball" -C "$work" package/dist
    test -f "$work/package/dist/index.html"
    rm -rf "$OHIF_DIR"
    mkdir -p "$OHIF_DIR"
    mv "$work/package/dist" "$OHIF_DIR/dist"
    touch "$OHIF_DIR/.complete"
fi

stamp="$CACHE/.puppeteer-core-$PUPPETEER_VERSION"
if [ ! -f "$stamp" ] || [ ! -d "$CACHE/node_modules/puppeteer-core" ]; then
    echo "viewer-deps: installing puppeteer-core@$PUPPETEER_VERSION into $CACHE"
    [ -f "$CACHE/package.json" ] || echo '{"private": true}' > "$CACHE/package.json"
    npm install --silent --no-audit --no-fund --prefix "$CACHE" "puppeteer-core@$PUPPETEER_VERSION"
    touch "$stamp"
fi

if [ ! -x /usr/bin/chromium ]; then
    echo "viewer-deps: installing Debian chromium"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
