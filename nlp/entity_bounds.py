"""`entity_bounds`: trim the statistical NER's ORG/PRODUCT spans to the name they contain.

Runs right after `ner` and `entity_tidy`, before the catalogue, so that a trimmed span and a
catalogue match of the same name meet with the same boundaries ("uber eats drivr" ->
"uber eats", which the catalogue then labels).

From the front it removes tokens without a letter ("18:40 Vueling", "40,000 Avios"),
lower-case fillers ("new zanussi"), header words ("FYI the Currys") and an inflected verb
that opens the sentence ("Bought Baldur's Gate 3", "Flew Wizz Air"). It cuts the span
before a currency sign ("Ticketmaster $22"), a number of days or months ("Ryanair 40
days"), an emoji or other symbol ("Deliveroo 🤡"), a pronoun "I" ("Swindon I've"), a noun
that follows brands ("deliveroo rider", "uber eats drivr", "Ring doorbell") and, in a name
written with a capital, before a lower-case word ("Costco on Elm Street", "Oura Ring
yesterday"), but not before a connector ("Bank of America"), a model suffix ("Mac mini") or
a hyphenated part ("e-tron"). A product cut down to a lone maker's name becomes ORG ("Ring
doorbell" -> "Ring"): the maker acting, as the data's conventions say.
"""

from __future__ import annotations

from spacy.language import Language
from spacy.tokens import Doc, Span, Token
from spacy.util import filter_spans

from .entity_words import (
    DURATION_UNITS,
    HEADER_WORDS,
    MODEL_SUFFIXES,
    NAME_CONNECTORS,
    Lexicon,
    has_letter,
    is_code,
    is_role_noun,
    load_lexicon,
    opens_clause,
    pipeline_package,
)

#: Lower-case words a span may wrongly start with: "my new zanussi".
LEADING_FILLERS = frozenset({
    "the", "a", "an", "my", "our", "your", "their", "his", "her", "its", "this", "that", "these",
    "those", "new", "old", "latest", "brand", "same", "another", "both", "every", "some",
})  # fmt: skip

#: Symbols inside names: "Ben & Jerry's", "Hulu + Live TV", "Nothing Ear (a)".
_KEPT_SYMBOLS = frozenset("&+()")
_OPENERS = frozenset("([{&")
_LABELS = frozenset({"ORG", "PRODUCT"})


@Language.factory("entity_bounds", default_config={"lexicon": ""})
def make_entity_bounds(nlp: Language, name: str, lexicon: str) -> EntityBounds:
    """`lexicon`: the spaCy package whose lemmatizer tables list English words ("" = the
    package this pipeline was built from)."""
    return EntityBounds(load_lexicon(lexicon or pipeline_package(nlp)))


class EntityBounds:
    def __init__(self, lexicon: Lexicon) -> None:
        self.lexicon = lexicon

    def __call__(self, doc: Doc) -> Doc:
        lowercase_text = not any(ch.isupper() for ch in doc.text)
        spans = []
        for ent in doc.ents:
            if ent.label_ not in _LABELS:
                spans.append(ent)
                continue
            start = self._start(doc, ent.start, ent.end)
            end = self._end(doc, start, ent.end, lowercase_text)
            while end > start and (
                doc[end - 1].lower_ in NAME_CONNECTORS or doc[end - 1].text in _OPENERS
            ):
                end -= 1
            if end <= start:
                continue
            label = ent.label_
            cut_noun = end < ent.end and is_role_noun(doc[end].text, self.lexicon)
            if label == "PRODUCT" and cut_noun and end - start == 1 and not is_code(doc[start]):
                label = "ORG"
            spans.append(Span(doc, start, end, label=label, span_id=ent.id_))
        doc.ents = filter_spans(spans)
        return doc

    def _start(self, doc: Doc, start: int, end: int) -> int:
        while end - start > 1:
            tok = doc[start]
            joined = not tok.whitespace_  # "7-Eleven": the number belongs to the name
            symbol = not has_letter(tok.text) and not joined
            filler = tok.is_lower and tok.lower_ in LEADING_FILLERS
            header = tok.lower_ in HEADER_WORDS  # "FYI the Currys"
            verb = tok.is_title and opens_clause(tok) and self.lexicon.is_verb_form(tok.text)
            if not (symbol or filler or header or verb):
                break
            start += 1
        return start

    def _end(self, doc: Doc, start: int, end: int, lowercase_text: bool) -> int:
        capitalised = any(ch.isupper() for ch in doc[start].text)
        for k in range(start + 1, end):
            if self._cuts(doc[k], capitalised and not lowercase_text):
                return k
        return end

    def _cuts(self, tok: Token, in_capitalised_name: bool) -> bool:
        """Whether a span must end before `tok`."""
        prev = tok.doc[tok.i - 1]
        apart = bool(prev.whitespace_)
        if tok.is_currency:
            return True
        nxt = tok.doc[tok.i + 1] if tok.i + 1 < len(tok.doc) else None
        if tok.like_num and nxt is not None and nxt.lower_ in DURATION_UNITS:  # "Ryanair 40 days"
            return True
        if not any(ch.isalnum() for ch in tok.text):
            return apart and tok.text not in _KEPT_SYMBOLS
        if tok.text == "I" and apart:
            nxt = tok.doc[tok.i + 1] if tok.i + 1 < len(tok.doc) else None
            return nxt is None or nxt.text[0] in "'’" or nxt.is_lower
        if tok.is_lower and is_role_noun(tok.text, self.lexicon):
            return True
        return (
            in_capitalised_name
            and apart
            and tok.is_lower
            and tok.is_alpha
            and tok.lower_ not in NAME_CONNECTORS
            and tok.lower_ not in MODEL_SUFFIXES
        )
