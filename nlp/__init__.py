"""Feedback NLP: sentiment + named entities for customer feedback (spaCy + PyTorch).

The stream worker needs only::

    from nlp import ensure_default_model, load_enricher
    version = ensure_default_model(store)        # trains once per data/config version
    model = load_enricher(store, torch_threads=1)
    [e.to_dict() for e in model.enrich(texts)]

The names below are imported on first use (PEP 562), so that `from nlp import ModelStore`
or `from nlp.schema import SENTIMENT_LABELS` does not load torch or spaCy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .bootstrap import ensure_default_model
    from .enricher import FeedbackModel, load_enricher
    from .errors import ModelCorruptError, ModelError, ModelMismatchError, ModelNotFoundError
    from .schema import SENTIMENT_LABELS, Enrichment, Entity, Sentiment
    from .store import ModelStore

#: Each public name and the module that defines it.
_HOMES = {
    "SENTIMENT_LABELS": "schema",
    "Enrichment": "schema",
    "Entity": "schema",
    "Sentiment": "schema",
    "FeedbackModel": "enricher",
    "load_enricher": "enricher",
    "ModelCorruptError": "errors",
    "ModelError": "errors",
    "ModelMismatchError": "errors",
    "ModelNotFoundError": "errors",
    "ModelStore": "store",
    "ensure_default_model": "bootstrap",
}

__all__ = [
    "SENTIMENT_LABELS",
    "Enrichment",
    "Entity",
    "FeedbackModel",
    "ModelCorruptError",
    "ModelError",
    "ModelMismatchError",
    "ModelNotFoundError",
    "ModelStore",
    "Sentiment",
    "ensure_default_model",
    "load_enricher",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{home}", __name__), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_HOMES])
