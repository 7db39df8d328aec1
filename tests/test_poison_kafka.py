"""Poison messages and a fuzz through a real worker on the real broker: every input offset
ends in the output or the dead-letter topic, the worker stays alive, its agent never crashes;
and when the agent does die, the worker stops and its batch is read again."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import orjson
import pytest

from stream.kafka import producer
from tests.conftest import ROOT, Worker, collect, input_offsets, position, start_worker
from tests.fuzz import ANY, KINDS, fuzz_cases

pytestmark = pytest.mark.kafka

ARTIFACTS = ROOT / "artifacts"


async def produce_all(topics, values: list[bytes]) -> None:
    prod = producer(topics.settings(), max_request_size=2_000_000, linger_ms=20)
    await prod.start()
    try:
        pending = [await prod.send(topics.input, value) for value in values]
        await asyncio.gather(*pending)
    finally:
        await prod.stop()


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def landed_outcomes(outputs: list[dict], dead: list[dict]) -> dict[tuple[int, int], str | None]:
    """(partition, offset) → dead-letter reason, or None for an enriched record."""
    landed: dict[tuple[int, int], str | None] = {}
    for record in outputs:
        landed[position(record)] = None
    for letter in dead:
        landed[position(letter)] = letter["reason"]
    return landed


def run_fuzz(topics, workers, tmp_path, n_valid: int, n_hostile: int, name: str) -> dict:
    cases = fuzz_cases(n_valid, n_hostile)
    worker = start_worker(workers, topics, tmp_path).wait_ready()
    started = time.monotonic()
    asyncio.run(produce_all(topics, [value for _, value, _ in cases]))
    outputs, dead = asyncio.run(collect(topics, len(cases), timeout_s=900))
    seconds = time.monotonic() - started
    assert worker.alive, worker.log_tail()
    rss = peak_rss_mb(worker.proc.pid)

    offsets = asyncio.run(input_offsets(topics))
    landed = landed_outcomes(outputs, dead)
    assert len(offsets) == len(cases)
    assert set(landed) == offsets, f"{len(offsets - set(landed))} offsets have no outcome"
    assert len(outputs) + len(dead) == len(cases), "no outcome was published twice"
    log = worker.log.read_text(errors="replace")
    assert "crashed" not in log and "Traceback" not in log, worker.log_tail(80)

    # Which case sits at which offset is not known (the producer spreads them over
    # partitions), so expectations are compared as counts per outcome.
    expected = Counter(reason for _, _, reason in cases if reason != ANY)
    got = Counter(landed.values())
    assert got[None] >= expected[None], "every valid message is enriched"
    for reason, n in expected.items():
        if reason is not None:
            assert got[reason] >= n, f"{reason}: {got[reason]} < {n}"
    summary = {
        "inputs": len(cases),
        "valid": n_valid,
        "hostile": n_hostile,
        "kinds": len(KINDS) + 1,
        "accounted": len(landed),
        "enriched": got[None],
        "dead_lettered": {str(r): n for r, n in sorted(got.items(), key=str) if r is not None},
        "peak_rss_mb": round(rss, 1),
        "seconds": round(seconds, 1),
        "worker_alive": worker.alive,
    }
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / f"{name}.json").write_text(json.dumps(summary, indent=2))
    print(f"{name}: {json.dumps(summary)}")
    return summary


def test_the_poison_message_and_its_batch(topics, workers, tmp_path) -> None:
    """A message nested 500 levels deep, then 20 valid messages, in one batch."""
    worker = start_worker(workers, topics, tmp_path).wait_ready()
    poison = b'{"id": "poison", "text": "hello", "x": ' + b"[" * 500 + b"]" * 500 + b"}"
    values = [poison] + [orjson.dumps({"id": i, "text": f"Love my Kindle {i}"}) for i in range(20)]
    asyncio.run(produce_all(topics, values))
    outputs, dead = asyncio.run(collect(topics, len(values), timeout_s=120))
    assert sorted(r["id"] for r in outputs) == list(range(20))
    assert [(d["reason"], d["id"]) for d in dead] == [("too_deep", "poison")]
    assert worker.alive
    assert "crashed" not in worker.log.read_text(errors="replace")


def test_fuzz_of_2000_inputs(topics, workers, tmp_path) -> None:
    run_fuzz(topics, workers, tmp_path, n_valid=400, n_hostile=1_680, name="fuzz-2k")


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_fuzz_of_12000_inputs(topics, workers, tmp_path) -> None:
    run_fuzz(topics, workers, tmp_path, n_valid=2_000, n_hostile=10_000, name="fuzz-12k")


#: A worker whose processing raises (outside `process_batch`'s own isolation) on a batch
#: holding the marker text: the fault this test injects, in the test's own subprocess.
CRASHING_WORKER = """
import sys
import stream.app
real = stream.app.process_batch
def process_batch(messages, enricher, limits):
    if any(m.value and b"crash-me" in m.value for m in messages):
        raise RuntimeError("injected fault")
    return real(messages, enricher, limits)
stream.app.process_batch = process_batch
from stream.cli import main
sys.exit(main(["worker"]))
"""


@pytest.mark.slow
def test_an_agent_crash_stops_the_worker_and_its_batch_is_read_again(
    topics, workers, tmp_path
) -> None:
    crashing = Worker(topics.env(), tmp_path / "crashing.log")
    crashing.start()
    # Same launch as `feedback worker`, with the fault injected.
    crashing.proc.kill()
    crashing.proc.wait()
    crashing.proc = subprocess.Popen(
        [sys.executable, "-c", CRASHING_WORKER],
        env=crashing.env_used,
        cwd=ROOT,
        stdout=crashing.log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    workers.append(crashing)
    crashing.wait_ready()
    values = [orjson.dumps({"id": i, "text": f"fine {i}"}) for i in range(10)]
    values.append(orjson.dumps({"id": "x", "text": "crash-me"}))
    asyncio.run(produce_all(topics, values))
    assert crashing.proc.wait(120) != 0, "the worker exits non-zero"
    log = crashing.log.read_text(errors="replace")
    assert "the enrich agent crashed" in log and "injected fault" in log

    start_worker(workers, topics, tmp_path).wait_ready()
    outputs, dead = asyncio.run(collect(topics, len(values), timeout_s=120))
    landed = landed_outcomes(outputs, dead)
    assert set(landed) == asyncio.run(input_offsets(topics)), "nothing lost"
    assert "x" in {r["id"] for r in outputs}, "the crashing batch was read again"
