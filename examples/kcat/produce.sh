#!/usr/bin/env bash
# Produce feedback to INPUT_TOPIC: one JSON object per line on stdin, one message per line.
#   echo '{"id": "k-1", "text": "Love the new Kindle!"}' | examples/kcat/produce.sh
#   examples/kcat/produce.sh < feedback.jsonl
set -euo pipefail
. "$(dirname "$0")/kcat.conf.sh"
kcat -q -F "$KCAT_CONFIG" -P -b "$BROKERS" -t "${INPUT_TOPIC:-feedback}" "$@"
