"""Continuous retraining against the real broker: labels in, a gated candidate, a live switch."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from stream.contracts import validator
from stream.kafka import consumer, ensure_topics
from stream.models import announce, announcement
from tests.conftest import (
    ROOT,
    Reduced,
    TrainerProcess,
    collect,
    copy_store,
    import_labels,
    input_offsets,
    position,
    produce,
    start_worker,
    store_env,
)

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

TRAIN = ROOT / "nlp" / "data" / "train_feedback.jsonl"


@pytest.fixture
def store(reduced: Callable[[str], Reduced], tmp_path: Path) -> Path:
    """A private model store serving the fast tier's reduced baseline: the trainer's
    candidates (TRAINER_CONFIG: the same reduced config) train in a minute or two."""
    return copy_store(reduced("fast").store, tmp_path / "models")


@pytest.fixture
def trainer_config(reduced: Callable[[str], Reduced]) -> dict[str, str]:
    return {"TRAINER_CONFIG": str(reduced("fast").config)}


INVERTED = {"positive": "negative", "negative": "positive", "neutral": "neutral"}


def labels_file(tmp_path: Path, n: int, *, invert: bool = False, seed: int = 1) -> Path:
    """Labels from the training data; `invert` swaps positive and negative (a poisoned set)."""
    rows = [json.loads(line) for line in TRAIN.read_text().splitlines()[:n]]
    if invert:
        for row in rows:
            row["sentiment"] = INVERTED[row["sentiment"]]
    path = tmp_path / "labels.jsonl"
    with path.open("w") as out:
        for i, row in enumerate(rows):
            out.write(json.dumps({"id": f"lab-{seed}-{i}", **row, "annotator": "test"}) + "\n")
    return path


async def announcements(topics) -> list[dict]:
    cons = consumer(topics.settings(), topics.models)
    await cons.start()
    try:
        records = []
        for batch in (await cons.getmany(timeout_ms=2000)).values():
            records += [orjson.loads(r.value) for r in batch]
        return records
    finally:
        await cons.stop()


def test_labels_train_promote_and_the_running_worker_switches(
    topics, workers, store, trainer_config, tmp_path
):
    from nlp import ModelStore

    old = ModelStore(store).promoted()
    worker = start_worker(workers, topics, tmp_path, **store_env(store))
    trainer = TrainerProcess(
        topics,
        store,
        tmp_path / "trainer.log",
        RETRAIN_AFTER_LABELS="40",
        PROMOTION_MARGIN="0.05",
        **trainer_config,
    ).start()
    n = 0

    async def stream_until_switch() -> None:
        nonlocal n
        deadline = time.monotonic() + 900
        while time.monotonic() < deadline:
            values = [
                orjson.dumps({"id": n + i, "text": "The Kindle app crashes."}) for i in range(20)
            ]
            await produce(topics.bootstrap, topics.input, values)
            n += len(values)
            await asyncio.sleep(1)
            if n % 100 == 0 and "now serving model" in worker.log.read_text(errors="replace"):
                break
        for _ in range(3):  # a little more traffic after the switch
            await produce(topics.bootstrap, topics.input, [orjson.dumps({"id": -1, "text": "ok"})])
            n += 1

    try:
        trainer.wait_for(r"trainer ready", 120)
        started = time.monotonic()
        print(import_labels(topics, labels_file(tmp_path, 60), store))
        asyncio.run(stream_until_switch())
        promoted = trainer.wait_for(r"promoted and announced (\S+)", 60)[1]
        took = time.monotonic() - started
        print(f"loop: labels → promoted {promoted} → worker switched in {took:.0f} s")
    finally:
        trainer.stop()
    outputs, dead = asyncio.run(collect(topics, n))
    expected = asyncio.run(input_offsets(topics))
    seen = {position(r) for r in outputs + dead}
    assert seen == expected, f"{len(expected - seen)} offsets missing across the switch"
    versions = {r["enrichment"]["model_version"] for r in outputs}
    assert versions == {old, promoted}
    for partition in {p for p, _ in expected}:
        ordered = sorted(
            (r for r in outputs if position(r)[0] == partition),
            key=position,
        )
        switched = [r["enrichment"]["model_version"] == promoted for r in ordered]
        assert switched == sorted(switched), "after the switch, no record carries the old version"
    [record] = [a for a in asyncio.run(announcements(topics)) if a["version"] == promoted]
    validator("model_announcement").validate(record)
    assert ModelStore(store).promoted() == promoted


def test_a_worse_candidate_is_rejected(topics, store, trainer_config, tmp_path):
    from nlp import ModelStore

    old = ModelStore(store).promoted()
    trainer = TrainerProcess(
        topics,
        store,
        tmp_path / "trainer.log",
        RETRAIN_AFTER_LABELS="900",
        PROMOTION_MARGIN="0.05",
        **trainer_config,
    ).start()
    try:
        trainer.wait_for(r"trainer ready", 120)
        import_labels(topics, labels_file(tmp_path, 2000, invert=True), store)
        trainer.wait_for(r"rejected by the gate", 900)
    finally:
        trainer.stop()
    assert ModelStore(store).promoted() == old
    assert asyncio.run(announcements(topics)) == []


def test_a_corrupt_announced_model_is_refused(topics, workers, store, tmp_path):
    from nlp import ModelStore

    old = ModelStore(store).promoted()
    bad = "corrupt-1"
    shutil.copytree(ModelStore(store).path(old), store / bad)
    card = json.loads((store / bad / "model-card.json").read_text())
    card["version"] = bad
    (store / bad / "model-card.json").write_text(json.dumps(card))
    weights = store / bad / "sentiment.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])  # truncated

    worker = start_worker(workers, topics, tmp_path, **store_env(store))
    asyncio.run(ensure_topics(topics.settings(), [topics.models], partitions=1))
    asyncio.run(announce(topics.settings(), announcement(store, bad)))
    deadline = time.monotonic() + 120
    while "refused model corrupt-1" not in worker.log.read_text(errors="replace"):
        assert time.monotonic() < deadline, worker.log_tail()
        time.sleep(1)
    values = [orjson.dumps({"id": i, "text": "Still fine?"}) for i in range(20)]
    asyncio.run(produce(topics.bootstrap, topics.input, values))
    outputs, dead = asyncio.run(collect(topics, 20))
    assert worker.alive
    assert {r["enrichment"]["model_version"] for r in outputs} == {old} and not dead


def test_trainer_restarted_mid_way_rebuilds_every_label(topics, store, tmp_path):
    log = tmp_path / "trainer.log"
    first = TrainerProcess(topics, store, log, RETRAIN_AFTER_LABELS="100000").start()
    try:
        first.wait_for(r"trainer ready", 120)
        import_labels(topics, labels_file(tmp_path, 30, seed=1), store)
        time.sleep(3)
    finally:
        first.stop()  # kill -9 mid-way
    import_labels(topics, labels_file(tmp_path, 25, seed=2), store)
    log.write_text("")
    second = TrainerProcess(topics, store, log, RETRAIN_AFTER_LABELS="100000").start()
    try:
        ready = second.wait_for(
            r"trainer ready: (\d+) labels rebuilt .*, (\d+) not yet trained", 120
        )
    finally:
        second.stop()
    assert int(ready[1]) == 55 and int(ready[2]) == 55


def copy_version(store: Path, source: str, name: str) -> None:
    from nlp import ModelStore

    shutil.copytree(ModelStore(store).path(source), store / name)
    card_path = store / name / "model-card.json"
    card = json.loads(card_path.read_text())
    card["version"] = name
    card_path.write_text(json.dumps(card))


def test_operator_promote_and_rollback(topics, workers, store, tmp_path):
    from nlp import ModelStore

    old = ModelStore(store).promoted()
    copy_version(store, old, "manual-2")
    worker = start_worker(workers, topics, tmp_path, **store_env(store)).wait_ready()
    env = {**os.environ, **topics.env(), **store_env(store)}

    def cli(*args: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "stream.cli", "models", *args],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    def wait_serving(version: str) -> None:
        deadline = time.monotonic() + 120
        while f"now serving model {version}" not in worker.log.read_text(errors="replace"):
            assert time.monotonic() < deadline, worker.log_tail()
            time.sleep(0.5)

    assert "promoted manual-2" in cli("promote", "manual-2")
    wait_serving("manual-2")
    assert ModelStore(store).promoted() == "manual-2"
    assert f"rolled back to {old}" in cli("rollback")
    wait_serving(old)
    asyncio.run(produce(topics.bootstrap, topics.input, [orjson.dumps({"id": 1, "text": "ok"})]))
    outputs, _ = asyncio.run(collect(topics, 1))
    assert outputs[0]["enrichment"]["model_version"] == old
    assert old in cli("list")
