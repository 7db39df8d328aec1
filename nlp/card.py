"""The model card: what a stored version is, what it was trained from, and how it scored.

`store.write_card` adds the format and every file's checksum when the card is written.
"""

from __future__ import annotations

import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from spacy.language import Language

from .config import TrainingConfig
from .corpus import SOURCES, TrainingData
from .schema import SENTIMENT_LABELS
from .store import sha256_file
from .tiers import TierResult
from .train_entities import EntityResult


def model_card(
    *,
    version: str,
    config: TrainingConfig,
    nlp: Language,
    sentiment: TierResult,
    entities: EntityResult,
    catalogue_entries: int,
    files: dict[str, Path],
    data: TrainingData,
    metrics: dict[str, Any],
    training_seconds: float,
) -> dict[str, Any]:
    """The card's contents for a freshly trained version."""
    return {
        "version": version,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "config": config.to_dict(),
        "sentiment": {**sentiment.card, "labels": list(SENTIMENT_LABELS)},
        "ner": {
            "labels": list(nlp.get_pipe("ner").labels),
            "annotated_labels": entities.labels,
            "pipeline": nlp.pipe_names,
            "catalogue_entries": catalogue_entries,
            "base": config.ner.base,
        },
        "inference": config.inference.to_dict(),
        "data": provenance(files, data),
        "metrics": metrics,
        "history": {"sentiment": sentiment.history, "ner": entities.history},
        "training_seconds": round(training_seconds, 1),
        "libraries": library_versions(),
    }


def provenance(files: dict[str, Path], data: TrainingData) -> dict[str, Any]:
    """What went into the model: every file's sha256, example counts and source licences."""
    return {
        "files": {role: {"path": str(p), "sha256": sha256_file(p)} for role, p in files.items()},
        "counts": data.counts(),
        "sources": SOURCES,
    }


def library_versions() -> dict[str, str]:
    import numpy
    import safetensors
    import spacy
    import torch
    import transformers

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "spacy": spacy.__version__,
        "numpy": numpy.__version__,
        "safetensors": safetensors.__version__,
        "transformers": transformers.__version__,
    }
