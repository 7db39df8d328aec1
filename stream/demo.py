"""`feedback demo`: the main job in one command.

Given a Kafka to use (the CLI starts the local broker unless KAFKA_BOOTSTRAP_SERVERS is
configured), makes sure the default model exists, starts a worker, produces the bundled
sample feedback, prints the enriched records as they arrive, then stops the worker.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import orjson

from stream import worker_process
from stream.contracts import field_at
from stream.kafka import consumer, ensure_topics, producer
from stream.settings import Settings

SAMPLE = Path(__file__).parent / "data" / "sample_feedback.jsonl"
COLOURS = {"positive": "\033[32m", "negative": "\033[31m", "neutral": "\033[33m"}
RESET = "\033[0m"


def run_demo(settings: Settings, *, sample: Path = SAMPLE, timeout_s: float = 180) -> int:
    """Run the whole demo on the settings' Kafka; returns a process exit code."""
    worker = None
    try:
        print("▶ checking the default model (trained on first use, then cached) ...", flush=True)
        from nlp import ensure_default_model

        version = ensure_default_model(settings.model_dir)
        print(f"  model {version}", flush=True)
        asyncio.run(_create_topics(settings))
        print("▶ starting the worker (feedback worker) ...", flush=True)
        worker = _start_worker(settings)
        return asyncio.run(_produce_and_show(settings, sample, worker, timeout_s))
    finally:
        if worker is not None and worker.poll() is None:
            print("▶ stopping the worker", flush=True)
            worker_process.stop([worker])


async def _create_topics(settings: Settings) -> None:
    await ensure_topics(settings, [settings.input_topic, settings.output_topic, settings.dlq_topic])


def _start_worker(settings: Settings) -> subprocess.Popen:
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers}
    log = settings.feedback_home / "demo-worker.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    print(f"  worker log: {log}", flush=True)
    return subprocess.Popen(
        worker_process.WORKER_COMMAND,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )


async def _produce_and_show(
    settings: Settings, sample: Path, worker: subprocess.Popen, timeout_s: float
) -> int:
    run = uuid.uuid4().hex[:6]
    lines = [line for line in sample.read_bytes().splitlines() if line.strip()]
    values = [_tag(line, run) for line in lines]

    out = consumer(settings, settings.output_topic, settings.dlq_topic, auto_offset_reset="latest")
    await out.start()
    prod = producer(settings)
    await prod.start()
    try:
        await out.seek_to_end()
        print(f"▶ producing {len(values)} sample messages to '{settings.input_topic}'", flush=True)
        started = time.perf_counter()
        for value in values:
            await prod.send(settings.input_topic, value)
        await prod.flush()

        seen = enriched = dead = 0
        first_at = last_at = None
        deadline = time.monotonic() + timeout_s
        while seen < len(values) and time.monotonic() < deadline:
            if worker.poll() is not None:
                print(f"✗ the worker exited with code {worker.returncode}", flush=True)
                return 1
            batches = await out.getmany(timeout_ms=500)
            for tp, records in batches.items():
                for rec in records:
                    record = orjson.loads(rec.value)
                    if not _from_this_run(record, run):
                        continue
                    first_at = first_at or time.perf_counter()
                    last_at = time.perf_counter()
                    seen += 1
                    if tp.topic == settings.dlq_topic:
                        dead += 1
                        _print_dead(record)
                    else:
                        enriched += 1
                        _print_enriched(record, settings)
        elapsed = time.perf_counter() - started
    finally:
        await prod.stop()
        await out.stop()

    print(f"\n✔ {enriched} enriched, {dead} dead-lettered of {len(values)} produced", flush=True)
    if first_at is not None and last_at is not None:
        span = max(last_at - first_at, 1e-3)
        print(
            f"  first record {first_at - started:.2f} s after producing, all {seen} within "
            f"{elapsed:.2f} s; {seen / span:.0f} records/s once the first batch was out",
            flush=True,
        )
    if seen < len(values):
        print(f"✗ {len(values) - seen} messages did not come back in {timeout_s:.0f} s")
        return 1
    return 0


def _tag(line: bytes, run: str) -> bytes:
    """Give each sample a run-specific id, so the demo can be run again and again."""
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError:
        return line.replace(b'"id": "', f'"id": "{run}-'.encode(), 1)
    if isinstance(record, dict):
        if "id" in record:
            record["id"] = f"{run}-{record['id']}"
        else:
            record["demo_run"] = run
    return orjson.dumps(record)


def _from_this_run(record: dict, run: str) -> bool:
    blob = str(record.get("id", "")) + (record.get("payload") or "")
    return run in blob


def _print_enriched(record: dict, settings: Settings) -> None:
    enrichment = record[settings.enrichment_field]
    sentiment = enrichment["sentiment"]
    label = sentiment["label"]
    score = sentiment["scores"][label]
    entities = ", ".join(f"{e['text']} [{e['label']}]" for e in enrichment["entities"]) or "-"
    colour = COLOURS.get(label, "") if sys.stdout.isatty() else ""
    reset = RESET if colour else ""
    text = str(field_at(record, settings.text_field))
    print(
        f"{enrichment['id']:>20}  {colour}{label:>8} {score:.2f}{reset}  {text[:70]!r}\n"
        f"{'':>20}  entities: {entities}",
        flush=True,
    )


def _print_dead(record: dict) -> None:
    print(f"{'DLQ':>20}  {record['reason']}: {record['detail']}", flush=True)
