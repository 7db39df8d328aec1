"""`brand_cues`: brands that neither the NER nor the catalogue found, told by their context.

A name is found where the words around it say "a company": after a verb of buying or
switching and its preposition ("ordered a jacket from Carhartt", "booked a holiday with
tui", "switched from Evernote to Obsidian"), after "with"/"via"/"using" ("stuck on hold with
British Gas"), or before a brand noun, with or without a possessive ("the Hive app", "my
Tado account", "Zanussi's customer service", "the Smeg fridge"). The candidate must look
like a name: written with a capital mid-sentence, or not an English word at all ("tui",
"zanussi"), or a catalogue name that is also a word ("amazon": the catalogue's
`catalogue_words` spans), and it must not already be part of an entity. Found names are ORG:
the company, as the data's conventions say for "the Barclays app".
"""

from __future__ import annotations

from spacy.language import Language
from spacy.tokens import Doc, Span, Token
from spacy.util import filter_spans

from .entity_words import (
    BRAND_NOUNS,
    CATALOGUE_WORDS,
    DATE_WORDS,
    GENERIC_TERMS_UPPER,
    HEADER_WORDS,
    PEOPLE_WORDS,
    PROVIDER_PREPOSITIONS,
    PROVIDER_VERBS,
    RECORD_WORDS,
    SWITCH_VERBS,
    TRAVEL_VERBS,
    VERB_WINDOW,
    Lexicon,
    has_letter,
    is_role_noun,
    load_lexicon,
    opens_clause,
    pipeline_package,
)

#: Words after which a name is a company or an app whatever the verb: "on hold with X".
TOOL_WORDS = frozenset({"with", "via", "using", "thru", "through"})
#: NER labels that a brand found by its context replaces ("ordered from Carhartt" NORP).
RELABELLED = frozenset({"NORP", "FAC", "LOC", "WORK_OF_ART", "EVENT", "LAW", "LANGUAGE"})
#: Words before a lower-case name and its brand noun: "the tui app", "my zanussi account".
DETERMINERS = frozenset({"the", "my", "our", "your", "their", "his", "her", "a", "an", "this"})
#: The longest name looked for, in tokens.
MAX_NAME_TOKENS = 3

_CLAUSE_BREAKS = frozenset(".!?;:")


@Language.factory("brand_cues", default_config={"lexicon": ""})
def make_brand_cues(nlp: Language, name: str, lexicon: str) -> BrandCues:
    """`lexicon`: the spaCy package whose lemmatizer tables list English words ("" = the
    package this pipeline was built from)."""
    return BrandCues(load_lexicon(lexicon or pipeline_package(nlp)))


class BrandCues:
    def __init__(self, lexicon: Lexicon) -> None:
        self.lexicon = lexicon

    def __call__(self, doc: Doc) -> Doc:
        # Entities the NER gave a label that a brand may wrongly get ("Carhartt" NORP) can be
        # relabelled; people, places and names already ORG/PRODUCT are left as they are.
        relabel = {(e.start, e.end): e for e in doc.ents if e.label_ in RELABELLED}
        taken = {i for e in doc.ents if e.label_ not in RELABELLED for i in range(e.start, e.end)}
        words = {s.start: s.end for s in doc.spans.get(CATALOGUE_WORDS, [])}
        found: list[Span] = []
        for tok in doc:
            span = self._after(tok, words)
            if span is None:
                span = self._before(tok, words)
                if span is not None and span[0] - 1 in taken:  # "the Uniqlo heattech top"
                    continue
            if span is not None and not any(i in taken for i in range(span[0], span[1])):
                found.append(Span(doc, span[0], span[1], label="ORG"))
                taken.update(range(span[0], span[1]))
        if found:
            others = [e for e in doc.ents if (e.start, e.end) not in relabel]
            kept = [
                e
                for e in relabel.values()
                if not any(e.start < f.end and f.start < e.end for f in found)
            ]
            doc.ents = filter_spans([*others, *kept, *found])
        return doc

    def _after(self, tok: Token, words: dict[int, int]) -> tuple[int, int] | None:
        """A name right after "from/to/with..." that follows a verb of buying or switching."""
        word = tok.lower_
        if word not in PROVIDER_PREPOSITIONS and word not in TOOL_WORDS:
            return None
        verb = self._verb_before(tok)
        if word not in TOOL_WORDS and verb is None:
            return None
        if verb in TRAVEL_VERBS and word not in ("with", "on"):  # "flew to Lisbon"
            return None
        common_ok = verb in SWITCH_VERBS or word in TOOL_WORDS
        return self._name_from(tok.doc, tok.i + 1, words, common_ok)

    def _before(self, tok: Token, words: dict[int, int]) -> tuple[int, int] | None:
        """A name right before a brand noun ("app", "account", "customer service"); a name in
        lower case only after a determiner ("the tui app", not "for tatkal booking")."""
        if not tok.is_lower or tok.lower_ not in BRAND_NOUNS or tok.i == 0:
            return None
        doc, end = tok.doc, tok.i
        if doc[end - 1].lower_ in ("'s", "’s", "'", "’"):
            end -= 1
        span = self._name_to(doc, end, words)
        if span is None or not doc[span[0]].is_lower or span[0] in words:
            return span
        return span if span[0] > 0 and doc[span[0] - 1].lower_ in DETERMINERS else None

    def _verb_before(self, tok: Token) -> str | None:
        doc = tok.doc
        for i in range(tok.i - 1, max(-1, tok.i - 1 - VERB_WINDOW), -1):
            if doc[i].text in _CLAUSE_BREAKS:
                return None
            if doc[i].lower_ in PROVIDER_VERBS:
                return doc[i].lower_
        return None

    def _name_from(
        self, doc: Doc, i: int, words: dict[int, int], common_ok: bool
    ) -> tuple[int, int] | None:
        """The name that starts at token `i`, if one does."""
        if i >= len(doc):
            return None
        if i in words:
            return i, words[i]
        if not self.is_name_token(doc[i], common_ok):
            return None
        end = i + 1
        if doc[i].is_lower:
            return i, end
        while end < len(doc) and end - i < MAX_NAME_TOKENS:
            if _joins(doc, end) and self.is_name_token(doc[end + 1], True):
                end += 2  # "M-Pesa"
            elif _capitalised(doc[end]) and self.is_name_token(doc[end], True):
                end += 1
            else:
                break
        return i, end

    def _name_to(self, doc: Doc, end: int, words: dict[int, int]) -> tuple[int, int] | None:
        """The name that ends before token `end`, if one does."""
        for start, stop in words.items():
            if stop == end:
                return start, stop
        if end == 0 or not self.is_name_token(doc[end - 1], True):
            return None
        start = end - 1
        if doc[start].is_lower:
            return start, end
        while start > 0 and end - start < MAX_NAME_TOKENS:
            if start > 1 and _joins(doc, start - 2) and self.is_name_token(doc[start - 2], True):
                start -= 2
            elif _capitalised(doc[start - 1]) and self.is_name_token(doc[start - 1], True):
                start -= 1
            else:
                break
        return start, end

    def is_name_token(self, tok: Token, common_ok: bool) -> bool:
        """Whether `tok` can be (part of) a brand's name.

        `common_ok`: the context is strong enough for a capitalised English word ("switched
        to Three", "the Hive app"); otherwise only words that are not English are names.
        """
        text, low = tok.text, tok.lower_
        if not has_letter(text) or tok.is_punct or tok.like_num or low in _NOT_NAMES:
            return False
        if text.upper() in GENERIC_TERMS_UPPER or is_role_noun(text, self.lexicon):
            return False
        english = self.lexicon.is_word(text)
        if tok.is_lower:
            joined = not tok.whitespace_ and tok.i + 1 < len(tok.doc)  # "pre-book"
            return (
                not joined
                and tok.is_alpha
                and len(text) >= 3
                and not tok.is_stop
                and not english
                and not self.near_word(low)
            )
        if opens_clause(tok) or (tok.is_stop and len(text) < 4):
            return not english and not tok.is_stop
        return not english or common_ok

    def near_word(self, word: str) -> bool:
        """A misspelt English word ("delivry", "custmer"): one letter added or changed makes a
        word. Short words are left alone, as too many words lie one letter from them."""
        if len(word) < 4:
            return False
        letters = "abcdefghijklmnopqrstuvwxyz"
        candidates = [word[:k] + c + word[k:] for k in range(len(word) + 1) for c in letters]
        if len(word) >= 5:
            candidates += [word[:k] + c + word[k + 1 :] for k in range(len(word)) for c in letters]
        return any(w != word and self.lexicon.is_word(w) for w in candidates)


#: Words that are never a brand's name, capitalised or not.
_NOT_NAMES = HEADER_WORDS | RECORD_WORDS | DATE_WORDS | PEOPLE_WORDS | {"i", "u", "ur"}


def _capitalised(tok: Token) -> bool:
    return any(ch.isupper() for ch in tok.text)


def _joins(doc: Doc, k: int) -> bool:
    """Token `k` is a hyphen written inside a name: "M-Pesa"."""
    return (
        k + 1 < len(doc)
        and doc[k].text in ("-", "–")
        and not doc[k].whitespace_
        and k > 0
        and not doc[k - 1].whitespace_
    )
