"""The accurate sentiment tier (the fine-tuned MiniLM encoder) and the two tiers side by side:
fine-tuning learns, saving and loading round-trips, damage is refused, each tier has its own
promoted version, and the settings name a tier."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from nlp import ModelCorruptError, ModelMismatchError, ModelStore
from nlp.config import load_config
from nlp.encoder import (
    ENCODER_DIR,
    WEIGHTS_FILE,
    AccurateSentiment,
    base_encoder_dir,
    load_encoder,
    load_pretrained,
    save_encoder,
)
from nlp.errors import ConfigError
from nlp.progress import SilentReporter
from nlp.schema import SENTIMENT_LABELS, SENTIMENT_TIERS
from nlp.store import PROMOTED, write_card
from nlp.train_encoder import Examples, _train, length_batches

TEXTS = [
    ("Absolutely love it, works perfectly and arrived early", "positive"),
    ("Brilliant service, friendly staff, would recommend", "positive"),
    ("Great value, fantastic quality, very happy", "positive"),
    ("Terrible, broke after two days and support ignored me", "negative"),
    ("Awful experience, refund still missing, never again", "negative"),
    ("Worst app ever, crashes constantly and loses my data", "negative"),
    ("What time does the shop open on Sunday?", "neutral"),
    ("Is the blue version available in size 10?", "neutral"),
    ("I ordered it on Tuesday and it is due on Friday.", "neutral"),
]


@pytest.fixture(scope="module")
def fresh() -> AccurateSentiment:
    """The packaged encoder with an untrained head (short inputs: fast on a CPU)."""
    torch.manual_seed(0)
    model, tokenizer = load_pretrained(len(SENTIMENT_LABELS), dropout=0.1)
    return AccurateSentiment(model, tokenizer, max_length=32, device=torch.device("cpu"))


def test_the_encoder_ships_in_a_package_and_loads_offline() -> None:
    base = base_encoder_dir()
    assert (base / "model.safetensors").stat().st_size > 80_000_000
    assert json.loads((base / "config.json").read_text("utf-8"))["hidden_size"] == 384


def test_probabilities_are_rows_in_input_order(fresh: AccurateSentiment) -> None:
    texts = [t for t, _ in TEXTS]
    probs = fresh.probabilities(texts)
    assert len(probs) == len(texts)
    assert all(abs(sum(row) - 1) < 1e-5 and len(row) == 3 for row in probs)
    # length-sorted batching must not reorder rows: one text alone gives its own row
    alone = fresh.probabilities([texts[4]])[0]
    assert alone == pytest.approx(probs[4], abs=1e-5)
    assert fresh.probabilities([]) == []


def test_save_and_load_round_trip(fresh: AccurateSentiment, tmp_path: Path) -> None:
    fresh.model.temperature.fill_(1.7)
    save_encoder(fresh, tmp_path / ENCODER_DIR, SENTIMENT_LABELS)
    loaded = load_encoder(tmp_path / ENCODER_DIR, SENTIMENT_LABELS, torch.device("cpu"))
    texts = [t for t, _ in TEXTS]
    before = [p for row in fresh.probabilities(texts) for p in row]
    assert [p for row in loaded.probabilities(texts) for p in row] == pytest.approx(
        before, abs=1e-5
    )
    assert float(loaded.model.temperature) == pytest.approx(1.7)
    assert loaded.max_length == 32
    with pytest.raises(ModelMismatchError, match="labels"):
        load_encoder(tmp_path / ENCODER_DIR, ("bad", "good", "ugly"))


def test_damaged_weights_are_refused(fresh: AccurateSentiment, tmp_path: Path) -> None:
    path = tmp_path / ENCODER_DIR
    save_encoder(fresh, path, SENTIMENT_LABELS)
    weights = path / WEIGHTS_FILE
    tensors, meta = load_file(str(weights)), None
    from safetensors import safe_open

    with safe_open(str(weights), framework="pt") as fh:
        meta = fh.metadata()
    tensors["out.weight"] = torch.full_like(tensors["out.weight"], float("nan"))
    save_file(tensors, str(weights), metadata=meta)
    with pytest.raises(ModelCorruptError, match="non-finite"):
        load_encoder(path, SENTIMENT_LABELS)
    del tensors["out.bias"]
    save_file(tensors, str(weights), metadata=meta)
    with pytest.raises(ModelMismatchError, match="tensors differ"):
        load_encoder(path, SENTIMENT_LABELS)
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(ModelCorruptError, match="cannot read"):
        load_encoder(path, SENTIMENT_LABELS)


def test_fine_tuning_learns_the_labels_and_calibrates() -> None:
    """A few epochs on nine texts: the encoder fits them (the untrained head cannot)."""
    config = load_config(
        overrides={
            "sentiment.tier": "accurate",
            "encoder.epochs": 6,
            "encoder.batch_size": 3,
            "encoder.max_length": 24,
            "encoder.lr": 0.0002,
            "encoder.patience": 6,
            "encoder.warmup": 0.0,
        }
    )
    records = [type("R", (), {"text": t, "sentiment": s})() for t, s in TEXTS]
    examples = Examples.of(records)
    result = _train(examples, examples, config, SilentReporter())
    assert result.metrics["accuracy"] == 1.0
    assert result.head.tier == "accurate"
    assert 0.05 <= result.metrics["temperature"] <= 20
    losses = [h["train_loss"] for h in result.history]
    assert losses[-1] < losses[0]


def test_length_batches_cover_every_example_once() -> None:
    texts = ["x" * n for n in range(101)]
    batches = length_batches(texts, 8, random.Random(0))
    assert sorted(i for b in batches for i in b) == list(range(101))
    assert all(len(b) <= 8 for b in batches)


def test_the_tier_is_a_validated_setting() -> None:
    assert load_config().sentiment.tier == "fast"
    assert tuple(load_config().model_json_schema()["$defs"]["SentimentConfig"]["properties"][
        "tier"]["enum"]) == SENTIMENT_TIERS  # fmt: skip
    with pytest.raises(ConfigError, match="sentiment.tier"):
        load_config(overrides={"sentiment.tier": "medium"})


def _fake_version(store: ModelStore, version: str, tier: str, created: str) -> None:
    root = store.path(version)
    root.mkdir(parents=True)
    (root / "weights.bin").write_bytes(b"x")
    write_card(root, {"version": version, "created_at": created, "sentiment": {"tier": tier}})


def test_each_tier_has_its_own_promoted_version(tmp_path: Path) -> None:
    store = ModelStore(tmp_path)
    _fake_version(store, "f1", "fast", "2026-01-01")
    _fake_version(store, "a1", "accurate", "2026-01-02")
    _fake_version(store, "f2", "fast", "2026-01-03")
    assert store.versions("fast") == ["f1", "f2"] and store.versions("accurate") == ["a1"]
    assert store.resolve(None, "fast") == "f2" and store.resolve(None, "accurate") == "a1"
    store.promote("f1")
    store.promote("a1")
    assert (tmp_path / PROMOTED).read_text().strip() == "f1"  # the fast tier's file is unchanged
    assert store.promoted("fast") == "f1" and store.promoted("accurate") == "a1"
    assert store.resolve(None, "fast") == "f1"
    with pytest.raises(ModelMismatchError, match="tier"):
        store.promoted("medium")
