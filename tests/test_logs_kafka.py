"""The worker's log against the real broker: quiet when healthy, bounded when the broker is away.

A person reads this log: a healthy start has no WARNING or ERROR line at all, a broker
outage shows as a few lines (with counts) rather than dozens a second, and the start and
stop summaries say what the worker served and did.
"""

from __future__ import annotations

import asyncio
import json
import re
import time

import orjson
import pytest

from devtools import broker
from stream.kafka import ensure_topics
from tests.conftest import Topics, collect, free_port, produce, start_worker

pytestmark = pytest.mark.kafka

#: A text log line's level (the line starts with the date and time).
TEXT_LEVEL = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (\w+) ")
LOUD = ("WARNING", "ERROR", "CRITICAL")


def feedback(n: int, *, bad: int = 0, first: int = 0) -> list[bytes]:
    good = [
        orjson.dumps({"id": f"f-{i}", "text": "Support at Vodafone was great."})
        for i in range(first, first + n)
    ]
    return good + [b"{not json %d" % i for i in range(bad)]


def loud_lines(text: str) -> list[str]:
    """The WARNING, ERROR and CRITICAL lines of a text log."""
    return [
        line for line in text.splitlines() if (match := TEXT_LEVEL.match(line)) and match[1] in LOUD
    ]


def test_healthy_first_start_is_quiet_and_summarised(
    model_store, kafka_bootstrap, tmp_path
) -> None:
    # A first start as a user makes it: topics and consumer group that do not exist yet.
    topics = Topics(kafka_bootstrap, partitions=2)
    workers: list = []
    worker = start_worker(workers, topics, tmp_path, LOG_FORMAT="json")
    try:
        worker.wait_ready()
        asyncio.run(produce(topics.bootstrap, topics.input, feedback(20, bad=3)))
        outputs, dead = asyncio.run(collect(topics, 23, timeout_s=120))
        assert (len(outputs), len(dead)) == (20, 3)
    finally:
        rc = worker.stop()
    assert rc == 0, worker.log_tail()
    lines = worker.log.read_text(errors="replace").splitlines()
    entries = [json.loads(line) for line in lines]  # every line one JSON object: no stray output
    loud = [e for e in entries if e["level"] not in ("debug", "info")]
    assert not loud, "\n".join(f"{e['level']} {e['logger']}: {e['message']}" for e in loud)

    [started] = [e for e in entries if e.get("event") == "worker_started"]
    assert started["model_version"] and started["version"]
    assert (started["input_topic"], started["output_topic"], started["dlq_topic"]) == (
        topics.input,
        topics.output,
        topics.dlq,
    )
    assert started["group"] == topics.app_id and started["partitions"] == [0, 1]
    port = worker.env_used["WEB_PORT"]
    assert started["metrics_url"] == f"http://127.0.0.1:{port}/metrics"
    assert started["dashboard_url"] == f"http://127.0.0.1:{port}/dashboard"
    [stopped] = [e for e in entries if e.get("event") == "worker_stopped"]
    assert (stopped["messages_in"], stopped["messages_out"], stopped["messages_dlq"]) == (23, 20, 3)
    assert stopped["uptime_s"] > 0
    assert entries.index(started) < entries.index(stopped)
    assert "23 messages in, 20 enriched out, 3 dead-lettered" in stopped["message"]


@pytest.mark.slow
def test_broker_away_for_fifteen_seconds_logs_a_few_lines(model_store, tmp_path) -> None:
    home = tmp_path / "home"
    port = free_port()
    broker.start(port, home=home)
    try:
        topics = Topics(f"127.0.0.1:{port}", partitions=2)
        asyncio.run(ensure_topics(topics.settings(), [topics.input, topics.output, topics.dlq]))
        workers: list = []
        worker = start_worker(workers, topics, tmp_path).wait_ready()
        try:
            asyncio.run(produce(topics.bootstrap, topics.input, feedback(10)))
            asyncio.run(collect(topics, 10, timeout_s=120))
            # The first worker on a new broker (whose group coordinator is not ready yet).
            first_start = worker.log.read_text(errors="replace")
            assert not loud_lines(first_start), "\n".join(loud_lines(first_start))
            before = worker.log.stat().st_size
            broker.stop(port, home=home)
            time.sleep(15)
            outage = worker.log.read_bytes()[before:].decode(errors="replace")
            assert worker.alive, worker.log_tail()
            broker.start(port, home=home)
            # The broker is back: messages flow again.
            asyncio.run(produce(topics.bootstrap, topics.input, feedback(10, first=10)))
            outputs, _ = asyncio.run(collect(topics, 20, timeout_s=180))
            assert {r["id"] for r in outputs} == {f"f-{i}" for i in range(20)}
        finally:
            for w in workers:
                w.stop()
    finally:
        broker.stop(port, home=home)
    loud = loud_lines(outage)
    print(f"outage: {len(loud)} warning/error lines in 15 s:\n" + "\n".join(loud))
    assert loud, "the outage shows in the worker's log"
    assert len(loud) <= 10, "\n".join(loud)
    # The lines held back are counted: with the next line of their kind, or at the latest
    # when the worker stops.
    since_outage = worker.log.read_bytes()[before:].decode(errors="replace")
    assert re.search(r"repeated (\d+ times )?in the last \d+ s", since_outage)
