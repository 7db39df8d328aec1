"""The sentiment ensemble: folds, probabilities, and its safetensors file."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
import torch

from nlp.corpus import assign_folds
from nlp.errors import ModelMismatchError
from nlp.features import FeatureConfig
from nlp.schema import Record
from nlp.sentiment import (
    SentimentClassifier,
    SentimentEnsemble,
    load_classifier,
    pack,
    save_classifier,
)

LABELS = ("negative", "neutral", "positive")
FEATURES = FeatureConfig(n_buckets=512, char_ngrams=(3,))


def _ensemble(n: int) -> SentimentEnsemble:
    torch.manual_seed(0)
    members = [SentimentClassifier(FEATURES.n_buckets, 8, len(LABELS)) for _ in range(n)]
    for i, member in enumerate(members):
        member.temperature.fill_(0.5 + i)
    return SentimentEnsemble(members).eval()


def test_folds_are_stratified_seeded_and_cover_everything() -> None:
    records = [Record(text=str(i), sentiment=LABELS[i % 3]) for i in range(100)]
    folds = assign_folds(records, 5, seed=0)
    assert folds == assign_folds(records, 5, seed=0)
    assert folds != assign_folds(records, 5, seed=1)
    assert set(folds) == set(range(5))
    for fold in range(5):  # each fold holds about a fifth of every label
        per_label = Counter(r.sentiment for r, f in zip(records, folds, strict=True) if f == fold)
        assert all(6 <= per_label[label] <= 7 for label in LABELS), per_label


def test_ensemble_probabilities_are_the_mean_of_calibrated_members() -> None:
    model = _ensemble(3)
    ids, offsets = pack([[1, 2, 3], [4], [0]])
    with torch.inference_mode():
        probs = model.probabilities(ids, offsets)
        expected = torch.stack([m.probabilities(ids, offsets) for m in model.members]).mean(0)
    assert torch.allclose(probs, expected)
    assert torch.allclose(probs.sum(-1), torch.ones(3))


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    model = _ensemble(3)
    path = tmp_path / "sentiment.safetensors"
    save_classifier(model, path, LABELS, FEATURES)
    loaded = load_classifier(path, LABELS, FEATURES)
    assert len(loaded.members) == 3
    ids, offsets = pack([[5, 6, 7]])
    with torch.inference_mode():
        assert torch.equal(model(ids, offsets), loaded(ids, offsets))
    with pytest.raises(ModelMismatchError, match="labels"):
        load_classifier(path, ("bad", "good"), FEATURES)


def test_single_classifier_files_from_before_ensembles_still_load(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    member = _ensemble(1).members[0]
    info = {"labels": list(LABELS), "features": FEATURES.to_dict(), "dim": 8, "dropout": 0.2}
    path = tmp_path / "old.safetensors"
    tensors = {k: v.contiguous() for k, v in member.state_dict().items()}
    save_file(tensors, str(path), metadata={"feedback_sentiment": json.dumps(info)})
    loaded = load_classifier(path, LABELS, FEATURES)
    ids, offsets = pack([[9, 10]])
    with torch.inference_mode():
        assert torch.allclose(loaded(ids, offsets), member.probabilities(ids, offsets))
