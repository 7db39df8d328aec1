"""Sentiment features: spaCy tokens -> normalised strings -> hashed bucket ids.

fastText-style: unigrams and bigrams of normalised tokens, with negation
scope marking ("not good" -> "not neg_good"), plus character n-grams of each
word so that typos and inflections share buckets.  Only the tokenizer's
output is used, so the features are available from any pipeline's `Doc`.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable
from dataclasses import asdict, dataclass

from spacy.tokens import Doc

NEGATORS = frozenset({
    "not", "no", "never", "n't", "cannot", "cant", "dont", "doesnt", "didnt", "isnt", "wasnt",
    "wont", "wouldnt", "shouldnt", "couldnt", "aint", "nothing", "nobody", "none", "neither", "nor",
    "without", "hardly", "barely",
})  # fmt: skip
SCOPE_ENDS = frozenset(".,!?;:()[]-—–") | {"but", "however", "although", "though", "yet"}
_REPEATS = re.compile(r"(.)\1{2,}")
_DIGITS = re.compile(r"\d")


@dataclass(frozen=True)
class FeatureConfig:
    """How texts become bucket ids; stored with the model so inference matches training."""

    n_buckets: int = 2**18
    bigrams: bool = True
    char_ngrams: tuple[int, ...] = (3, 4)
    max_tokens: int = 512

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> FeatureConfig:
        data = dict(data)
        data["char_ngrams"] = tuple(data.get("char_ngrams", ()))
        return cls(**data)


def normalise(token) -> str | None:
    """Map a spaCy token to a normalised string, or None to skip it."""
    if token.is_space:
        return None
    text = token.lower_
    if not text.strip() or not text.isprintable():
        text = "".join(ch for ch in text if ch.isprintable()).strip()
        if not text:
            return None
    if token.like_url:
        return "<url>"
    if token.like_email:
        return "<email>"
    if text.startswith("@") and len(text) > 1:
        return "<user>"
    if text.startswith("#") and len(text) > 1:
        text = text[1:]
    text = _REPEATS.sub(r"\1\1", text)
    return _DIGITS.sub("0", text)


def doc_terms(doc: Doc, max_tokens: int = 512) -> list[str]:
    """Normalised tokens with negation scope marked by a `neg_` prefix."""
    terms: list[str] = []
    negated = False
    for token in doc[:max_tokens]:
        term = normalise(token)
        if term is None:
            continue
        if term in SCOPE_ENDS:
            negated = False
            terms.append(term)
        elif term in NEGATORS or term.endswith("n't"):
            negated = True
            terms.append(term)
        else:
            terms.append("neg_" + term if negated else term)
    return terms


def term_features(terms: list[str], config: FeatureConfig) -> list[str]:
    """Feature strings for one document: unigrams, bigrams and char n-grams."""
    feats = ["w:" + t for t in terms]
    if config.bigrams and terms:
        padded = ["<s>", *terms, "</s>"]
        feats += ["b:" + a + " " + b for a, b in zip(padded, padded[1:], strict=False)]
    for term in terms:
        word = "<" + term.removeprefix("neg_") + ">"
        for n in config.char_ngrams:
            feats += ["c:" + word[i : i + n] for i in range(max(len(word) - n + 1, 0))]
    return feats


def hash_feature(feature: str, n_buckets: int) -> int:
    """Stable (process-independent) hash of a feature string into [1, n_buckets)."""
    return 1 + zlib.crc32(feature.encode("utf-8", "surrogatepass")) % (n_buckets - 1)


def doc_ids(doc: Doc, config: FeatureConfig) -> list[int]:
    """Bucket ids for one document (bucket 0 is reserved for the empty document)."""
    feats = term_features(doc_terms(doc, config.max_tokens), config)
    return [hash_feature(f, config.n_buckets) for f in feats] or [0]


def batch_ids(docs: Iterable[Doc], config: FeatureConfig) -> list[list[int]]:
    return [doc_ids(doc, config) for doc in docs]
