"""The training config: its schema, loading it, and the version id it trains into.

`nlp/config.cfg` (confection syntax, as spaCy's) holds every value; `load_config` reads it
(or another file), applies `{"section.key": value}` overrides and validates the result
against `TrainingConfig`, so that a typo or a wrong type stops before any training and the
error names the setting. A loaded config is read-only: changes make a new one
(`with_overrides`).
"""

from __future__ import annotations

import configparser
import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from confection import Config
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .corpus import data_files
from .errors import ConfigError
from .store import sha256_file

DEFAULT_CONFIG = Path(__file__).parent / "config.cfg"

# What the training code contributes to the version id. Change it with any code change that
# alters what a config + data train into, or how a stored model is read: the default model is
# then retrained. A change that keeps the output (a refactor) leaves it, and stored models keep
# their ids. Any new string will do; this one lists the sha256 of the training modules at the
# revision that trains the current models.
TRAINING_CODE_REVISION = (
    "training.py=46c0a5642294e1be4784b2aa6aa93674335f2cccb3c969ff62b62ee5135fbc93\n"
    "features.py=9190a60baf704058a2d8415e7c699ab11a899d78073e4c482c981f1f5f7f0c9e\n"
    "sentiment.py=3354d8cd7fe7f81be9b8ce84ba37424fc62f405a388f1adf27924e148444fb0f\n"
    "ner.py=ab21a00c0c93ba4512e2bfeff538b285f6b49c6d25a7cef2fa65432f053290bb\n"
    "pipeline.py=15d42e6617dc2bab7262b2e12a05c337cf74f68c58035d387f3e06b2691069f7\n"
    "synthetic.py=8d3870b89ddf318b56cce16c21f39edc9964d07117f35a7cd4b86ae40b862548\n"
)


class Section(BaseModel):
    """A config section: unknown keys are errors, values are read-only."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    def __getitem__(self, key: str) -> Any:
        """A setting by its name in the file: `config["data"]["seed"]`."""
        if key not in type(self).model_fields:
            raise KeyError(key)
        return getattr(self, key)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values (as in the model card)."""
        return self.model_dump(mode="json")


class DataConfig(Section):
    """[data]: the texts the model learns from and how they are split."""

    feedback: tuple[str, ...] = Field(min_length=1)  # relative paths: in nlp/data/
    catalogue: str
    val_fraction: float = Field(ge=0, lt=1)
    seed: int
    tweets: bool
    tweet_weight: float = Field(ge=0)
    tweet_min_confidence: float = Field(ge=0, le=1)
    synthetic: int = Field(ge=0)
    synthetic_weight: float = Field(ge=0)
    soft_labels: str = ""  # an `nlp.distill` file: the accurate tier's labels ("" = none)
    soft_label_weight: float = Field(0.0, ge=0)


class SentimentConfig(Section):
    """[sentiment]: the tier, and the fast tier's features and ensemble training."""

    tier: Literal["fast", "accurate"] = "fast"  # nlp.schema.SENTIMENT_TIERS (tested equal)
    folds: int = Field(1, ge=1)
    n_buckets: int = Field(gt=0)
    bigrams: bool
    char_ngrams: tuple[int, ...]
    max_tokens: int = Field(gt=0)
    dim: int = Field(gt=0)
    dropout: float = Field(ge=0, lt=1)
    epochs: int = Field(ge=1)
    batch_size: int = Field(gt=0)
    lr: float = Field(gt=0)
    pretrain_epochs: int = Field(ge=0)
    patience: int = Field(ge=1)


class EncoderConfig(Section):
    """[encoder]: fine-tuning the accurate tier's pre-trained encoder (nlp/train_encoder.py)."""

    epochs: int = Field(ge=1)
    lr: float = Field(gt=0)
    batch_size: int = Field(gt=0)
    max_length: int = Field(ge=8, le=512)
    warmup: float = Field(ge=0, lt=1)
    weight_decay: float = Field(ge=0)
    dropout: float = Field(ge=0, lt=1)
    patience: int = Field(ge=1)
    freeze_embeddings: bool
    synthetic_weight: float = Field(ge=0)


class NerConfig(Section):
    """[ner]: the base pipeline and the fine-tuning of its `ner`."""

    base: str
    labels: tuple[str, ...]
    epochs: int = Field(ge=1)
    dropout: float = Field(ge=0, lt=1)
    patience: int = Field(ge=1)
    rehearsal: int = Field(ge=0)
    synthetic: int = Field(ge=0)


class InferenceConfig(Section):
    """[inference]: stored in the model card and used by every `FeedbackModel` of the model."""

    uncertain_below: float = Field(ge=0, le=1)
    max_chars: int = Field(gt=0)
    batch_size: int = Field(gt=0)


class TrainingConfig(Section):
    """The whole config, as in nlp/config.cfg."""

    data: DataConfig
    sentiment: SentimentConfig
    encoder: EncoderConfig
    ner: NerConfig
    inference: InferenceConfig

    def with_overrides(self, overrides: Mapping[str, Any]) -> TrainingConfig:
        """A new config with `{"section.key": value}` applied and validated."""
        return _validated(self.model_dump(), overrides, "training config")


def load_config(
    path: str | Path | None = None, overrides: Mapping[str, Any] | None = None
) -> TrainingConfig:
    """The training config at `path` (default nlp/config.cfg) with overrides, validated.

    Raises `ConfigError` (one line naming the file and each bad setting).
    """
    path = Path(path or DEFAULT_CONFIG)
    try:
        raw = Config().from_disk(path)
    except (OSError, ValueError, configparser.Error) as exc:
        raise ConfigError(f"cannot read training config {path}: {exc}") from None
    return _validated(raw, overrides or {}, f"training config {path}")


def _validated(raw: Mapping[str, Any], overrides: Mapping[str, Any], name: str) -> TrainingConfig:
    sections = {section: dict(values) for section, values in raw.items()}
    for dotted, value in overrides.items():
        section, _, key = dotted.partition(".")
        if not key:
            raise ConfigError(f"{name}: override {dotted!r} is not of the form section.key")
        sections.setdefault(section, {})[key] = value
    try:
        return TrainingConfig.model_validate(sections)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
            for error in exc.errors()
        )
        raise ConfigError(f"{name}: {problems}") from None


def version_id(config: TrainingConfig) -> str:
    """Deterministic id from the config, the training data, the catalogue and the code."""
    h = hashlib.sha256()
    h.update(json.dumps(config.to_dict(), sort_keys=True).encode())
    for role, path in sorted(data_files(config).items()):
        h.update(f"{role.split(':')[0]}={sha256_file(path)}\n".encode())
    h.update(TRAINING_CODE_REVISION.encode())
    return "fb-" + h.hexdigest()[:12]
