"""End-to-end measurements: producer → real Kafka → worker process(es) → output topic → consumer.

A `Phase` is one set of worker processes (one consumer group, fresh topics) and the loads
run through it one after another: warm-up first (not measured), then each `Load`. Latency
is the time from a record's produce timestamp (Kafka `CreateTime`, copied by the worker
into `source.timestamp_ms`) to the moment the benchmark's consumer receives its enriched
record. Throughput is messages / (first produce timestamp → last enriched record received).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
import orjson
from aiokafka import AIOKafkaConsumer

from devtools.bench.cpu import cpu_seconds, machine_busy_seconds, peak_rss_mb
from devtools.bench.workers import BASELINE, WORKER, WorkerProcess, stop_workers, wait_for_group
from stream.kafka import consumer, ensure_topics, producer
from stream.settings import Settings


@dataclass(frozen=True)
class Load:
    """`messages` produced at `rate` msgs/s (None: as fast as the producer goes).

    A callable rate is computed from the results of the phase's earlier loads.
    """

    name: str
    messages: int
    rate: float | Callable[[dict[str, LoadResult]], float] | None = None


@dataclass(frozen=True)
class Phase:
    """Worker processes of one kind and configuration, and the loads to run through them."""

    name: str
    loads: tuple[Load, ...]
    workers: int = 1
    partitions: int = 2
    batch_max: int = 256
    within_s: float = 0.05
    torch_threads: int = 1
    command: tuple[str, ...] = WORKER
    warmup: int = 300
    env: tuple[tuple[str, str], ...] = ()  # more environment for the workers


@dataclass
class LoadResult:
    """What one load measured."""

    name: str
    messages: int
    received: int
    seconds: float
    msgs_per_s: float
    offered_per_s: float | None
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    p50_to_enriched_ms: float  # produce timestamp -> `processed_at` (the batch was enriched)
    p50_enriched_to_received_ms: float  # `processed_at` -> received by the benchmark
    worker_cpu_ms_per_msg: float  # CPU time of the worker processes per message
    worker_cpu_utilisation: float  # their CPU seconds per second of the load (cores busy)
    others_cpu_cores: float  # CPUs kept busy by other processes of the machine meanwhile


@dataclass
class PhaseResult:
    """The loads of a phase, and the peak RSS of each of its worker processes."""

    phase: Phase
    loads: dict[str, LoadResult]
    peak_rss_mb: list[float] = field(default_factory=list)


@dataclass
class Context:
    """Where the phases run: the brokers, the model store and a scratch directory."""

    settings: Settings
    model_dir: Path
    workdir: Path
    log: Callable[[str], None] = print
    helper_pids: tuple[int, ...] = ()  # our other processes (the private broker)


async def run_phase(ctx: Context, phase: Phase, values: list[dict]) -> PhaseResult:
    """Start the phase's workers on fresh topics, warm up, run its loads, stop the workers."""
    run_id = f"bench-{phase.name}-{uuid.uuid4().hex[:6]}"
    settings = ctx.settings.model_copy(
        update={
            "input_topic": f"{run_id}.feedback",
            "output_topic": f"{run_id}.enriched",
            "dlq_topic": f"{run_id}.dlq",
            "app_id": run_id,
            "topic_partitions": phase.partitions,
        }
    )
    topics = [settings.input_topic, settings.output_topic, settings.dlq_topic]
    await ensure_topics(settings, topics)  # and waits until their leaders serve them
    ctx.log(f"▶ {phase.name}: starting {phase.workers} worker(s) ({_describe(phase)})")
    workers = [_worker_process(ctx, settings, phase, i).start() for i in range(phase.workers)]
    sink = Sink(settings)
    await sink.start()
    try:
        started = time.monotonic()
        await wait_for_group(settings, workers, ctx.log)
        ready_s = time.monotonic() - started
        ctx.log(f"  {phase.name}: {len(workers)} worker(s) ready after {ready_s:.1f} s")
        await _drive(ctx, phase, workers, sink, Load("warm-up", phase.warmup), values, None)
        results: dict[str, LoadResult] = {}
        for load in phase.loads:
            rate = load.rate(results) if callable(load.rate) else load.rate
            results[load.name] = await _drive(ctx, phase, workers, sink, load, values, rate)
            for worker in workers:
                worker.check()
        rss = [peak_rss_mb(w.pid) for w in workers]
        return PhaseResult(phase, results, rss)
    finally:
        await sink.stop()
        stop_workers(workers)


# --- the consumer of the enriched records -----------------------------------------------------


class Sink:
    """Reads the output and dead-letter topics in the background; notes when each id arrived."""

    @staticmethod
    def _quiet_new_topics(record: logging.LogRecord) -> bool:
        """The fetcher retries on a brand-new topic whose leader is still settling: not news."""
        return "NotLeaderForPartitionError" not in record.getMessage()

    def __init__(self, settings: Settings) -> None:
        logging.getLogger("aiokafka.consumer.fetcher").addFilter(self._quiet_new_topics)
        self.settings = settings
        self.topics = (settings.output_topic, settings.dlq_topic)
        self.consumer: AIOKafkaConsumer = consumer(settings, *self.topics, fetch_max_wait_ms=50)
        # id -> (produced, enriched, received): ms since the epoch
        self.arrivals: dict[str, tuple[int, float, float]] = {}
        self.dead = 0
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        await self.consumer.start()
        self._task = asyncio.create_task(self._read())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.consumer.stop()

    async def _read(self) -> None:
        while True:
            batches = await self.consumer.getmany(timeout_ms=100)
            now_ms = time.time() * 1000
            for tp, records in batches.items():
                for rec in records:
                    record = orjson.loads(rec.value)
                    if tp.topic == self.topics[1]:
                        self.dead += 1
                        continue
                    enrichment = record["enrichment"]
                    self.arrivals[enrichment["id"]] = (
                        enrichment["source"]["timestamp_ms"],
                        _epoch_ms(enrichment["processed_at"]),
                        now_ms,
                    )


# --- driving one load -------------------------------------------------------------------------


async def _drive(
    ctx: Context,
    phase: Phase,
    workers: list[WorkerProcess],
    sink: Sink,
    load: Load,
    values: list[dict],
    rate: float | None,
) -> LoadResult:
    """Produce one load at `rate` (None: flat out), wait for its enriched records, measure."""
    ids = [f"{load.name}-{i}" for i in range(load.messages)]
    payloads = [
        orjson.dumps({**values[i % len(values)], "id": ids[i]}) for i in range(load.messages)
    ]
    pace = f"at {rate:.0f} msgs/s" if rate else "at full speed"
    ctx.log(f"  {phase.name}/{load.name}: producing {load.messages} messages {pace}")
    ours = [os.getpid(), *ctx.helper_pids]
    before = _CpuSnapshot.take([w.pid for w in workers], ours)
    producing = asyncio.create_task(_produce(sink.settings, payloads, ids, phase.partitions, rate))
    try:
        await _wait_for_arrivals(ctx, f"{phase.name}/{load.name}", sink, ids)
    finally:
        await producing
    cpu = _CpuSnapshot.take([w.pid for w in workers], ours) - before
    result = _measure(load, rate, [sink.arrivals[i] for i in ids], cpu)
    ctx.log(
        f"    {result.msgs_per_s:.0f} msgs/s, latency p50 {result.p50_ms:.0f} ms "
        f"({result.p50_to_enriched_ms:.0f} to enriched), p99 {result.p99_ms:.0f} ms; "
        f"workers' CPU {result.worker_cpu_ms_per_msg:.2f} ms/msg; "
        f"other processes used {result.others_cpu_cores:.1f} CPUs"
    )
    return result


async def _wait_for_arrivals(ctx: Context, name: str, sink: Sink, ids: list[str]) -> None:
    """Wait until every id has arrived; progress every 5 s; give up after a generous time."""
    timeout_s = 120 + len(ids) / 20
    started = last_report = time.monotonic()
    pending = set(ids)
    while pending:
        await asyncio.sleep(0.1)
        pending.difference_update([i for i in pending if i in sink.arrivals])
        now = time.monotonic()
        if now - last_report >= 5:
            last_report = now
            ctx.log(
                f"    {len(ids) - len(pending)}/{len(ids)} enriched after {now - started:.0f} s"
            )
        if pending and now - started > timeout_s:
            raise TimeoutError(
                f"{name}: {len(pending)} of {len(ids)} messages not enriched after "
                f"{timeout_s:.0f} s ({sink.dead} dead letters); logs in {ctx.workdir}/logs"
            )


async def _produce(
    settings: Settings, payloads: list[bytes], ids: list[str], partitions: int, rate: float | None
) -> None:
    """Send round-robin over the partitions, at `rate` msgs/s or flat out, and flush."""
    prod = producer(settings, linger_ms=0 if rate else 5)
    await prod.start()
    try:
        t0 = time.monotonic()
        for i, (payload, key) in enumerate(zip(payloads, ids, strict=True)):
            if rate:
                delay = t0 + i / rate - time.monotonic()
                if delay > 0.002:
                    await asyncio.sleep(delay)
            await prod.send(
                settings.input_topic, payload, key=key.encode(), partition=i % partitions
            )
        await prod.flush()
    finally:
        await prod.stop()


@dataclass
class _CpuSnapshot:
    """CPU seconds used so far: by the workers, by our other processes, by the whole machine."""

    wall: float
    workers: float
    ours: float
    machine: float

    @classmethod
    def take(cls, workers: list[int], ours: list[int]) -> _CpuSnapshot:
        return cls(
            time.monotonic(),
            sum(cpu_seconds(pid) for pid in workers),
            sum(cpu_seconds(pid) for pid in ours),
            machine_busy_seconds(),
        )

    def __sub__(self, other: _CpuSnapshot) -> _CpuSnapshot:
        return _CpuSnapshot(
            self.wall - other.wall,
            self.workers - other.workers,
            self.ours - other.ours,
            self.machine - other.machine,
        )

    @property
    def others_cores(self) -> float:
        """CPUs that processes other than the benchmark's kept busy meanwhile, on average."""
        return max(0.0, self.machine - self.workers - self.ours) / self.wall


def _measure(
    load: Load, rate: float | None, arrivals: list[tuple[int, float, float]], cpu: _CpuSnapshot
) -> LoadResult:
    produced, enriched, received = np.array(arrivals, dtype=float).T
    latency = received - produced
    seconds = float(received.max() - produced.min()) / 1000
    p50, p95, p99 = np.percentile(latency, [50, 95, 99])
    return LoadResult(
        name=load.name,
        messages=load.messages,
        received=len(arrivals),
        seconds=round(seconds, 3),
        msgs_per_s=round(len(arrivals) / seconds, 1),
        offered_per_s=round(rate, 1) if rate else None,
        p50_ms=round(float(p50), 1),
        p95_ms=round(float(p95), 1),
        p99_ms=round(float(p99), 1),
        max_ms=round(float(latency.max()), 1),
        p50_to_enriched_ms=round(float(np.percentile(enriched - produced, 50)), 1),
        p50_enriched_to_received_ms=round(float(np.percentile(received - enriched, 50)), 1),
        worker_cpu_ms_per_msg=round(cpu.workers * 1000 / len(arrivals), 3),
        worker_cpu_utilisation=round(cpu.workers / seconds, 2),
        others_cpu_cores=round(cpu.others_cores, 2),
    )


def _epoch_ms(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000


# --- worker processes ---------------------------------------------------------------------------


def _describe(phase: Phase) -> str:
    kind = "per-message baseline" if phase.command == BASELINE else "batched worker"
    return (
        f"{kind}, {phase.partitions} partitions, BATCH_MAX={phase.batch_max}, "
        f"BATCH_WITHIN_S={phase.within_s}, TORCH_THREADS={phase.torch_threads}"
    )


def worker_env(ctx: Context, settings: Settings, phase: Phase) -> dict[str, str]:
    """The environment of a worker process of this phase."""
    return {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "KAFKA_SECURITY_PROTOCOL": settings.kafka_security_protocol,
        "INPUT_TOPIC": settings.input_topic,
        "OUTPUT_TOPIC": settings.output_topic,
        "DLQ_TOPIC": settings.dlq_topic,
        "APP_ID": settings.app_id,
        "TOPIC_PARTITIONS": str(phase.partitions),
        "BATCH_MAX": str(phase.batch_max),
        "BATCH_WITHIN_S": str(phase.within_s),
        "TORCH_THREADS": str(phase.torch_threads),
        "FEEDBACK_HOME": str(ctx.workdir),  # the workers' Faust data dirs go to the scratch dir
        "MODEL_STORE": str(ctx.model_dir),
        "LOG_LEVEL": "info",
        # Private announcement topics: a shared broker's model swaps stay out of the run.
        "MODELS_TOPIC": f"{settings.app_id}.models",
        "LABELS_TOPIC": f"{settings.app_id}.labels",
        **dict(phase.env),
    }


def _worker_process(ctx: Context, settings: Settings, phase: Phase, index: int) -> WorkerProcess:
    log = ctx.workdir / "logs" / f"{settings.app_id}-{index}.log"
    return WorkerProcess(list(phase.command), worker_env(ctx, settings, phase), log)
