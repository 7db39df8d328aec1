"""NER training: a plain spaCy update loop over `Example`s, for any label set.

Works for a blank pipeline learning a brand-new label (e.g. GADGET) and for
fine-tuning en_core_web_sm's `ner` on feedback.  Forgetting is limited by
pseudo-rehearsal: a frozen copy of the base model ("teacher") labels the
entity types we do not annotate, in our training texts and in extra texts.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from spacy.language import Language
from spacy.scorer import get_ner_prf
from spacy.tokens import Doc, Span
from spacy.training import Example
from spacy.util import compounding, filter_spans, fix_random_seed, minibatch

from .schema import Record


@dataclass
class NerEpoch:
    epoch: int
    loss: float
    val_f1: float
    val_per_label: dict[str, dict[str, float]]


def gold_doc(nlp: Language, text: str, spans: Iterable[tuple[int, int, str]]) -> Doc:
    """A tokenised doc whose `ents` are the annotated spans (snapped to token bounds)."""
    doc = nlp.make_doc(text)
    ents = []
    for start, end, label in spans:
        span = doc.char_span(start, end, label=label, alignment_mode="expand")
        if span is not None:
            ents.append(span)
    doc.ents = filter_spans(ents)
    return doc


def make_examples(
    nlp: Language,
    records: Sequence[Record],
    teacher: Language | None = None,
    annotated_labels: Iterable[str] = ("ORG", "PRODUCT"),
) -> list[Example]:
    """Examples from annotated records, completed with the teacher's other labels.

    Records annotate `annotated_labels` completely; the teacher's predictions of
    *other* labels (DATE, MONEY, GPE, ...) that do not overlap the annotation are
    added so that fine-tuning does not teach "a date is not an entity".
    """
    annotated = set(annotated_labels)
    texts = [r.text for r in records]
    predicted = teacher.pipe(texts, batch_size=256) if teacher else (None for _ in texts)
    examples = []
    for record, pred in zip(records, predicted, strict=True):
        ref = gold_doc(nlp, record.text, record.entities or [])
        if pred is not None:
            extra = [
                Span(ref, e.start, e.end, label=e.label_)
                for e in pred.ents
                if e.label_ not in annotated
                and not any(e.start < g.end and g.start < e.end for g in ref.ents)
            ]
            ref.ents = sorted([*ref.ents, *extra])
        examples.append(Example(nlp.make_doc(record.text), ref))
    return examples


def rehearsal_examples(
    nlp: Language,
    teacher: Language,
    texts: Sequence[str],
    unsure: Iterable[str] = ("ORG", "PRODUCT"),
) -> list[Example]:
    """Texts labelled by the teacher; its `unsure` labels are marked missing, not negative."""
    unsure = set(unsure)
    examples = []
    for pred in teacher.pipe(texts, batch_size=256):
        ref = nlp.make_doc(pred.text)
        keep = [Span(ref, e.start, e.end, e.label_) for e in pred.ents if e.label_ not in unsure]
        missing = [Span(ref, e.start, e.end) for e in pred.ents if e.label_ in unsure]
        ref.set_ents(keep, missing=missing, default="outside")
        examples.append(Example(nlp.make_doc(pred.text), ref))
    return examples


def score_ner(
    nlp: Language, examples: Sequence[Example], labels: Iterable[str] | None = None
) -> dict:
    """Exact-span P/R/F1 (micro over `labels`, and per label) of `nlp` on gold examples."""
    keep = set(labels) if labels is not None else None
    preds = nlp.pipe((eg.reference.text for eg in examples), batch_size=256)
    scored = []
    for eg, pred in zip(examples, preds, strict=True):
        if keep is not None:
            pred.ents = [e for e in pred.ents if e.label_ in keep]
            ref = eg.reference.copy()
            ref.ents = [e for e in ref.ents if e.label_ in keep]
        else:
            ref = eg.reference
        scored.append(Example(pred, ref))
    prf = get_ner_prf(scored)
    return {
        "p": prf["ents_p"],
        "r": prf["ents_r"],
        "f": prf["ents_f"],
        "per_type": prf["ents_per_type"],
    }


def train_ner(
    nlp: Language,
    train: Sequence[Example],
    val: Sequence[Example] = (),
    *,
    epochs: int = 10,
    dropout: float = 0.2,
    patience: int = 3,
    seed: int = 0,
    val_labels: Iterable[str] | None = None,
    on_epoch: Callable[[NerEpoch], None] | None = None,
    progress: Callable[[int], object] | None = None,
) -> list[NerEpoch]:
    """Train (or fine-tune) the `ner` pipe on `train`; keep the epoch best on `val` (if any).

    New labels found in the examples are added first, so a blank pipeline or a
    pretrained one can learn a label it has never seen.
    """
    fix_random_seed(seed)
    rng = random.Random(seed)
    ner = nlp.get_pipe("ner")
    labels = {e.label_ for eg in train for e in eg.reference.ents}
    model = ner.model
    fresh = not (model.has_ref("upper") and model.get_ref("upper").has_dim("nO"))
    for label in sorted(labels - set(ner.labels)):
        ner.add_label(label)
    with nlp.select_pipes(enable=["ner"]):
        optimizer = nlp.initialize(lambda: train) if fresh else nlp.resume_training()
        history: list[NerEpoch] = []
        best, best_bytes, bad = -1.0, None, 0
        order = list(train)
        for epoch in range(1, epochs + 1):
            rng.shuffle(order)
            losses: dict[str, float] = {}
            for batch in minibatch(order, size=compounding(4.0, 32.0, 1.001)):
                nlp.update(batch, drop=dropout, sgd=optimizer, losses=losses)
                if progress:
                    progress(len(batch))
            if val:
                score = score_ner(nlp, val, val_labels)
                f1, per = score["f"], score["per_type"]
            else:
                f1, per = float("nan"), {}
            log = NerEpoch(epoch, float(losses.get("ner", 0.0)), f1, per)
            history.append(log)
            if on_epoch:
                on_epoch(log)
            if not val:
                continue
            if f1 > best + 1e-4:
                best, bad, best_bytes = f1, 0, ner.to_bytes()
            else:
                bad += 1
                if bad >= patience:
                    break
    if best_bytes is not None:
        ner.from_bytes(best_bytes)
    return history
