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
    SentimentData,
    SentimentEnsemble,
    calibrate_ensemble,
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


def test_the_ensemble_is_calibrated_as_one_on_held_out_texts() -> None:
    """Over-confident members get one temperature, fitted on the ensemble's mean
    probabilities: the NLL there is at its minimum."""
    ensemble = _ensemble(3).eval()
    rng = torch.Generator().manual_seed(1)
    ids = [torch.randint(0, FEATURES.n_buckets, (5,), generator=rng).tolist() for _ in range(300)]
    with torch.no_grad():
        ensemble.members[0].embed.weight.mul_(500)  # sharp members that agree, ...
        for member in ensemble.members[1:]:
            member.load_state_dict(ensemble.members[0].state_dict())
        probs = ensemble(*pack(ids))
    confident, predicted = float(probs.max(-1).values.mean()), probs.argmax(-1).tolist()
    labels = [p if i % 3 else (p + 1) % 3 for i, p in enumerate(predicted)]  # right 2 in 3
    data = SentimentData()
    data.extend(ids, labels, 1.0)

    def nll(temperature: float) -> float:
        for member in ensemble.members:
            member.temperature.fill_(temperature)
        with torch.no_grad():
            p = ensemble(*pack(ids)).clamp_min(1e-12)
        return float(torch.nn.functional.nll_loss(p.log(), torch.tensor(labels)))

    uncalibrated = nll(1.0)
    temperature = calibrate_ensemble(ensemble, data)
    assert ensemble.temperatures == [pytest.approx(temperature)] * 3
    assert confident > 0.9 and temperature > 1  # over-confident: softened
    best = nll(temperature)
    assert best < uncalibrated
    assert best <= nll(0.9 * temperature) and best <= nll(1.1 * temperature)
