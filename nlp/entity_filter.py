"""`entity_filter`: drop the ORG/PRODUCT spans that are not names, and relabel places.

Runs after the catalogue and `product_extender`. Catalogue matches (spans with an id)
are kept as they are: the catalogue is the one place that may name "Three" or "Next".

Dropped:

* references: "Ticket #", "Order 55812", "Reference 55-1029", "TKT-20931", "Update 7.3",
  "v2.14", and error codes next to "error"/"code" ("error E15");
* e-mail headers, greetings and interjections: "Subject", "Re", "FYI", "Kudos", "ngl", and
  "Meh" whatever its label;
* generic acronyms of laws, money and technology: "GDPR", "ISA", "VAT", "4G", "PDF";
* amounts and units: "920 Mbps", "50,000 Avios" (a lone word right after a number);
* sales and dates: "Black Friday", "Spring Sale";
* an ordinary English word that opens a sentence ("Kudos to...", "Perfect fit", "Hotel was
  spotless"), unless the text also writes it with a capital mid-sentence.

Relabelled ORG: a lone name before a maker's or courier's noun ("my Vaillant boiler", "the
Evri driver"): the company, as the data's conventions say.

Relabelled GPE: a capitalised word that is a noun and nothing else in the lexicon, after
a preposition of place ("flights to Budapest", "a week in Cornwall", "in Lisbon and Porto"),
unless a verb of buying or switching precedes it or a brand noun follows it ("in Octopus
support").
"""

from __future__ import annotations

import re

from spacy.language import Language
from spacy.tokens import Doc, Span

from .entity_words import (
    BUY_VERBS,
    DATE_WORDS,
    GENERIC_TERMS_UPPER,
    HEADER_WORDS,
    LOCATIVES,
    MAKER_NOUNS,
    PROVIDER_PREPOSITIONS,
    RECORD_WORDS,
    SWITCH_VERBS,
    UNITS,
    VERB_WINDOW,
    Lexicon,
    has_letter,
    is_code,
    is_role_noun,
    load_lexicon,
    opens_clause,
    pipeline_package,
)

#: "TKT-20931", "REF-883102", "INV-2024-0093", "#99102".
REFERENCE_CODE = re.compile(r"^(#\w*\d\w*|[A-Za-z]{2,6}-\d{3,}([-/]\d+)*)$")
#: "7.3", "v2.14", "3.2.1", "v2".
VERSION = re.compile(r"^(v?\d+(\.\d+)+[a-z]?|v\d+)$", re.IGNORECASE)
#: "40,000", "50k", "1.5m".
AMOUNT = re.compile(r"^[\d][\d,.]*[km]?$", re.IGNORECASE)
#: Words around an error code: "error E15", "E24 error", "shows F28".
ERROR_WORDS = frozenset({
    "error", "errors", "code", "codes", "fault", "faults", "shows", "showing", "show",
    "displays", "displaying", "flashing", "flashes", "throws", "throwing",
})  # fmt: skip
#: Last words of a sale or an event rather than a name.
EVENT_WORDS = frozenset({"sale", "sales", "deal", "deals", "event", "offer", "offers", "weekend"})

_LABELS = frozenset({"ORG", "PRODUCT"})
_PLACE_LABELS = frozenset({"GPE", "LOC", "FAC"})


@Language.factory("entity_filter", default_config={"lexicon": ""})
def make_entity_filter(nlp: Language, name: str, lexicon: str) -> EntityFilter:
    """`lexicon`: the spaCy package whose lemmatizer tables list English words ("" = the
    package this pipeline was built from)."""
    return EntityFilter(load_lexicon(lexicon or pipeline_package(nlp)))


class EntityFilter:
    def __init__(self, lexicon: Lexicon) -> None:
        self.lexicon = lexicon

    def __call__(self, doc: Doc) -> Doc:
        kept: list[Span] = []
        for ent in doc.ents:
            if ent.id_:  # a catalogue match
                kept.append(ent)
            elif len(ent) == 1 and ent.text.lower() in HEADER_WORDS:
                continue
            elif ent.label_ not in _LABELS:
                kept.append(ent)
            elif self.is_place(ent, kept):
                kept.append(Span(doc, ent.start, ent.end, label="GPE"))
            elif is_maker(ent):
                kept.append(Span(doc, ent.start, ent.end, label="ORG"))
            elif not self.is_false_name(ent):
                kept.append(ent)
        doc.ents = kept
        return doc

    def is_false_name(self, ent: Span) -> bool:
        return (
            is_reference(ent)
            or is_error_code(ent)
            or ent[0].text.upper() in GENERIC_TERMS_UPPER
            or is_amount(ent)
            or is_event(ent)
            or self.is_sentence_word(ent)
        )

    def is_sentence_word(self, ent: Span) -> bool:
        """A lone ordinary word capitalised only because it opens the sentence ("Kudos to",
        "Hotel was spotless"); not an acronym ("EA"), nor a word that acts ("Spirit
        cancelled", "Octopus changed"), nor one the text also capitalises mid-sentence."""
        doc, tok = ent.doc, ent[0]
        if len(ent) != 1 or tok.is_upper or not opens_clause(tok):
            return False
        if not self.lexicon.is_word(tok.text):
            return False
        if tok.i + 1 < len(doc) and self.lexicon.is_finite_verb(doc[tok.i + 1].text):
            return False
        return not any(t.text == tok.text and not opens_clause(t) for t in doc if t.i != tok.i)

    def is_place(self, ent: Span, before: list[Span]) -> bool:
        """A place name after a preposition of place (see the module docstring)."""
        doc, tok = ent.doc, ent[0]
        if len(ent) != 1 or not tok.is_title or tok.i == 0:
            return False
        if self.lexicon.readings(tok.text) != {"noun"}:
            return False
        nxt = doc[tok.i + 1] if tok.i + 1 < len(doc) else None
        if nxt is not None and (nxt.lower_ in ("'s", "’s") or is_role_noun(nxt.text, self.lexicon)):
            return False
        prev = doc[tok.i - 1]
        if prev.lower_ in ("and", "or", ",", "&"):
            return bool(before) and before[-1].label_ in _PLACE_LABELS and before[-1].end == prev.i
        if prev.lower_ not in LOCATIVES:
            return False
        if prev.lower_ not in PROVIDER_PREPOSITIONS:
            return True
        window = doc[max(0, prev.i - VERB_WINDOW) : prev.i]
        return not any(t.lower_ in BUY_VERBS or t.lower_ in SWITCH_VERBS for t in window)


def is_maker(ent: Span) -> bool:
    """A lone name, not a model code, before a maker's or courier's noun: "the Vaillant
    boiler", "the Evri driver" name the company."""
    doc = ent.doc
    if len(ent) != 1 or ent.label_ == "ORG" or is_code(ent[0]) or ent.end >= len(doc):
        return False
    nxt = doc[ent.end]
    return nxt.is_lower and nxt.text in MAKER_NOUNS


def is_reference(ent: Span) -> bool:
    """A ticket, order, case or version number, or a record word alone ("Ticket #")."""
    first = ent[0].lower_.strip("#:.")
    if first in RECORD_WORDS:
        return all(
            not has_letter(t.text)
            or t.lower_.strip("#:.") in RECORD_WORDS
            or REFERENCE_CODE.match(t.text)
            or VERSION.match(t.text)
            for t in ent[1:]
        )
    return all(
        not has_letter(t.text) or REFERENCE_CODE.match(t.text) or VERSION.match(t.text) for t in ent
    )


def is_error_code(ent: Span) -> bool:
    """A lone code such as "E15" next to "error", "code", "shows"."""
    text = ent.text
    if len(ent) != 1 or len(text) > 5 or not has_letter(text):
        return False
    if not any(ch.isdigit() for ch in text):
        return False
    doc = ent.doc
    around = doc[max(0, ent.start - 2) : min(len(doc), ent.end + 2)]
    return any(t.lower_ in ERROR_WORDS for t in around)


def is_amount(ent: Span) -> bool:
    """Numbers and units ("920 Mbps"), or a lone word right after a number ("50,000 Avios")."""
    if all(AMOUNT.match(t.text) or t.lower_ in UNITS for t in ent):
        return True
    if len(ent) != 1 or ent.start == 0:
        return False
    prev = ent.doc[ent.start - 1]
    return bool(AMOUNT.match(prev.text)) and bool(prev.whitespace_)


def is_event(ent: Span) -> bool:
    """A sale or a day rather than a name: "Black Friday", "Spring Sale"."""
    return ent[-1].lower_ in EVENT_WORDS or any(t.lower_ in DATE_WORDS for t in ent)
