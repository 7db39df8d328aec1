"""Feedback NLP: sentiment + named entities for customer feedback (spaCy + PyTorch).

The stream worker needs only::

    from nlp import ensure_default_model, load_enricher
    version = ensure_default_model(store)        # trains once per data/config version
    enricher = load_enricher(store, torch_threads=1)
    [e.to_dict() for e in enricher.enrich(texts)]
"""

from .bootstrap import ensure_default_model
from .enricher import Enricher, load_enricher
from .errors import ModelCorruptError, ModelError, ModelMismatchError, ModelNotFoundError
from .schema import SENTIMENT_LABELS, Enrichment, Entity, Sentiment
from .store import ModelStore

__all__ = [
    "SENTIMENT_LABELS",
    "Enricher",
    "Enrichment",
    "Entity",
    "ModelCorruptError",
    "ModelError",
    "ModelMismatchError",
    "ModelNotFoundError",
    "ModelStore",
    "Sentiment",
    "ensure_default_model",
    "load_enricher",
]
