#!/usr/bin/env bash
# Print enriched records (OUTPUT_TOPIC) as JSON lines, from the beginning, following.
#   examples/kcat/consume.sh                   # Ctrl-C to stop
#   examples/kcat/consume.sh -e                # stop at the end of the topic
#   TOPIC=feedback.dlq examples/kcat/consume.sh -e | jq -r '.reason'
set -euo pipefail
. "$(dirname "$0")/kcat.conf.sh"
kcat -q -F "$KCAT_CONFIG" -C -u -b "$BROKERS" -t "${TOPIC:-${OUTPUT_TOPIC:-feedback.enriched}}" \
  -o beginning -f '%s\n' "$@"
