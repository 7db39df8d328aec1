"""Fault injection against the real broker: crashes, a broker outage and rebalances.

The promise: every message that reaches the input topic ends in the output or the
dead-letter topic, whatever happens to the worker or the broker.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import time
import urllib.error
import urllib.request
from collections import Counter

import orjson
import pytest

from devtools import broker
from stream.kafka import ensure_topics
from tests.conftest import (
    Topics,
    collect,
    free_port,
    input_offsets,
    position,
    produce,
    start_worker,
)

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

TEXTS = [
    "The Galaxy Tab S9 screen is gorgeous, love it.",
    "Support at Vodafone never answered my ticket. Terrible.",
    "How do I change the delivery address on my Amazon order?",
    "My Pixel 8 battery drains overnight since the update.",
]


def scrape(url: str) -> str:
    """GET a worker page, whatever its status code."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.read().decode()


def values(n: int, bad_every: int = 50) -> list[bytes]:
    return [
        b"{broken %d" % i if i % bad_every == 0 else orjson.dumps({"id": i, "text": TEXTS[i % 4]})
        for i in range(n)
    ]


def account(expected: set, outputs: list[dict], dead: list[dict]) -> tuple[int, int]:
    """(lost, duplicates) over the input offsets."""
    seen = Counter(position(r) for r in outputs + dead)
    lost = len(expected - set(seen))
    duplicates = sum(seen.values()) - len(set(seen))
    return lost, duplicates


def test_kill_9_three_times_while_streaming(topics, workers, tmp_path) -> None:
    n, batch_max = 10_000, 256
    rng = random.Random(5)
    start_worker(workers, topics, tmp_path, BATCH_MAX=str(batch_max))

    async def scenario() -> int:
        producing = asyncio.create_task(
            produce(topics.bootstrap, topics.input, values(n), pace_s=0.0015)
        )
        kills = 0
        while kills < 3:
            await asyncio.sleep(rng.uniform(3, 8))
            workers[-1].kill()
            kills += 1
            start_worker(workers, topics, tmp_path, BATCH_MAX=str(batch_max))
        await producing
        return kills

    kills = asyncio.run(scenario())
    outputs, dead = asyncio.run(collect(topics, n, timeout_s=400))
    expected = asyncio.run(input_offsets(topics))
    lost, duplicates = account(expected, outputs, dead)
    print(f"crash: {n} sent, {kills} kills, {duplicates} duplicates, {lost} lost")
    assert len(expected) == n
    assert lost == 0
    # Only batches in flight (and not yet committed) at each kill may come back twice.
    in_flight_bound = kills * topics.partitions * batch_max * 4
    assert duplicates <= in_flight_bound


def test_broker_outage_of_twenty_seconds(model_store, tmp_path) -> None:
    home = tmp_path / "home"
    port = free_port()
    broker.start(port, home=home)
    try:
        topics = Topics(f"127.0.0.1:{port}", partitions=2)
        asyncio.run(ensure_topics(topics.settings(), [topics.input, topics.output, topics.dlq]))
        workers: list = []
        worker = start_worker(workers, topics, tmp_path).wait_ready()
        try:
            asyncio.run(produce(topics.bootstrap, topics.input, values(1000)))
            time.sleep(2)
            broker.stop(port, home=home)
            outage_started = time.monotonic()
            time.sleep(15)
            # The outage shows on the worker's own endpoints: not ready, no batch since.
            web = f"http://127.0.0.1:{worker.env_used['WEB_PORT']}"
            ready = scrape(f"{web}/readyz")
            metrics = scrape(f"{web}/metrics")
            pattern = r"^feedback_last_batch_timestamp_seconds (\S+)$"
            last_batch = float(re.search(pattern, metrics, re.M)[1])
            print(
                f"outage: /readyz {ready[:80]!r}; last batch {time.time() - last_batch:.0f} s ago"
            )
            assert json.loads(ready)["checks"]["connected"] is False
            assert time.time() - last_batch >= 14
            time.sleep(5)
            assert worker.alive, "the worker must survive the outage"
            broker.start(port, home=home)
            print(f"outage: broker away for {time.monotonic() - outage_started:.1f} s")
            asyncio.run(produce(topics.bootstrap, topics.input, values(1000)))
            outputs, dead = asyncio.run(collect(topics, 2000, timeout_s=240))
            assert worker.alive, worker.log_tail()
        finally:
            for w in workers:
                w.stop()
        expected = asyncio.run(input_offsets(topics))
        lost, duplicates = account(expected, outputs, dead)
        print(f"outage: 2000 sent, {duplicates} duplicates, {lost} lost")
        assert len(expected) == 2000 and lost == 0
        log = worker.log.read_text(errors="replace")
        assert re.search(r"Unable connect|Connect call failed|ConnectionError", log), (
            "the outage shows in the worker's log"
        )
    finally:
        broker.stop(port, home=home)


def test_second_worker_joins_then_leaves(topics, workers, tmp_path) -> None:
    n = 6000
    start_worker(workers, topics, tmp_path)

    async def scenario() -> None:
        producing = asyncio.create_task(
            produce(topics.bootstrap, topics.input, values(n), pace_s=0.002)
        )
        await asyncio.sleep(4)
        second = start_worker(workers, topics, tmp_path)
        await asyncio.sleep(8)
        second.stop()
        await producing

    asyncio.run(scenario())
    outputs, dead = asyncio.run(collect(topics, n, timeout_s=300))
    expected = asyncio.run(input_offsets(topics))
    lost, duplicates = account(expected, outputs, dead)
    print(f"rebalance: {n} sent, {duplicates} duplicates, {lost} lost")
    assert len(expected) == n and lost == 0
    assert workers[0].alive
