"""Shared fixtures: the real Kafka broker, the default model, topics, worker and trainer processes.

The broker is never mocked. `KAFKA_BOOTSTRAP_SERVERS` names it (`.ci/run` starts the local
one); without it, a Kafka container is started when a Docker engine answers; else the
Kafka tests skip with the reason.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import TopicPartition

from devtools.net import free_port
from stream.kafka import consumer, ensure_topics, producer
from stream.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def _docker_answers() -> bool:
    if not shutil.which("docker"):
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """host:port of a real Kafka broker."""
    configured = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if configured:
        yield configured
        return
    if not _docker_answers():
        pytest.skip(
            "no Kafka: set KAFKA_BOOTSTRAP_SERVERS (e.g. after `feedback broker start`) "
            "or run a Docker engine for testcontainers"
        )
    kafka = pytest.importorskip("testcontainers.kafka", reason="testcontainers is not installed")
    with kafka.KafkaContainer().with_kraft() as container:
        yield container.get_bootstrap_server()


@pytest.fixture(scope="session")
def model_store() -> Path:
    """The store holding the default model (trained once, then cached)."""
    from nlp import ensure_default_model

    store = Settings().model_dir
    ensure_default_model(store)
    return store


class Topics:
    """Fresh topic names (and consumer group) for one test."""

    def __init__(self, bootstrap: str, partitions: int) -> None:
        run = uuid.uuid4().hex[:8]
        self.bootstrap = bootstrap
        self.partitions = partitions
        self.input = f"test-{run}.feedback"
        self.output = f"test-{run}.enriched"
        self.dlq = f"test-{run}.dlq"
        self.labels = f"test-{run}.labels"
        self.models = f"test-{run}.models"
        self.app_id = f"test-{run}"

    def settings(self, **overrides: object) -> Settings:
        return Settings(
            kafka_bootstrap_servers=self.bootstrap,
            input_topic=self.input,
            output_topic=self.output,
            dlq_topic=self.dlq,
            labels_topic=self.labels,
            models_topic=self.models,
            app_id=self.app_id,
            topic_partitions=self.partitions,
            **overrides,
        )

    def env(self) -> dict[str, str]:
        return {
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "INPUT_TOPIC": self.input,
            "OUTPUT_TOPIC": self.output,
            "DLQ_TOPIC": self.dlq,
            "LABELS_TOPIC": self.labels,
            "MODELS_TOPIC": self.models,
            "APP_ID": self.app_id,
            "TOPIC_PARTITIONS": str(self.partitions),
        }


@pytest.fixture
def topics(kafka_bootstrap: str) -> Topics:
    made = Topics(kafka_bootstrap, partitions=2)
    settings = made.settings()
    asyncio.run(ensure_topics(settings, [made.input, made.output, made.dlq]))
    return made


class Worker:
    """`feedback worker` as a real process, with its log kept for the test report."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log = log
        self.proc: subprocess.Popen | None = None

    def start(self) -> Worker:
        env = {**os.environ, **self.env, "WEB_PORT": str(free_port())}
        self.env_used = env
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "stream.cli", "worker"],
            env=env,
            cwd=ROOT,
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    def kill(self) -> None:
        """kill -9: no goodbye, no commit."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM and wait: a graceful shutdown."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(30)
        return self.proc.returncode

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_ready(self, timeout_s: float = 120) -> Worker:
        """Until Faust says the worker is ready (model loaded, partitions assigned)."""
        deadline = time.monotonic() + timeout_s
        while "Worker]: Ready" not in self.log.read_text(errors="replace"):
            assert self.alive, self.log_tail()
            assert time.monotonic() < deadline, self.log_tail()
            time.sleep(0.3)
        return self

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


@pytest.fixture
def workers(model_store: Path, topics: Topics, tmp_path: Path) -> Iterator[list[Worker]]:
    """Call `start_worker(workers, topics)`; every worker is stopped after the test."""
    started: list[Worker] = []
    yield started
    for worker in started:
        if worker.alive:
            worker.stop()


def start_worker(workers: list[Worker], topics: Topics, tmp_path: Path, **env: str) -> Worker:
    worker = Worker({**topics.env(), **env}, tmp_path / f"worker-{len(workers)}.log").start()
    workers.append(worker)
    return worker


async def produce(
    bootstrap: str,
    topic: str,
    values: list[bytes],
    *,
    pace_s: float = 0,
    settings: Settings | None = None,
) -> None:
    """Send raw values (keyless, spread over partitions) and wait for the broker's ack."""
    prod = producer(settings or Settings(kafka_bootstrap_servers=bootstrap), linger_ms=5)
    await prod.start()
    try:
        for value in values:
            await prod.send(topic, value)
            if pace_s:
                await asyncio.sleep(pace_s)
        await prod.flush()
    finally:
        await prod.stop()


async def collect(
    topics: Topics,
    expected_sources: int,
    *,
    timeout_s: float = 240,
    settings: Settings | None = None,
) -> tuple[list[dict], list[dict]]:
    """Read the output and DLQ topics until `expected_sources` distinct inputs are covered."""
    cons = consumer(settings or topics.settings(), topics.output, topics.dlq)
    await cons.start()
    outputs: list[dict] = []
    dead: list[dict] = []
    covered: set[tuple[int, int]] = set()
    deadline = time.monotonic() + timeout_s
    try:
        while len(covered) < expected_sources and time.monotonic() < deadline:
            for tp, records in (await cons.getmany(timeout_ms=500)).items():
                for rec in records:
                    record = orjson.loads(rec.value)
                    (dead if tp.topic == topics.dlq else outputs).append(record)
                    covered.add(position(record))
    finally:
        await cons.stop()
    return outputs, dead


def position(record: dict) -> tuple[int, int]:
    """(partition, offset) of the input behind an enriched record or a dead letter."""
    source = record["enrichment"]["source"] if "enrichment" in record else record["source"]
    return source["partition"], source["offset"]


async def input_offsets(topics: Topics) -> set[tuple[int, int]]:
    """Every (partition, offset) present in the input topic."""
    cons = consumer(Settings(kafka_bootstrap_servers=topics.bootstrap))
    await cons.start()
    try:
        tps = [TopicPartition(topics.input, p) for p in range(topics.partitions)]
        starts = await cons.beginning_offsets(tps)
        ends = await cons.end_offsets(tps)
        return {(tp.partition, o) for tp in tps for o in range(starts[tp], ends[tp])}
    finally:
        await cons.stop()


# --- the trainer (`feedback trainer`) as a real process ------------------------------------
def store_env(store: Path) -> dict[str, str]:
    return {"MODEL_STORE": str(store)}


class TrainerProcess:
    """`feedback trainer` on a test's topics and model store, its log kept in `log`."""

    def __init__(self, topics: Topics, store: Path, log: Path, **env: str) -> None:
        self.log = log
        self.env = {**os.environ, **topics.env(), **store_env(store), **env}
        self.proc: subprocess.Popen | None = None

    def start(self) -> TrainerProcess:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "stream.cli", "trainer"],
            env=self.env,
            cwd=ROOT,
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
        )
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)

    def wait_for(self, pattern: str, timeout_s: float) -> re.Match:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            match = re.search(pattern, self.log.read_text(errors="replace"))
            if match:
                return match
            assert self.proc.poll() is None, self.log.read_text()[-3000:]
            time.sleep(1)
        raise AssertionError(f"no {pattern!r} in the trainer log:\n{self.log.read_text()[-3000:]}")


def import_labels(topics: Topics, path: Path, store: Path) -> str:
    """`feedback labels import PATH` onto the test's labels topic; its output."""
    env = {**os.environ, **topics.env(), **store_env(store)}
    result = subprocess.run(
        [sys.executable, "-m", "stream.cli", "labels", "import", str(path)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


# --- models trained with a reduced config (trainer candidates and their baselines) ----------
#: nlp/config.cfg reduced for the models tests train: about a minute per fast-tier model on
#: two cores (two of the feedback files, no tweets, one sentiment member, fewer epochs).
REDUCED_TRAINING: dict[str, dict[str, Any]] = {
    "data": {
        "feedback": ["train_feedback.jsonl", "train_feedback_support.jsonl"],
        "tweets": False,
        "synthetic": 300,
    },
    "sentiment": {"folds": 1, "epochs": 10, "pretrain_epochs": 0},
    "encoder": {"epochs": 1},
    "ner": {"epochs": 3, "rehearsal": 100, "synthetic": 300},
}


def write_config(path: Path, changes: dict[str, dict[str, Any]]) -> Path:
    """nlp/config.cfg with `changes` (section -> settings) applied, as a file of its own."""
    from confection import Config

    from nlp.config import DEFAULT_CONFIG

    config = Config().from_disk(DEFAULT_CONFIG)
    for section, values in changes.items():
        config[section].update(values)
    config.to_disk(path)
    return path


@dataclass(frozen=True)
class Reduced:
    """A tier's reduced training config and a model store whose promoted model (that tier's
    baseline) was trained with it. Tests copy the store (`copy_store`) before changing it."""

    config: Path
    store: Path
    baseline: str


@pytest.fixture(scope="session")
def reduced(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Reduced]:
    """`reduced(tier)`: the tier's `Reduced`, its baseline trained once per session."""
    from nlp import ModelStore
    from nlp.config import load_config
    from nlp.training import train_model

    made: dict[str, Reduced] = {}

    def make(tier: str) -> Reduced:
        if tier not in made:
            root = tmp_path_factory.mktemp(f"reduced-{tier}")
            changes = REDUCED_TRAINING | {
                "sentiment": REDUCED_TRAINING["sentiment"] | {"tier": tier}
            }
            config = write_config(root / "reduced.cfg", changes)
            store = root / "models"
            card = train_model(
                store, load_config(config), version=f"reduced-{tier}", progress=False
            )
            ModelStore(store).promote(card["version"])
            made[tier] = Reduced(config, store, card["version"])
        return made[tier]

    return make


def copy_store(source: Path, to: Path) -> Path:
    """A private copy of a model store (its versions and promoted pointers)."""
    shutil.copytree(source, to)
    return to
