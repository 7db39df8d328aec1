"""Training one complete model version (NER + sentiment) into a model store.

`train_model` reads everything from one config (nlp/config.cfg by default):

1. data (`corpus`): hand-written feedback (split train/val), synthetic templates, tweets;
2. sentiment, the config's tier: `fast` (`train_sentiment`), an ensemble of EmbeddingBag
   classifiers, pre-trained on tweets, early-stopped on validation macro-F1,
   temperature-scaled; or `accurate` (`train_encoder`), the packaged MiniLM encoder
   fine-tuned whole;
3. entities (`train_entities`): en_core_web_sm's `ner` fine-tuned on feedback + synthetic
   spans; then the catalogue rulers and the tidy steps (`pipeline`);
4. evaluation on each dev set (`corpus.DEV_SETS`, never trained on), and the version
   written atomically with its model card (`card`, `store`).

Progress goes to one `Reporter` (`progress`); the caller's config is never changed.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from .card import model_card
from .config import TrainingConfig, load_config, version_id
from .corpus import TrainingData, data_files
from .ner import score_ner
from .pipeline import finish_pipeline, labelled_names, load_base, read_catalogue, save_pipeline
from .progress import Reporter, as_reporter
from .schema import SENTIMENT_LABELS
from .store import ModelStore, write_card
from .tiers import save_sentiment, train_sentiment_tier
from .train_entities import train_entities

# The dev metrics kept in the model card.
DEV_METRICS = (
    "sentiment_accuracy",
    "sentiment_macro_f1",
    "ner_f1",
    "entities",
    "calibration",
    "docs_per_second",
)


def train_model(
    store: str | Path,
    config: TrainingConfig | None = None,
    *,
    version: str | None = None,
    seed: int | None = None,
    epochs: int | None = None,
    progress: bool | Reporter = True,
) -> dict[str, Any]:
    """Train NER + sentiment from `config`, write a new version to `store`, return its card.

    The version is stored, not promoted: what workers serve changes only by a promotion
    that announces it (`stream.models.promote`, `feedback train --promote`).

    `seed` and `epochs` override the config's; `version` defaults to `version_id(config)`;
    `progress`: True for bars and lines on stderr, False for silence, or a `Reporter`.
    """
    import torch

    overrides: dict[str, Any] = {}
    if seed is not None:
        overrides["data.seed"] = seed
    if epochs is not None:
        overrides |= {"sentiment.epochs": epochs, "encoder.epochs": epochs, "ner.epochs": epochs}
    config = (config or load_config()).with_overrides(overrides)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny ops: one thread is fastest and avoids oversubscription
    try:
        return _train(store, config, version or version_id(config), as_reporter(progress))
    finally:
        torch.set_num_threads(threads)


def _train(
    store: str | Path, config: TrainingConfig, version: str, reporter: Reporter
) -> dict[str, Any]:
    from .enricher import FeedbackModel
    from .evaluation import evaluate_dev_sets

    started = time.perf_counter()
    files = data_files(config)
    data = TrainingData.load(config, files)
    reporter.line(f"training {version}: " + ", ".join(f"{k} {v}" for k, v in data.counts().items()))

    nlp = load_base(config.ner.base)
    sentiment = train_sentiment_tier(nlp, data, config, reporter)
    entities = train_entities(nlp, data, config, reporter)
    # The team's labelled names join the catalogue: found wherever they appear again.
    catalogue = read_catalogue(files["catalogue"]) + labelled_names(
        data.labels_train + data.labels_val
    )
    finish_pipeline(nlp, catalogue)
    val = entities.val_examples
    ner_metrics = score_ner(nlp, val, entities.labels) if val else {}
    reporter.line(f"ner + catalogue: val F1 {ner_metrics.get('f', float('nan')):.3f}")

    metrics: dict[str, Any] = {"validation": {"sentiment": sentiment.metrics, "ner": ner_metrics}}
    model = FeedbackModel(
        version,
        nlp,
        sentiment.head,
        uncertain_below=config.inference.uncertain_below,
        max_chars=config.inference.max_chars,
        batch_size=config.inference.batch_size,
    )
    for name, report in evaluate_dev_sets(model).items():
        metrics[name] = {k: report[k] for k in DEV_METRICS}
        reporter.line(
            f"{name}: sentiment acc {report['sentiment_accuracy']:.3f} macro-F1 "
            f"{report['sentiment_macro_f1']:.3f}, ORG+PRODUCT F1 {report['ner_f1']:.3f}"
        )

    model_store = ModelStore(store)
    with model_store.writing(version) as tmp:
        save_pipeline(nlp, tmp / "spacy", config.ner.base)
        save_sentiment(sentiment.head, tmp, SENTIMENT_LABELS)
        card = write_card(
            tmp,
            model_card(
                version=version,
                config=config,
                nlp=nlp,
                sentiment=sentiment,
                entities=entities,
                catalogue_entries=len(catalogue),
                files=files,
                data=data,
                metrics=metrics,
                training_seconds=time.perf_counter() - started,
            ),
        )
    reporter.line(f"stored {version} in {model_store.root} ({card['training_seconds']} s)")
    return card
