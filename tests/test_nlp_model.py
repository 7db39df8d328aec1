"""The default model end to end: bootstrap, probabilities, hostile input, dev-set quality."""

from __future__ import annotations

import math
import shutil
import time
from pathlib import Path

import pytest

from nlp import FeedbackModel, ModelStore, ensure_default_model, load_enricher
from nlp.corpus import DEV_SET


@pytest.fixture(scope="module")
def store(model_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private store holding a copy of the default model (which `model_store` trains once
    per machine) and nothing else, promoted."""
    version = ensure_default_model(model_store, progress=False)
    path = tmp_path_factory.mktemp("nlp-models")
    shutil.copytree(ModelStore(model_store).path(version), path / version)
    ModelStore(path).promote(version)
    return path


@pytest.fixture(scope="module")
def enricher(store: Path) -> FeedbackModel:
    return load_enricher(store, torch_threads=1)


def test_ensure_default_model_is_idempotent(store: Path) -> None:
    before = ModelStore(store).versions()
    started = time.perf_counter()
    version = ensure_default_model(store, progress=False)
    assert time.perf_counter() - started < 30  # verified, not retrained
    assert ModelStore(store).versions() == before
    assert ModelStore(store).promoted() == version
    assert load_enricher(store).version == version


def test_scores_are_probabilities(enricher: FeedbackModel) -> None:
    texts = ["I love my new iPhone 15 Pro", "Comcast charged me twice.", "Where is my order?"]
    for result in enricher.enrich(texts):
        scores = result.sentiment.scores
        assert set(scores) == {"positive", "negative", "neutral"}
        assert math.isclose(sum(scores.values()), 1.0, abs_tol=1e-6)
        assert all(0.0 <= p <= 1.0 for p in scores.values())
        assert result.sentiment.label == max(scores, key=scores.__getitem__)


def test_obvious_cases(enricher: FeedbackModel) -> None:
    pos, neg, neu = enricher.enrich(
        [
            "Absolutely love the Kindle Paperwhite, best purchase this year!",
            "Terrible service from Ryanair, they cancelled my flight and won't refund me.",
            "Does the Pixel 8 support wireless charging?",
        ]
    )
    assert (pos.sentiment.label, neg.sentiment.label, neu.sentiment.label) == (
        "positive", "negative", "neutral"
    )  # fmt: skip
    assert ("Kindle Paperwhite", "PRODUCT") in {(e.text, e.label) for e in pos.entities}
    assert ("Ryanair", "ORG") in {(e.text, e.label) for e in neg.entities}


def test_uncertain_flag_follows_threshold(store: Path) -> None:
    texts = ["ok", "I love it", "the thing arrived"]
    always = load_enricher(store, uncertain_below=1.0).enrich(texts)
    never = load_enricher(store, uncertain_below=0.0).enrich(texts)
    assert all(r.sentiment.uncertain for r in always)
    assert not any(r.sentiment.uncertain for r in never)
    half = load_enricher(store, uncertain_below=0.5).enrich(texts)
    for r in half:
        assert r.sentiment.uncertain == (max(r.sentiment.scores.values()) < 0.5)
    # without an argument, the threshold is the model card's (the config's [inference])
    default = load_enricher(store)
    assert default.uncertain_below == default.card["inference"]["uncertain_below"]
    assert default.max_chars == default.card["inference"]["max_chars"]


def test_the_text_limit_is_the_callers(store: Path) -> None:
    text = "I love Samsung. " * 3
    whole = load_enricher(store).enrich([text])[0]
    model = load_enricher(store, max_chars=16)
    clipped = model.enrich([text])[0]
    assert model.max_chars == 16
    assert 0 < len(clipped.entities) < len(whole.entities)
    assert all(e.end <= 16 for e in clipped.entities)
    with pytest.raises(ValueError, match="max_chars"):
        load_enricher(store, max_chars=0)


HOSTILE = [
    "",
    "   \n\t ",
    "\x00",
    "NUL \x00 inside the text about Netflix and the \x00iPhone\x00",
    "control \x01\x02\x07\x1b[31m chars in the Pixel 8 review",
    "😀😡🔥 emoji only 👍🏽👨‍👩‍👧",
    "שלום, האפליקציה של Wix קורסת כל הזמן",
    "مرحبا، الطلب من Amazon تأخر",
    "\u202eright-to-left override\u202c on iPhone",
    "zero\u200bwidth\u200bspaces Tesla",
    "Ze\u0301\u0301\u0301ro combining marks on Samsung",
    "\ufeffBOM at the start, Dell laptop fine",
    "lone surrogate \ud800 in a Python string from Apple",
    "Spotify " * 3000,
    "I love Samsung. " * 70_000,  # ~1.1 MB
]


def test_hostile_strings_give_valid_offsets(enricher: FeedbackModel) -> None:
    results = enricher.enrich(HOSTILE)
    assert len(results) == len(HOSTILE)
    for text, result in zip(HOSTILE, results, strict=True):
        assert math.isclose(sum(result.sentiment.scores.values()), 1.0, abs_tol=1e-6)
        for e in result.entities:
            assert 0 <= e.start < e.end <= len(text)
            assert text[e.start : e.end] == e.text
            assert e.text == e.text.strip()
        result.to_dict()
    assert results[0].sentiment.label == "neutral"
    assert enricher.enrich([]) == []


def test_dev_set_quality_floor(store: Path) -> None:
    from nlp.evaluation import evaluate_version

    # The quality floor on the held-out dev set (the default model's training is seeded,
    # so this is the same number on every machine).
    report = evaluate_version(store, data=DEV_SET)
    assert report["sentiment_accuracy"] >= 0.85, report["sentiment"]
    assert report["sentiment_macro_f1"] >= 0.80, report["sentiment"]
    assert report["ner_f1"] >= 0.75, report["entities"]
