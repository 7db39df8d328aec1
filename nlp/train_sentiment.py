"""Training the sentiment ensemble: pre-training on tweets, one member per fold, calibration.

With `folds = k > 1` the hand-written feedback (train + val split together) is cut into k
stratified folds; member i is early-stopped and temperature-scaled on fold i and trained on
the rest plus synthetic text, so every example trains k - 1 members. The reported
validation metrics are out-of-fold: each text is scored by the member that did not see it.
`folds = 1` trains one member on the [data] train/val split.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from spacy.language import Language

from .config import TrainingConfig
from .corpus import TrainingData, assign_folds, data_path, with_sentiment
from .distill import read_soft_labels, soft_records
from .features import FeatureConfig, batch_ids
from .progress import Reporter
from .schema import SENTIMENT_LABELS, Record
from .sentiment import (
    EpochLog,
    SentimentData,
    SentimentEnsemble,
    TrainSettings,
    calibrate_ensemble,
    evaluate_split,
    fit_temperature,
    macro_f1,
    predict_logits,
    train_classifier,
)

# The [sentiment] settings that make up the feature config and each classifier's training.
FEATURE_SETTINGS = {"n_buckets", "bigrams", "char_ngrams", "max_tokens"}
TRAIN_SETTINGS = {"dim", "dropout", "epochs", "batch_size", "lr", "patience"}
# Below this many validation examples per member, synthetic ones are added to the
# validation split so that early stopping and calibration have something to go on.
MIN_VALIDATION = 60


@dataclass
class SentimentResult:
    classifier: SentimentEnsemble
    features: FeatureConfig
    metrics: dict[str, float]
    history: list[dict]


def train_sentiment(
    nlp: Language, data: TrainingData, config: TrainingConfig, reporter: Reporter
) -> SentimentResult:
    """Train the ensemble on `data` as `config` says; `nlp` only tokenises."""
    sc, dc = config.sentiment, config.data
    n_labels = len(SENTIMENT_LABELS)
    features = FeatureConfig(**sc.model_dump(include=FEATURE_SETTINGS))
    settings = TrainSettings(**sc.model_dump(include=TRAIN_SETTINGS), seed=dc.seed)

    def featurise(records: Sequence[Record], weight: float = 1.0) -> SentimentData:
        return _featurise(nlp, features, records, weight)

    # The (train, val) pair of each member; every member also trains on the extra text.
    extra = featurise(data.synthetic_train[: dc.synthetic], dc.synthetic_weight)
    if dc.tweet_weight > 0:
        extra.add(featurise(data.tweets, dc.tweet_weight))
    if dc.soft_labels and dc.soft_label_weight > 0:
        extra.add(_distilled(nlp, features, data_path(dc.soft_labels), dc.soft_label_weight))
    if sc.folds == 1:
        train = featurise(data.feedback_train)
        train.add(featurise(data.labels_train, sc.labels_weight))
        val = featurise(data.feedback_val)
        val.add(featurise(data.labels_val, sc.labels_weight))
        splits = [(train, val)]
    else:
        # Feedback and labels are cut into folds each, so that every fold holds its share
        # of the team's labels and the feedback's folds do not depend on them.
        feedback = with_sentiment(data.feedback_train + data.feedback_val)
        labels = with_sentiment(data.labels_train + data.labels_val)
        everything = featurise(feedback)
        everything.add(featurise(labels, sc.labels_weight))
        folds = assign_folds(feedback, sc.folds, dc.seed) + assign_folds(labels, sc.folds, dc.seed)
        splits = [
            (everything.subset([f != i for f in folds]), everything.subset([f == i for f in folds]))
            for i in range(sc.folds)
        ]
    for train, val in splits:
        train.add(extra)
        if len(val) < MIN_VALIDATION:
            val.add(featurise(data.synthetic_val))

    # Pre-training: every member starts from one classifier trained on the tweets.
    pretrained = None
    pretrain_epochs = sc.pretrain_epochs if data.tweets else 0
    if pretrain_epochs:
        tweets = featurise(data.tweets)
        pre = replace(settings, epochs=pretrain_epochs, patience=pretrain_epochs)
        total = len(tweets) * pretrain_epochs
        with reporter.progress(total, "sentiment pre-training (tweets)") as advance:
            pretrained, _ = train_classifier(
                tweets, splits[0][1], features.n_buckets, n_labels, pre, progress=advance
            )

    # The members: each trained, early-stopped and calibrated on its own split, then
    # scored on its validation split (out of fold).
    members, history = [], []
    gold: list[int] = []
    predicted: list[int] = []
    total_loss = 0.0
    total = sum(len(train) for train, _ in splits) * settings.epochs
    with reporter.progress(total, "sentiment") as advance:
        for member, (train, val) in enumerate(splits):

            def on_epoch(log: EpochLog, member: int = member) -> None:
                reporter.line(_epoch_line(member, len(splits), log))

            model, logs = train_classifier(
                train,
                val,
                features.n_buckets,
                n_labels,
                replace(settings, seed=settings.seed + member),
                on_epoch=on_epoch,
                progress=advance,
                model=copy.deepcopy(pretrained) if pretrained is not None else None,
            )
            history += [{"member": member, **asdict(log)} for log in logs]
            fit_temperature(model, val)
            loss, _, _ = evaluate_split(model, val)
            total_loss += loss * len(val)
            gold += val.labels
            predicted += predict_logits(model, val.ids).argmax(-1).tolist()
            members.append(model)

    n = len(gold)
    accuracy = sum(g == p for g, p in zip(gold, predicted, strict=True)) / max(n, 1)
    f1 = macro_f1(gold, predicted, n_labels)
    ensemble = SentimentEnsemble(members)
    if with_sentiment(data.calibration):  # else each member keeps its out-of-fold temperature
        calibrate_ensemble(ensemble, featurise(data.calibration))
    reporter.line(
        f"sentiment: {len(members)} member(s), out-of-fold val acc {accuracy:.3f} macro-F1 "
        f"{f1:.3f}, temperatures {', '.join(f'{t:.2f}' for t in ensemble.temperatures)}"
    )
    metrics = {"accuracy": accuracy, "macro_f1": f1, "loss": total_loss / max(n, 1), "n": n}
    return SentimentResult(ensemble, features, metrics, history)


def _featurise(
    nlp: Language, features: FeatureConfig, records: Sequence[Record], weight: float
) -> SentimentData:
    """Bucket ids and label index of each record that has a sentiment."""
    records = with_sentiment(records)
    ids = batch_ids(nlp.tokenizer.pipe((r.text for r in records), batch_size=1000), features)
    out = SentimentData()
    out.extend(ids, [SENTIMENT_LABELS.index(r.sentiment) for r in records], weight)
    return out


def _distilled(nlp: Language, features: FeatureConfig, path: Path, weight: float) -> SentimentData:
    """The accurate tier's soft labels (`nlp.distill`) as examples with soft targets."""
    texts, probs = soft_records(read_soft_labels(path))
    ids = batch_ids(nlp.tokenizer.pipe(texts, batch_size=1000), features)
    out = SentimentData()
    out.extend(ids, [max(range(len(p)), key=p.__getitem__) for p in probs], weight, probs)
    return out


def _epoch_line(member: int, members: int, log: EpochLog) -> str:
    return (
        f"sentiment member {member + 1}/{members} epoch {log.epoch}: train loss "
        f"{log.train_loss:.4f}  val loss {log.val_loss:.4f}  acc "
        f"{log.val_accuracy:.3f}  macro-F1 {log.val_macro_f1:.3f}"
    )
