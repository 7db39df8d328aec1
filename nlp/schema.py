"""The package's data shapes: the sentiment label set, a labelled text (training and
evaluation input) and the results returned by `FeedbackModel.enrich`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# The one home of the label set: the classifier's output order, the model card and the
# data files all follow it (nlp/data/check_data.py keeps a standalone copy, tested equal).
SENTIMENT_LABELS: tuple[str, ...] = ("negative", "neutral", "positive")

# The sentiment tiers a model version can have (the config's `[sentiment] tier`, the model
# card's `sentiment.tier`, the worker's SENTIMENT_MODEL): hashed n-grams (`fast`) or the
# fine-tuned pre-trained encoder (`accurate`).
SENTIMENT_TIERS: tuple[str, ...] = ("fast", "accurate")


@dataclass
class Record:
    """One labelled text. `entities` is None when spans are unannotated (e.g. tweets)."""

    text: str
    sentiment: str | None
    entities: list[tuple[int, int, str]] | None = field(default=None)
    source: str = ""


@dataclass(frozen=True)
class Entity:
    """A named entity; `text == input[start:end]` (character offsets)."""

    text: str
    label: str
    start: int
    end: int

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "label": self.label, "start": self.start, "end": self.end}


@dataclass(frozen=True)
class Sentiment:
    """Sentiment label, calibrated class probabilities (summing to 1) and a low-confidence flag."""

    label: str
    scores: dict[str, float]
    uncertain: bool

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "scores": dict(self.scores), "uncertain": self.uncertain}


@dataclass(frozen=True)
class Enrichment:
    """Everything the model says about one text."""

    sentiment: Sentiment
    entities: list[Entity] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "sentiment": self.sentiment.to_dict(),
            "entities": [e.to_dict() for e in self.entities],
        }
