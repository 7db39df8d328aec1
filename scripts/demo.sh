#!/usr/bin/env bash
# The main job on a fresh machine: install, then `feedback demo` (local broker unless
# KAFKA_BOOTSTRAP_SERVERS is set, worker, sample feedback in, enriched records out).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/feedback demo "$@"
