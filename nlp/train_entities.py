"""Training the entity recogniser: the base model's `ner` fine-tuned on feedback + synthetic
spans, with teacher-labelled tweets replayed against forgetting, early-stopped on val F1."""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass

from spacy.language import Language
from spacy.training import Example

from .config import TrainingConfig
from .corpus import TrainingData, with_entities
from .ner import NerEpoch, make_examples, rehearsal_examples, train_ner
from .pipeline import load_base
from .progress import Reporter


@dataclass
class EntityResult:
    labels: list[str]  # the annotated labels: the config's and any found in the data
    val_examples: list[Example]
    history: list[dict]


def train_entities(
    nlp: Language, data: TrainingData, config: TrainingConfig, reporter: Reporter
) -> EntityResult:
    """Fine-tune `nlp`'s ner in place."""
    nc, seed = config.ner, config.data.seed
    teacher = load_base(nc.base)
    annotated = data.feedback_train + data.feedback_val + data.labels_train + data.labels_val
    labels = sorted(set(nc.labels) | {e[2] for r in annotated for e in (r.entities or [])})

    records = with_entities(data.feedback_train) + data.synthetic_train[: nc.synthetic]
    rng = random.Random(seed)
    rehearsal = [t.text for t in rng.sample(data.tweets, min(nc.rehearsal, len(data.tweets)))]
    train = make_examples(nlp, records, teacher, labels)
    # The team's labels count `labels_weight` times: each is repeated that often (rounded).
    repeats = max(1, round(nc.labels_weight))
    train += make_examples(nlp, with_entities(data.labels_train), teacher, labels) * repeats
    train += rehearsal_examples(nlp, teacher, rehearsal, labels)
    val_records = with_entities(data.feedback_val + data.labels_val)
    val = make_examples(nlp, val_records, teacher, labels)

    def on_epoch(log: NerEpoch) -> None:
        reporter.line(
            f"ner epoch {log.epoch}: train loss {log.loss:.2f}  val {'+'.join(labels)} "
            f"F1 {log.val_f1:.3f}"
        )

    with reporter.progress(len(train) * nc.epochs, "ner") as advance:
        logs = train_ner(
            nlp,
            train,
            val,
            epochs=nc.epochs,
            dropout=nc.dropout,
            patience=nc.patience,
            seed=seed,
            val_labels=labels,
            on_epoch=on_epoch,
            progress=advance,
        )
    return EntityResult(labels, val, [asdict(log) for log in logs])
