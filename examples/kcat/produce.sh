#!/usr/bin/env bash
# Produce feedback to INPUT_TOPIC: one JSON object per line on stdin, one message per line,
# keyed by the object's id (ID_FIELD, a dotted path, default `id`). Kafka spreads keys over
# the topic's partitions, and each id stays in order in its partition; Java's partitioner
# (murmur2) is used, so an id lands where the Java, Python and Node clients would put it.
# Lines without an id, or that are not JSON, are sent without a key (the worker dead-letters
# what it cannot read). Needs kcat and jq.
#   echo '{"id": "k-1", "text": "Love the new Kindle!"}' | examples/kcat/produce.sh
#   examples/kcat/produce.sh < feedback.jsonl
set -euo pipefail
. "$(dirname "$0")/kcat.conf.sh"
command -v jq >/dev/null || { echo "error: produce.sh needs jq (apt-get install jq)" >&2; exit 2; }
# Each line becomes `<id><US><line>`: the unit separator (0x1f) cannot occur in JSON text
# unescaped, so the line itself is sent byte for byte as the value.
jq --unbuffered -R -r '
  (if ($ENV.ID_FIELD // "") == "" then "id" else $ENV.ID_FIELD end | split(".")) as $path
  | select(test("\\S"))
  | . as $line
  | (try (fromjson | getpath($path)) catch null) as $id
  | if $id == null then $line
    else "\(if ($id | type) == "string" then $id else $id | tojson end)\u001f\($line)" end
' | kcat -q -F "$KCAT_CONFIG" -P -b "$BROKERS" -t "${INPUT_TOPIC:-feedback}" \
  -X partitioner=murmur2_random -K $'\x1f' "$@"
