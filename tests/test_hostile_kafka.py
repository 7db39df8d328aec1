"""Hostile input against the real broker: the worker stays up and every message lands
in the output or the DLQ with the precise reason."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import orjson
import pytest

from stream.contracts import validator
from stream.kafka import producer
from tests.conftest import collect, position, start_worker
from tests.hostile import hostile_cases

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


async def produce_cases(topics, cases) -> dict[tuple[int, int], tuple[str, str | None]]:
    prod = producer(topics.settings(), max_request_size=2_000_000)
    await prod.start()
    where = {}
    try:
        for category, value, expected in cases:
            meta = await (await prod.send(topics.input, value))
            where[(meta.partition, meta.offset)] = (category, expected)
    finally:
        await prod.stop()
    return where


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def test_thousand_hostile_messages(topics, workers, tmp_path) -> None:
    worker = start_worker(workers, topics, tmp_path)
    cases = hostile_cases(1000)
    where = asyncio.run(produce_cases(topics, cases))
    outputs, dead = asyncio.run(collect(topics, len(cases), timeout_s=300))
    assert worker.alive, worker.log_tail()
    rss = peak_rss_mb(worker.proc.pid)
    print(f"hostile: {len(cases)} messages, {len(dead)} dead letters, worker peak RSS {rss:.0f} MB")
    assert rss < 2000

    landed: dict[tuple[int, int], tuple[str | None, dict]] = {}
    for record in outputs:
        landed[position(record)] = (None, record)
    for letter in dead:
        landed[position(letter)] = (letter["reason"], letter)
    assert set(landed) == set(where), "every hostile message is accounted for"

    wrong = Counter()
    for where_at, (category, expected) in where.items():
        reason, record = landed[where_at]
        if reason != expected:
            wrong[(category, expected, reason)] += 1
        if reason is None:
            validator("enriched").validate(record)
            for entity in record["enrichment"]["entities"]:
                assert record["text"][entity["start"] : entity["end"]] == entity["text"]
            if category == "huge_text":
                assert record["enrichment"]["truncated"]
                assert record["enrichment"]["text_length"] == len(record["text"]) > 200_000
        else:
            validator("dead_letter").validate(record)
            assert record["detail"]
    assert not wrong, f"unexpected outcomes (category, expected, got): {dict(wrong)}"
    assert orjson.loads(orjson.dumps(outputs[0]))  # outputs are plain JSON
