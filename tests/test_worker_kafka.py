"""The worker against the real broker: every input offset ends in the output or the DLQ."""

from __future__ import annotations

import asyncio
import random
from collections import Counter

import orjson
import pytest

from stream.contracts import validator
from tests.conftest import collect, input_offsets, position, produce, start_worker

pytestmark = pytest.mark.kafka

MALFORMED = [
    b"{not json",
    b"\xff\xfe\xfa",
    b'"a string"',
    b"[1, 2, 3]",
    b'{"text": "no id here"}',
    b'{"id": 7}',
    b'{"id": 8, "text": 12}',
    b'{"id": 9, "text": "   "}',
    b'{"id": true, "text": "bool id"}',
    b'{"id": 10, "text": "x", "enrichment": []}',
]


def feedback_values(n: int, malformed: int, seed: int = 7) -> list[bytes]:
    rng = random.Random(seed)
    texts = [
        "The Galaxy Tab S9 screen is gorgeous, love it.",
        "Support at Vodafone never answered my ticket. Terrible.",
        "How do I change the delivery address on my Amazon order?",
        "My Pixel 8 battery drains overnight since the update.",
        "Great service from Delta today, the crew was lovely!",
    ]
    values = [
        orjson.dumps({"id": f"m-{i}", "text": rng.choice(texts), "rating": rng.randint(1, 5)})
        for i in range(n)
    ]
    values += [MALFORMED[i % len(MALFORMED)] for i in range(malformed)]
    rng.shuffle(values)
    return values


def assert_accounted(expected: set, outputs: list[dict], dead: list[dict]) -> Counter:
    seen = Counter(position(r) for r in outputs + dead)
    missing = expected - set(seen)
    assert not missing, f"{len(missing)} input offsets lost, e.g. {sorted(missing)[:5]}"
    assert set(seen) <= expected
    return seen


def test_thousand_valid_and_hundred_malformed_all_accounted(topics, workers, tmp_path) -> None:
    worker = start_worker(workers, topics, tmp_path)
    values = feedback_values(1000, 100)
    asyncio.run(produce(topics.bootstrap, topics.input, values))
    outputs, dead = asyncio.run(collect(topics, len(values)))
    assert worker.alive, worker.log_tail()

    expected = asyncio.run(input_offsets(topics))
    assert len(expected) == 1100
    seen = assert_accounted(expected, outputs, dead)
    assert sum(seen.values()) == 1100, "no duplicates without a crash"
    assert len(outputs) == 1000 and len(dead) == 100
    for record in outputs[:50]:
        validator("enriched").validate(record)
        assert record["enrichment"]["model_version"]
        assert abs(sum(record["enrichment"]["sentiment"]["scores"].values()) - 1) < 1e-4
    for record in dead:
        validator("dead_letter").validate(record)
    reasons = Counter(d["reason"] for d in dead)
    assert set(reasons) == {
        "invalid_json",
        "invalid_utf8",
        "not_an_object",
        "missing_id",
        "missing_text",
        "invalid_text",
        "empty_text",
        "invalid_id",
        "reserved_field",
    }
    galaxy = next(r for r in outputs if r["text"].startswith("The Galaxy Tab S9"))
    for entity in galaxy["enrichment"]["entities"]:
        assert galaxy["text"][entity["start"] : entity["end"]] == entity["text"]


def test_worker_restarted_mid_stream_loses_nothing(topics, workers, tmp_path) -> None:
    values = feedback_values(1500, 50, seed=11)
    first = start_worker(workers, topics, tmp_path)

    async def scenario() -> None:
        producing = asyncio.create_task(
            produce(topics.bootstrap, topics.input, values, pace_s=0.002)
        )
        await asyncio.sleep(6)
        first.stop()  # graceful stop mid-stream
        start_worker(workers, topics, tmp_path)
        await asyncio.sleep(4)
        workers[-1].kill()  # then a crash, no commit
        start_worker(workers, topics, tmp_path)
        await producing

    asyncio.run(scenario())
    outputs, dead = asyncio.run(collect(topics, len(values)))
    expected = asyncio.run(input_offsets(topics))
    assert len(expected) == len(values)
    seen = assert_accounted(expected, outputs, dead)
    duplicates = sum(seen.values()) - len(expected)
    assert duplicates <= 2 * 256 * 2, f"{duplicates} duplicates: more than the batches in flight"
