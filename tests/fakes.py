"""A tiny deterministic enricher for unit tests of the stream layer (the real model is
exercised by the nlp tests and the integration tests)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from nlp.schema import SENTIMENT_LABELS


@dataclass
class _Enrichment:
    label: str
    entities: list[dict]

    def to_dict(self) -> dict:
        scores = dict.fromkeys(SENTIMENT_LABELS, 0.1)
        scores[self.label] = 0.8
        return {
            "sentiment": {"label": self.label, "scores": scores, "uncertain": False},
            "entities": self.entities,
        }


class KeywordEnricher:
    """'good' → positive, 'bad' → negative; the word 'Acme' is an ORG; 'boom' raises."""

    version = "test-1"

    def __init__(self) -> None:
        self.calls: list[int] = []

    def enrich(self, texts: Sequence[str]) -> list[_Enrichment]:
        self.calls.append(len(texts))
        if any("boom" in t for t in texts):
            raise RuntimeError("the model exploded")
        out = []
        for text in texts:
            label = "positive" if "good" in text else "negative" if "bad" in text else "neutral"
            start = text.find("Acme")
            ents = (
                []
                if start < 0
                else [{"text": "Acme", "label": "ORG", "start": start, "end": start + 4}]
            )
            out.append(_Enrichment(label, ents))
        return out
