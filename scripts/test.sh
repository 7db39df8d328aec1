#!/usr/bin/env bash
# The test suite on a fresh machine: install, start real Kafka brokers (4.1.1, and 3.9.1 for
# the compatibility tests) unless KAFKA_BOOTSTRAP_SERVERS is set, run pytest, stop them.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ "${CI:-}" = "true" ] || [ "${FEEDBACK_TEST_SYSTEM_DEPS:-}" = "1" ]; then
  bash scripts/system-deps.sh
fi
export PATH="$PWD/.venv/bin:$PATH"

BROKER_HOME=$(mktemp -d -t feedback-brokers-XXXX)
started=()
stop_brokers() {
  for port in "${started[@]}"; do
    FEEDBACK_HOME=$BROKER_HOME feedback broker stop --port "$port" || true
  done
  rm -rf "$BROKER_HOME"
}
trap stop_brokers EXIT

if [ -z "${KAFKA_BOOTSTRAP_SERVERS:-}" ]; then
  port=${TEST_KAFKA_PORT:-19092}
  FEEDBACK_HOME=$BROKER_HOME feedback broker start --port "$port" --version 4.1.1
  started+=("$port")
  export KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:$port
fi
if [ -z "${KAFKA39_BOOTSTRAP_SERVERS:-}" ]; then
  port=${TEST_KAFKA39_PORT:-19192}
  FEEDBACK_HOME=$BROKER_HOME feedback broker start --port "$port" --version 3.9.1
  started+=("$port")
  export KAFKA39_BOOTSTRAP_SERVERS=127.0.0.1:$port
fi

echo "▶ default model (trained on first use, then cached)"
python -c "from nlp import ensure_default_model; from stream.settings import Settings; print(ensure_default_model(Settings().model_dir))"

echo "▶ ruff"
ruff check .
echo "▶ pytest"
python -m pytest -ra --durations=25 "$@"
