"""aiokafka + Faust against both supported Kafka lines: 4.x (KRaft) and 3.9 (many users run 3.x)."""

from __future__ import annotations

import asyncio
import os

import orjson
import pytest

from stream.contracts import validator
from stream.kafka import ensure_topics
from tests.conftest import Topics, collect, input_offsets, position, produce, start_worker

pytestmark = pytest.mark.kafka


def bootstrap_for(line: str) -> str:
    variable = {"4.x": "KAFKA_BOOTSTRAP_SERVERS", "3.9": "KAFKA39_BOOTSTRAP_SERVERS"}[line]
    value = os.environ.get(variable)
    if not value:
        pytest.skip(f"{variable} is not set (scripts/test.sh starts a Kafka {line} broker)")
    return value


@pytest.mark.parametrize("line", ["4.x", "3.9"])
def test_worker_round_trip(line: str, model_store, tmp_path) -> None:
    topics = Topics(bootstrap_for(line), partitions=3)
    asyncio.run(ensure_topics(topics.settings(), [topics.input, topics.output, topics.dlq]))
    workers: list = []
    try:
        worker = start_worker(workers, topics, tmp_path)
        values = [
            orjson.dumps({"id": i, "text": f"Order {i} from IKEA arrived late."})
            for i in range(200)
        ]
        values.append(b"\x00\x01 not json")
        asyncio.run(produce(topics.bootstrap, topics.input, values))
        outputs, dead = asyncio.run(collect(topics, len(values), timeout_s=180))
        assert worker.alive, worker.log_tail()
    finally:
        for w in workers:
            w.stop()
    expected = asyncio.run(input_offsets(topics))
    seen = {position(r) for r in outputs + dead}
    assert seen == expected and len(expected) == 201
    assert len(dead) == 1 and dead[0]["reason"] == "invalid_json"
    validator("enriched").validate(outputs[0])
    assert {position(r)[0] for r in outputs} == {0, 1, 2}
