"""A model version in memory (`FeedbackModel`): loading it from the store, enriching texts."""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from pathlib import Path

import torch

from .errors import ModelCorruptError, ModelMismatchError
from .schema import SENTIMENT_LABELS, Enrichment, Entity, Sentiment
from .store import ModelStore
from .tiers import SentimentHead, load_sentiment

_SURROGATE = re.compile("[\ud800-\udfff]")
_TRIM = " \t\r\n\x00\u200b\u200e\u200f\u202a\u202b\u202c\u202d\u202e\ufeff"


class FeedbackModel:
    """A loaded model version: spaCy pipeline (NER + catalogue) and the sentiment head of its
    tier (`nlp.tiers`).

    `uncertain_below` and `max_chars` are the caller's: `load_enricher` passes the ones it
    is given, else the model card's (the training config's `[inference]`).

    `enrich` runs one `nlp.pipe` over the batch and the head over its Docs.  Calls
    are serialised by a lock: use it from one worker thread at a time for speed.
    """

    def __init__(
        self,
        version: str,
        nlp,
        sentiment: SentimentHead,
        *,
        labels: Sequence[str] = SENTIMENT_LABELS,
        uncertain_below: float,
        max_chars: int,
        batch_size: int,
        card: dict | None = None,
    ) -> None:
        self.version = version
        self.nlp = nlp
        self.sentiment = sentiment
        self.tier = sentiment.tier
        self.labels = tuple(labels)
        self.uncertain_below = uncertain_below
        self.max_chars = max_chars
        self.batch_size = batch_size
        self.card = card or {}
        self._lock = threading.Lock()

    def enrich(self, texts: Sequence[str]) -> list[Enrichment]:
        """Sentiment and entities for each text (any string; long ones are truncated)."""
        if isinstance(texts, str):
            raise TypeError("enrich() takes a sequence of strings, not a single string")
        originals = [self._clip(t) for t in texts]
        if not originals:
            return []
        # Lone surrogates (possible in Python strings) break spaCy; replacing each by one
        # U+FFFD keeps every character offset valid for the original text.
        safe = [_SURROGATE.sub("\ufffd", t) for t in originals]
        with self._lock, torch.inference_mode():
            docs = list(self.nlp.pipe(safe, batch_size=self.batch_size))
            probs = self.sentiment.probabilities(docs)
        return [
            Enrichment(self._sentiment(doc, p), self._entities(doc, text))
            for doc, p, text in zip(docs, probs, originals, strict=True)
        ]

    def _clip(self, text: str) -> str:
        if not isinstance(text, str):
            raise TypeError(f"texts must be str, got {type(text).__name__}")
        return text[: self.max_chars]

    def _sentiment(self, doc, probs: list[float]) -> Sentiment:
        if not doc.text.strip():
            scores = {label: float(label == "neutral") for label in self.labels}
            return Sentiment("neutral", scores, uncertain=self.uncertain_below > 1.0)
        total = sum(probs) or 1.0
        scores = {label: p / total for label, p in zip(self.labels, probs, strict=True)}
        label = max(scores, key=scores.__getitem__)
        return Sentiment(label, scores, uncertain=scores[label] < self.uncertain_below)

    @staticmethod
    def _entities(doc, text: str) -> list[Entity]:
        """Entities with offsets into `text`, trimmed of invisible/whitespace characters."""
        out = []
        for ent in doc.ents:
            start, end = ent.start_char, ent.end_char
            while start < end and (text[start] in _TRIM or not text[start].isprintable()):
                start += 1
            while end > start and (text[end - 1] in _TRIM or not text[end - 1].isprintable()):
                end -= 1
            if end > start:
                out.append(Entity(text[start:end], ent.label_, start, end))
        return out


def load_enricher(
    store: str | Path,
    version: str | None = None,
    *,
    uncertain_below: float | None = None,
    max_chars: int | None = None,
    torch_threads: int | None = None,
    tier: str = "fast",
) -> FeedbackModel:
    """Load a verified model version (default: the `tier`'s promoted one, else its newest).

    `uncertain_below` (flag sentiment less confident than this) and `max_chars` (analyse
    at most this much of each text) are the caller's; None takes the model card's, which
    is the training config's `[inference]`. The stream worker passes its settings'.

    Raises a `ModelError` subclass when the store/version is missing, files are
    corrupt or truncated (sha256 mismatch), or the parts disagree (labels, dims).
    `torch_threads` sets torch's process-wide intra-op thread count.
    """
    import spacy

    from . import pipeline  # noqa: F401  (registers our spaCy factories and filters)

    if uncertain_below is not None and not 0.0 <= uncertain_below <= 1.0:
        raise ValueError("uncertain_below must be within [0, 1]")
    if max_chars is not None and max_chars < 1:
        raise ValueError("max_chars must be at least 1")
    model_store = ModelStore(store)
    version = model_store.resolve(version, tier)
    card = model_store.verify(version)
    root = model_store.path(version)
    try:
        labels = card["sentiment"]["labels"]
        inference = card["inference"]
        if uncertain_below is None:
            uncertain_below = float(inference["uncertain_below"])
        if max_chars is None:
            max_chars = int(inference["max_chars"])
        batch_size = int(inference["batch_size"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelMismatchError(
            f"{version}: model card lacks sentiment or inference settings ({exc})"
        ) from exc
    if list(labels) != list(SENTIMENT_LABELS):
        raise ModelMismatchError(f"{version}: sentiment labels {labels} != {SENTIMENT_LABELS}")
    if torch_threads is not None:
        torch.set_num_threads(max(1, int(torch_threads)))
    sentiment = load_sentiment(root, card, labels)
    try:
        nlp = spacy.load(root / "spacy")
    except Exception as exc:  # spaCy raises many types (ValueError, OSError, KeyError, ...)
        raise ModelCorruptError(f"{version}: cannot load the spaCy pipeline: {exc}") from exc
    expected = card.get("ner", {}).get("labels")
    if "ner" not in nlp.pipe_names or (
        expected is not None and sorted(nlp.get_pipe("ner").labels) != sorted(expected)
    ):
        raise ModelMismatchError(f"{version}: NER labels differ from the model card")
    return FeedbackModel(
        version,
        nlp,
        sentiment,
        labels=labels,
        uncertain_below=uncertain_below,
        max_chars=max_chars,
        batch_size=batch_size,
        card=card,
    )
