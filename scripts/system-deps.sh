#!/usr/bin/env bash
# Optional tools some tests use (they skip, with the reason, when a tool is missing):
# Debian's chromium + chromium-driver (the live view in a real browser), kcat and jq (the
# shell client examples: jq takes each message's id out for its Kafka key), and the Node.js
# client example's one package. Needs root and apt-get.
set -euo pipefail
cd "$(dirname "$0")/.."
missing=()
command -v chromium >/dev/null || missing+=(chromium)
command -v chromedriver >/dev/null || missing+=(chromium-driver)
command -v kcat >/dev/null || missing+=(kcat)
command -v jq >/dev/null || missing+=(jq)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "▶ installing ${missing[*]} (apt)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "▶ not root or no apt-get: tests needing ${missing[*]} will skip"
  fi
fi
if command -v npm >/dev/null && [ ! -d examples/node/node_modules ]; then
  echo "▶ npm ci in examples/node"
  npm ci --prefix examples/node --no-audit --no-fund --loglevel=error
fi
