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
    "training.py=b502a18d7a94ebcc66781c9c8176304cbc7b1a66d0e881d2a03126476d84eb5a\n"
    "features.py=49cf5e65ce46118629c16828b100ec5fb76f7f489b5c3c54e952846f9192a538\n"
    "sentiment.py=c77f3f59280c133e8201c8a9c8c74313fa4a3691be8acc271dc9247996ddf214\n"
    "ner.py=4df9d16dac5f2244e5f87dc581f3aebdf8c202091176e6bd20162cee28e2d63d\n"
    "pipeline.py=546c338f3c739f4db081e158dcd41393ea3508582a219a9f6c930ab69567c828\n"
    "synthetic.py=e738152ffafe50bd751f95e879835c14b71e9079508eace7a2aa94d59c7c81d5\n"
    "train_encoder.py=9effa8d8871aedd9d8e53d90740f84bcf7fcf1334c8b7418f4b1e379fed0fb36\n"
    "encoder.py=93b29e0b2423eb04facb2a1a5e62b13a57bda11b710013156fd5b7ecad89d858\n"
    "entity_bounds.py=8fd3651130f618b32d672c3eb1bb0e6c70aac5ec861298035d8250763f424af0\n"
    "entity_cues.py=7ac85a754ebcde25a2c6f46d70d725255b9c43e94e755dce0519ad4bfd206689\n"
    "entity_filter.py=92294e7fd9a249f8fd16ca85d688ef1fbb40a25803dbdcf5e855edec028f1a49\n"
    "entity_words.py=a993a11326ce5767536f1751202427a4ce591e89512ac110233412cbd7d62d2d\n"
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
    labels: tuple[str, ...] = ()  # the team's own labelled files (labels topic, --data)
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
    labels_weight: float = Field(1.0, gt=0)  # the team's labels in the fast tier's loss
    calibration: str = ""  # held-out texts the ensemble's temperature is fitted on


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
    labels_weight: float = Field(1.0, gt=0)  # the team's labels in the loss


class NerConfig(Section):
    """[ner]: the base pipeline and the fine-tuning of its `ner`."""

    base: str
    labels: tuple[str, ...]
    epochs: int = Field(ge=1)
    dropout: float = Field(ge=0, lt=1)
    patience: int = Field(ge=1)
    rehearsal: int = Field(ge=0)
    synthetic: int = Field(ge=0)
    labels_weight: float = Field(1.0, gt=0)  # repeats of each of the team's labels


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
    h.update(json.dumps(_identity(config), sort_keys=True).encode())
    for role, path in sorted(data_files(config).items()):
        h.update(f"{role.split(':')[0]}={sha256_file(path)}\n".encode())
    h.update(TRAINING_CODE_REVISION.encode())
    return "fb-" + h.hexdigest()[:12]


def _identity(config: TrainingConfig) -> dict[str, Any]:
    """The config as the version id sees it. The team's label files count by their contents
    (`data_files`), not their paths; their weights count only when there are labels, so a
    setting that changes nothing keeps the id (and the models users already have)."""
    identity = config.to_dict()
    del identity["data"]["labels"]
    if config.sentiment.tier != "fast":  # only the fast tier reads it
        del identity["sentiment"]["calibration"]
    if not config.data.labels:
        for section in ("sentiment", "encoder", "ner"):
            del identity[section]["labels_weight"]
    return identity
