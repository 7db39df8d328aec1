"""The rule components after the statistical NER, on hand-built docs."""

from __future__ import annotations

import spacy
from spacy.tokens import Span

from nlp.pipeline import entity_tidy


def _tidy(text: str, ents: list[tuple[int, int, str]]) -> list[tuple[str, str]]:
    doc = spacy.blank("en")(text)
    doc.ents = [Span(doc, start, end, label=label) for start, end, label in ents]
    doc = entity_tidy(doc)
    return [(e.text, e.label_) for e in doc.ents]


def test_tidy_drops_lowercase_people_and_places_but_keeps_lowercase_brands() -> None:
    assert _tidy("meh", [(0, 1, "PERSON")]) == []
    assert _tidy("the smart meter died", [(1, 3, "PERSON")]) == []
    assert _tidy("spotify keeps crashing", [(0, 1, "PRODUCT")]) == [("spotify", "PRODUCT")]
    assert _tidy("evri lost it", [(0, 1, "ORG")]) == [("evri", "ORG")]
    assert _tidy("Ask Jamal in Leeds", [(1, 2, "PERSON"), (3, 4, "GPE")]) == [
        ("Jamal", "PERSON"),
        ("Leeds", "GPE"),
    ]


def test_tidy_cuts_at_punctuation_and_possessives() -> None:
    assert _tidy("Love Sonos's app", [(1, 3, "ORG")]) == [("Sonos", "ORG")]
    assert _tidy("Pixel 8 . Great", [(0, 4, "PRODUCT")]) == [("Pixel 8", "PRODUCT")]
    assert _tidy("🔥 ok", [(0, 1, "ORG")]) == []


def test_extender_does_not_take_a_duration_for_a_model_number() -> None:
    from nlp.pipeline import product_extender

    def extend(text: str, ents: list[tuple[int, int, str]]) -> list[tuple[str, str]]:
        doc = spacy.blank("en")(text)
        doc.ents = [Span(doc, start, end, label=label) for start, end, label in ents]
        return [(e.text, e.label_) for e in product_extender(doc).ents]

    assert extend("Had the Volvo EX30 18 months", [(2, 3, "ORG")]) == [("Volvo EX30", "PRODUCT")]
    assert extend("the Pixel 8 is great", [(1, 2, "PRODUCT")]) == [("Pixel 8", "PRODUCT")]
    assert extend("the Acme Cannon 18 months now", [(1, 3, "PRODUCT")]) == [
        ("Acme Cannon", "PRODUCT")
    ]
