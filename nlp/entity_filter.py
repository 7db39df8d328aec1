"""`entity_filter`: drop the ORG/PRODUCT spans that are not names, and relabel places.

Runs after the catalogue and `product_extender`. Catalogue matches (spans with an id)
are kept as they are: the catalogue is the one place that may name "Three" or "Next".

Dropped:

* references, whatever their label bar numbers and dates: "Ticket #", "Order 55812",
  "Reference 55-1029", "TKT-20931", "Update 7.3", "v2.14", and error codes next to "error"
  or "code" ("error E15");
* e-mail headers, greetings and interjections: "Subject", "Re", "FYI", "Kudos", "ngl", and
  "Meh" whatever its label;
* generic acronyms of laws, money and technology: "GDPR", "ISA", "VAT", "4G", "PDF";
* amounts and units: "920 Mbps", "50,000 Avios" (a lone word right after a number);
* sales and dates: "Black Friday", "Spring Sale";
* an ordinary English word that opens a sentence ("Kudos to...", "Perfect fit", "Hotel was
  spotless"), unless the text also writes it with a capital mid-sentence.

Relabelled PRODUCT: a "person" right after a verb of buying or installing ("Bought
Starfield").

Relabelled ORG: a lone name that acts as a company, before a maker's, courier's or service
noun ("my Vaillant boiler", "the Evri driver", "Zendesk support") or a company's verb
("Cupra told me"): the data's conventions keep PRODUCT for the thing used ("Spotify keeps
logging me out").

Relabelled GPE: a capitalised name after "in", "near", "around"... and without a model suffix
("a week in Cornwall",
"near Sea Point", "in Lisbon and Porto"), or a word that is a noun and nothing else in the
lexicon after "to" or "at" ("flights to Budapest") unless a verb of buying, switching or
writing precedes it ("switched to Octopus", "wrote to Octopus"); not when a brand noun
follows ("in the Octopus app" is the company).
"""

from __future__ import annotations

import re

from spacy.language import Language
from spacy.tokens import Doc, Span, Token

from .entity_words import (
    AUXILIARIES,
    BUY_VERBS,
    COMPANY_NOUNS,
    COMPANY_VERBS,
    CONTACT_VERBS,
    DATE_WORDS,
    GENERIC_TERMS_UPPER,
    HEADER_WORDS,
    LOCATIVES,
    MODEL_SUFFIXES,
    RECORD_WORDS,
    SWITCH_VERBS,
    UNITS,
    USE_VERBS,
    VERB_FILLERS,
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
_NUMERIC = frozenset({"CARDINAL", "ORDINAL", "MONEY", "PERCENT", "QUANTITY", "DATE", "TIME"})
#: Prepositions after which a capitalised name is a place, whatever it is: "in Leeds",
#: "near Sea Point". (After "to" and "at" only a word that is a noun and nothing else is:
#: "flights to Budapest" but "switched to Kagi", "at Tesco".)
PLACE_PREPOSITIONS = frozenset({"in", "near", "around", "outside", "across"})
#: Verbs after which "to X", "at X" names a company, not a place: "switched to", "wrote to".
_NOT_TO_PLACES = BUY_VERBS | SWITCH_VERBS | CONTACT_VERBS
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
            elif ent.label_ == "PERSON" and is_used_product(ent):
                kept.append(Span(doc, ent.start, ent.end, label="PRODUCT"))
            elif ent.label_ not in _LABELS and ent.label_ not in _NUMERIC and is_reference(ent):
                continue  # "TKT-20931" as NORP
            elif ent.label_ not in _LABELS:
                kept.append(ent)
            elif self.is_place(ent, kept):
                kept.append(Span(doc, ent.start, ent.end, label="GPE"))
            elif is_company(ent):
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
        "Hotel was spotless", "Courier left a card"); not an acronym ("EA"), nor a word that
        acts as a company ("Spirit cancelled", "Sky still haven't fixed"), nor one the text
        also capitalises mid-sentence."""
        doc, tok = ent.doc, ent[0]
        if len(ent) != 1 or tok.is_upper or not opens_clause(tok):
            return False
        if is_role_noun(tok.text, self.lexicon):
            return True
        if not self.lexicon.is_word(tok.text):
            return False
        verb, after_auxiliary = verb_after(doc, tok.i + 1)
        if verb is not None and (
            verb.lower_ in COMPANY_VERBS
            or (not after_auxiliary and self.lexicon.is_finite_verb(verb.text))
        ):
            return False
        return not any(t.text == tok.text and not opens_clause(t) for t in doc if t.i != tok.i)

    def is_place(self, ent: Span, before: list[Span]) -> bool:
        """A place name after a preposition of place (see the module docstring)."""
        doc = ent.doc
        if ent.start == 0 or not all(t.is_title for t in ent):
            return False
        if any(t.lower_ in MODEL_SUFFIXES for t in ent[1:]):  # "in Notion Plus": a product
            return False
        nxt = doc[ent.end] if ent.end < len(doc) else None
        if nxt is not None and (nxt.lower_ in ("'s", "’s") or is_role_noun(nxt.text, self.lexicon)):
            return False
        prev = doc[ent.start - 1]
        if prev.lower_ in ("and", "or", ",", "&"):
            return bool(before) and before[-1].label_ in _PLACE_LABELS and before[-1].end == prev.i
        if prev.lower_ in PLACE_PREPOSITIONS:
            return True
        if prev.lower_ not in LOCATIVES or len(ent) != 1:
            return False
        if self.lexicon.readings(ent.text) != {"noun"}:
            return False
        window = doc[max(0, prev.i - VERB_WINDOW) : prev.i]
        return not any(t.lower_ in _NOT_TO_PLACES for t in window)


def is_company(ent: Span) -> bool:
    """A lone name, not a model code, that acts as a company: before a maker's, courier's
    or service noun ("the Vaillant boiler", "the Evri driver", "Zendesk support", "the
    Domino's app") or a company's verb ("Cupra told me", "X have charged me twice")."""
    doc = ent.doc
    if len(ent) != 1 or is_code(ent[0]) or ent.end >= len(doc):
        return False
    nxt = doc[ent.end]
    if nxt.lower_ in ("'s", "’s") and ent.end + 1 < len(doc):
        nxt = doc[ent.end + 1]
    if nxt.is_lower and nxt.text in COMPANY_NOUNS:
        return True
    verb, _ = verb_after(doc, ent.end)
    return verb is not None and verb.lower_ in COMPANY_VERBS


def is_used_product(ent: Span) -> bool:
    """A "person" right after a verb of buying or installing: "Bought Starfield"."""
    return ent.start > 0 and ent.doc[ent.start - 1].lower_ in USE_VERBS


def verb_after(doc: Doc, i: int) -> tuple[Token | None, bool]:
    """The first token from `i` on that is neither an adverb such as "still" nor an auxiliary
    (at most four tokens on), and whether an auxiliary was passed: "Sky still haven't fixed"
    -> ("fixed", True)."""
    auxiliary = False
    for tok in doc[i : i + 4]:
        if tok.lower_ in AUXILIARIES:
            auxiliary = True
        elif tok.lower_ not in VERB_FILLERS:
            return tok, auxiliary
    return None, auxiliary


def is_reference(ent: Span) -> bool:
    """A ticket, order, case or version number, or a record word alone ("Ticket #")."""
    first = ent[0].lower_.strip("#:.")
    if first in RECORD_WORDS:
        return all(
            not has_letter(t.text)
            or any(ch.isdigit() for ch in t.text)
            or is_code(t)
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
