"""The spaCy side: pipeline assembly, the product catalogue and registered components.

Default pipeline (all that `enrich` needs; tagger/parser/lemmatizer are dropped):

    tokenizer -> ner (en_core_web_sm's, fine-tuned)
              -> entity_tidy, entity_bounds        trim the statistical spans
              -> catalogue, catalogue_lower,       span_rulers: known names
                 catalogue_words
              -> brand_cues                        unknown brands from their context
              -> product_extender                  "Volvo" + "EX30" -> "Volvo EX30"
              -> entity_filter                     drop references, headers, places...

`catalogue` is spaCy's `span_ruler` writing to `doc.ents` with our registered
filter `feedback.longest_ents_filter.v1`: on overlap the longer span wins, on a
tie the catalogue wins (it fixes labels such as a brand tagged PERSON, while a
longer statistical span like "iPhone 15 Pro" beats a catalogue "iPhone"). The
statistical spans are trimmed before the catalogue sees them, so that "uber eats
drivr" becomes "uber eats" and meets the catalogue's "Uber Eats".

The rule components live one per module: `entity_bounds`, `entity_cues` (brand_cues),
`entity_filter`, with the words they share in `entity_words`. Each takes the English
lexicon from the base package's lemmatizer tables; none has weights, so a stored model
runs the rules of the code that loads it.
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path

import spacy
from spacy.language import Language
from spacy.tokens import Doc, Span
from spacy.util import filter_spans, registry

from . import entity_bounds, entity_cues, entity_filter  # noqa: F401  (register factories)
from .entity_words import (
    CATALOGUE_WORDS,
    DURATION_UNITS,
    MODEL_SUFFIXES,
    is_code,
    load_lexicon,
    pipeline_package,
)
from .schema import Record

#: The rule components, in pipeline order, before and after the catalogue's rulers.
BEFORE_CATALOGUE = ("entity_tidy", "entity_bounds")
AFTER_CATALOGUE = ("brand_cues", "product_extender", "entity_filter")
CATALOGUE_PIPES = ("catalogue", "catalogue_lower", CATALOGUE_WORDS)


@registry.misc("feedback.longest_ents_filter.v1")
def make_longest_ents_filter():
    """Merge catalogue matches into doc.ents: longest span wins, ties go to the catalogue."""

    def longest_ents_filter(entities: Iterable[Span], spans: Iterable[Span]) -> list[Span]:
        return filter_spans(itertools.chain(spans, entities))

    return longest_ents_filter


_CUT = frozenset(".!?;:,")
_POSSESSIVE = frozenset(["'s", "’s", "'", "’"])


# Names of people and places are capitalised in feedback; in lowercase these labels are
# the base model's guesses on ordinary words ("meh" PERSON, "smart meter" PERSON, "us" GPE).
# Lowercase brands and products ("spotify", "iphone") are ORG/PRODUCT and are kept.
_CAPITALISED_LABELS = frozenset({"PERSON", "GPE", "NORP", "LOC", "FAC"})


@Language.component("entity_tidy")
def entity_tidy(doc: Doc) -> Doc:
    """Trim entities: cut at sentence punctuation, drop a trailing possessive, and drop
    entities without a letter or digit (a lone emoji or control character) and
    people/places written without a capital letter."""
    ents = []
    for ent in doc.ents:
        end = next((t.i for t in ent if t.i > ent.start and t.text in _CUT), ent.end)
        while end > ent.start + 1 and doc[end - 1].lower_ in _POSSESSIVE:
            end -= 1
        span = Span(doc, ent.start, end, label=ent.label_, span_id=ent.id_)
        if not any(ch.isalnum() for ch in span.text):
            continue
        if span.label_ in _CAPITALISED_LABELS and not any(ch.isupper() for ch in span.text):
            continue
        ents.append(span)
    doc.ents = ents
    return doc


def _is_model_part(token) -> bool:
    """Tokens that continue a product name: numbers (not "18 months"), codes, capitalised
    suffixes (Pro, Max)."""
    if token.is_digit and len(token.text) <= 4:
        nxt = token.doc[token.i + 1] if token.i + 1 < len(token.doc) else None
        return nxt is None or nxt.lower_ not in DURATION_UNITS
    if token.lower_ in MODEL_SUFFIXES and (token.is_title or token.is_upper):
        return True
    return is_code(token)


@Language.component("product_extender")
def product_extender(doc: Doc) -> Doc:
    """Grow product names over their model numbers and suffixes.

    "Steam Deck" + "OLED" -> PRODUCT "Steam Deck OLED"; ORG "Volvo" + "EX30" -> PRODUCT
    "Volvo EX30" (a brand followed by a model code names a product).  Hyphens inside
    codes ("CR-V") are kept when a code follows them.
    """
    ents = list(doc.ents)
    starts = {e.start: e for e in ents}
    absorbed: set[int] = set()  # starts of entities merged into the one before them
    out = []
    for ent in ents:
        if ent.start in absorbed:
            continue
        label, end = ent.label_, ent.end
        if label not in ("PRODUCT", "ORG"):
            out.append(ent)
            continue
        first = True
        while end < len(doc):
            tok, nxt = doc[end], starts.get(end)
            if nxt is not None:  # another entity: merge only a bare model suffix ("Classic")
                if nxt.label_ != "PRODUCT" or not all(_is_model_part(t) for t in nxt):
                    break
                absorbed.add(nxt.start)
                end = nxt.end
            elif tok.text == "-" and end + 1 < len(doc) and end + 1 not in starts:
                if not is_code(doc[end + 1]) or doc[end - 1].whitespace_ or tok.whitespace_:
                    break
                end += 2
            elif (label == "ORG" and first and is_code(tok)) or (
                (label == "PRODUCT" or not first) and _is_model_part(tok)
            ):
                end += 1
            else:
                break
            first = False
        if end > ent.end:
            label = "PRODUCT"
        out.append(Span(doc, ent.start, end, label=label, span_id=ent.id_))
    doc.ents = filter_spans(out)
    return doc


def customise_tokenizer(nlp: Language) -> Language:
    """Split a leading "@" ("@Ryanair" -> "@", "Ryanair") and a full stop after a model
    code ("4K." -> "4K", "."), so entity boundaries fall on token boundaries."""
    from spacy.util import compile_prefix_regex, compile_suffix_regex

    prefixes = [*nlp.Defaults.prefixes, r"@(?=\w)"]
    suffixes = [*nlp.Defaults.suffixes, r"(?<=[0-9A-Z][0-9A-Z])\."]
    nlp.tokenizer.prefix_search = compile_prefix_regex(prefixes).search
    nlp.tokenizer.suffix_search = compile_suffix_regex(suffixes).search
    return nlp


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


def labelled_names(records: Iterable[Record], min_chars: int = 2) -> list[dict]:
    """Catalogue entries for the names a team labelled (`[data] labels`): each distinct name
    (case-insensitively, its most frequent label and spelling) is found wherever it appears
    again, as the catalogue's brands are. Names under `min_chars` characters are left to the
    NER: alone they are ambiguous."""
    seen: dict[str, Counter] = {}
    for record in records:
        for start, end, label in record.entities or []:
            name = " ".join(record.text[start:end].split())
            if len(name) >= min_chars:
                seen.setdefault(name.lower(), Counter())[(name, label)] += 1
    return [
        {"name": name, "label": label}
        for (name, label), _ in (counts.most_common(1)[0] for counts in seen.values())
    ]


def catalogue_patterns(
    entries: Iterable[dict], is_word: Callable[[str], bool] = lambda name: True
) -> tuple[list[dict], list[dict], list[dict]]:
    """Phrase patterns: (exact-case, case-insensitive, ordinary-word).

    A name is matched in any case when asked (`"ignore_case": true`) or when it cannot be
    an ordinary word: it has a digit or an inner capital (iPhone, PS5), or no word of it is
    English by `is_word` ("walmart", "deliveroo"). The other names ("Amazon", "Three") are
    matched as written, and also in any case as ordinary-word patterns, which `brand_cues`
    accepts only in a brand's context ("ordered from amazon"), so "apple pie" stays out.
    """
    exact, lower, words = [], [], []
    for entry in entries:
        name, label = entry["name"].strip(), entry["label"]
        pattern = {"label": label, "pattern": name, "id": name}
        exact.append(pattern)
        parts = [part for part in name.split() if len(part) > 2]
        distinctive = (
            any(c.isdigit() for c in name)
            or any(c.isupper() for c in name[1:])
            or (bool(parts) and not any(is_word(part) for part in parts))
        )
        (lower if entry.get("ignore_case", distinctive) else words).append(pattern)
    return exact, lower, words


def add_catalogue(nlp: Language, entries: Iterable[dict], name: str = "catalogue") -> None:
    """Append (or extend) the catalogue's three span_rulers.

    Phrase matchers only (token patterns are ~20x slower): `<name>` matches ORTH and
    `<name>_lower` LOWER, both writing to doc.ents; `catalogue_words` matches LOWER into
    `doc.spans["catalogue_words"]` for `brand_cues` to confirm.
    """
    lexicon = load_lexicon(pipeline_package(nlp))
    exact, lower, words = catalogue_patterns(entries, lexicon.is_word)
    rulers = (
        (name, "ORTH", exact, None),
        (f"{name}_lower", "LOWER", lower, None),
        (CATALOGUE_WORDS, "LOWER", words, CATALOGUE_WORDS),
    )
    for pipe_name, attr, patterns, spans_key in rulers:
        if pipe_name not in nlp.pipe_names:
            nlp.add_pipe(
                "span_ruler",
                name=pipe_name,
                config={
                    "spans_key": spans_key,
                    "annotate_ents": spans_key is None,
                    "ents_filter": {"@misc": "feedback.longest_ents_filter.v1"},
                    "phrase_matcher_attr": attr,
                    "overwrite": False,
                },
            )
        if patterns:
            nlp.get_pipe(pipe_name).add_patterns(patterns)


def load_base(name: str) -> Language:
    """The base pipeline (the config's `ner.base`, an en_core_web_sm) with only the NER:
    it has its own tok2vec, nothing else is needed."""
    unused = ["tok2vec", "tagger", "parser", "attribute_ruler", "lemmatizer", "senter"]
    return customise_tokenizer(spacy.load(name, exclude=unused))


def save_pipeline(nlp: Language, path: Path, base: str) -> None:
    """`nlp.to_disk(path)`, keeping only the base model's strings plus our labels.

    spaCy's string store remembers every token ever processed, including the
    training texts (tweets, user names, URLs); none of it is needed to load and run
    the pipeline, so it is not written out.
    """
    from spacy.util import get_package_path

    nlp.to_disk(path)
    strings_file = path / "vocab" / "strings.json"
    base_dir = get_package_path(base)
    base_strings = (
        next(base_dir.glob("*/vocab/strings.json"), None) or base_dir / "vocab/strings.json"
    )
    keep = set(json.loads(base_strings.read_text("utf-8")))
    for _, pipe in nlp.pipeline:
        keep.update(getattr(pipe, "labels", ()))
    saved = json.loads(strings_file.read_text("utf-8"))
    strings_file.write_text(json.dumps([s for s in saved if s in keep]), "utf-8")


def finish_pipeline(nlp: Language, catalogue: Iterable[dict]) -> Language:
    """Put the rule components and the catalogue after a trained `ner`, in the order of the
    module docstring. Rule and catalogue pipes already there are replaced, so a stored
    model of an older revision can be brought up to this one in memory."""
    for name in (*BEFORE_CATALOGUE, *CATALOGUE_PIPES, *AFTER_CATALOGUE):
        if name in nlp.pipe_names:
            nlp.remove_pipe(name)
    for name in BEFORE_CATALOGUE:
        nlp.add_pipe(name)
    add_catalogue(nlp, catalogue)
    for name in AFTER_CATALOGUE:
        nlp.add_pipe(name)
    return nlp
