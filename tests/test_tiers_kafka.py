"""SENTIMENT_MODEL=accurate end to end: the worker on the real broker and `feedback enrich`
serve the accurate tier's promoted model, and a fast worker on the same store keeps its own.

The accurate model here is a small one (one epoch on a few dozen texts): what is tested is the
path through the product, not its accuracy (`feedback evaluate` reports that).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from nlp import ModelStore
from nlp.config import load_config
from nlp.corpus import DATA_DIR
from nlp.training import train_model
from stream.contracts import validator
from tests.conftest import ROOT, Worker, collect, produce

pytestmark = pytest.mark.kafka

TINY = {
    "data.tweets": False,
    "data.synthetic": 40,
    "sentiment.folds": 1,
    "sentiment.epochs": 2,
    "encoder.epochs": 1,
    "encoder.max_length": 48,
    "ner.epochs": 1,
    "ner.synthetic": 40,
    "ner.rehearsal": 0,
}


@pytest.fixture(scope="module")
def tiered_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with a small model of each tier, each promoted."""
    store = tmp_path_factory.mktemp("tiered")
    lines = (DATA_DIR / "train_feedback.jsonl").read_text("utf-8").splitlines()[:80]
    small = store.parent / "small.jsonl"
    small.write_text("\n".join(lines) + "\n", "utf-8")
    for tier, version in (("fast", "fast-test"), ("accurate", "acc-test")):
        overrides = {**TINY, "data.feedback": [str(small)], "sentiment.tier": tier}
        train_model(store, load_config(overrides=overrides), version=version, progress=False)
        ModelStore(store).promote(version)
    return store


def test_each_tier_serves_its_own_promoted_model(tiered_store: Path) -> None:
    store = ModelStore(tiered_store)
    assert store.tier("acc-test") == "accurate"
    assert store.promoted("accurate") == "acc-test"
    assert store.promoted("fast") == "fast-test" and store.tier("fast-test") == "fast"
    card = store.verify("acc-test")
    assert card["sentiment"]["tier"] == "accurate"
    assert any(f.startswith("sentiment_encoder/") for f in card["files"])
    assert {"dev", "dev_hard"} <= set(card["metrics"])


def test_the_worker_serves_the_accurate_tier(tiered_store, topics, tmp_path) -> None:
    env = {**topics.env(), "MODEL_STORE": str(tiered_store), "SENTIMENT_MODEL": "accurate"}
    worker = Worker(env, tmp_path / "worker.log").start()
    try:
        values = [orjson.dumps({"id": i, "text": f"Order {i} from Zalando arrived late again"})
                  for i in range(30)]  # fmt: skip
        asyncio.run(produce(topics.bootstrap, topics.input, values))
        outputs, dead = asyncio.run(collect(topics, len(values)))
        assert worker.alive, worker.log_tail()
    finally:
        worker.stop()
    assert len(outputs) == 30 and not dead
    for record in outputs:
        validator("enriched").validate(record)
        assert record["enrichment"]["model_version"] == "acc-test"


def test_a_pinned_version_of_the_other_tier_is_one_clear_line(tiered_store: Path) -> None:
    fast = ModelStore(tiered_store).promoted("fast")
    env = {**os.environ, "MODEL_STORE": str(tiered_store), "SENTIMENT_MODEL": "accurate",
           "MODEL_VERSION": fast}  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "stream.cli", "enrich", "-", "-o", "-"],
        input='{"id": 1, "text": "hi"}\n',
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0, done.stderr
    assert f"MODEL_VERSION={fast} is a fast-tier model but SENTIMENT_MODEL=accurate" in done.stderr


@pytest.mark.parametrize("tier", ["fast", "accurate"])
def test_enrich_uses_the_tier_the_settings_name(tiered_store: Path, tier: str) -> None:
    env = {**os.environ, "MODEL_STORE": str(tiered_store), "SENTIMENT_MODEL": tier}
    done = subprocess.run(
        [sys.executable, "-m", "stream.cli", "enrich", "-", "-o", "-", "--no-progress"],
        input='{"id": 1, "text": "The Kindle Paperwhite is lovely"}\n',
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout.splitlines()[0])
    expected = ModelStore(tiered_store).promoted(tier)
    assert record["enrichment"]["model_version"] == expected
