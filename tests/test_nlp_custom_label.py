"""spaCy's NER training recipe: a blank English pipeline learns a brand-new label (GADGET)."""

from __future__ import annotations

import spacy

from nlp.config import load_config
from nlp.ner import make_examples, train_ner
from nlp.schema import Record

TRAIN = [
    ("I just bought a new iPhone", [(20, 26, "GADGET")]),
    ("My Pixel phone broke yesterday", [(3, 8, "GADGET")]),
    ("The Kindle is great for reading", [(4, 10, "GADGET")]),
    ("She loves her Fitbit", [(14, 20, "GADGET")]),
    ("Is the Roomba worth it?", [(7, 13, "GADGET")]),
    ("He dropped his iPad on the floor", [(15, 19, "GADGET")]),
    ("We got a Chromecast for the kitchen", [(9, 19, "GADGET")]),
    ("nothing to see here", []),
]


def test_blank_pipeline_learns_gadget() -> None:
    nlp = spacy.blank("en")
    nlp.add_pipe("ner")
    examples = make_examples(nlp, [Record(text, None, spans) for text, spans in TRAIN])
    history = train_ner(nlp, examples, epochs=30, dropout=0.1, seed=0)

    losses = [h.loss for h in history]
    assert "GADGET" in nlp.get_pipe("ner").labels
    assert min(losses[-5:]) < losses[0] / 10, losses  # losses fall
    found = [(e.text, e.label_) for e in nlp("I want a new iPad and a Kindle").ents]
    assert ("iPad", "GADGET") in found and ("Kindle", "GADGET") in found


def test_pretrained_ner_gets_new_label_without_losing_old_ones() -> None:
    """Adding GADGET to en_core_web_sm's NER (with teacher rehearsal) keeps e.g. GPE and DATE."""
    from nlp.ner import rehearsal_examples
    from nlp.pipeline import load_base

    base = load_config().ner.base
    nlp, teacher = load_base(base), load_base(base)
    records = [Record(text, None, spans) for text, spans in TRAIN]
    examples = make_examples(nlp, records, teacher, annotated_labels=["GADGET"])
    examples += rehearsal_examples(
        nlp,
        teacher,
        ["I flew to Paris on Monday.", "Berlin is lovely in May.", "We met in London last week."],
        unsure=[],
    )
    train_ner(nlp, examples, epochs=15, dropout=0.1, seed=0)
    ents = {(e.text, e.label_) for e in nlp("I dropped my iPad in Paris on Monday").ents}
    assert ("iPad", "GADGET") in ents
    assert ("Paris", "GPE") in ents
