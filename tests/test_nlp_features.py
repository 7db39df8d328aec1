"""Sentiment features: negation scope, normalisation, stable hashing."""

from __future__ import annotations

import subprocess
import sys

import spacy

from nlp.features import FeatureConfig, doc_ids, doc_terms, hash_feature

nlp = spacy.blank("en")


def terms(text: str) -> list[str]:
    return doc_terms(nlp.make_doc(text))


def test_negation_scope_is_marked_until_punctuation() -> None:
    assert terms("This is not good, but fine") == [
        "this", "is", "not", "neg_good", ",", "but", "fine"
    ]  # fmt: skip
    assert "neg_worth" in terms("Not worth the money.")
    assert "neg_complain" in terms("can't complain")


def test_normalisation() -> None:
    assert terms("@united sooooo late http://x.co #fail 2024") == [
        "<user>", "soo", "late", "<url>", "#", "fail", "0000"
    ]  # fmt: skip
    assert terms("\x00\x01 \u200b") == []


def test_hash_is_stable_across_processes() -> None:
    here = hash_feature("w:great", 2**18)
    code = "from nlp.features import hash_feature; print(hash_feature('w:great', 2**18))"
    there = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert int(there.stdout) == here


def test_empty_doc_gets_reserved_bucket() -> None:
    assert doc_ids(nlp.make_doc("   "), FeatureConfig()) == [0]
    ids = doc_ids(nlp.make_doc("great phone"), FeatureConfig(n_buckets=1024))
    assert ids and all(0 < i < 1024 for i in ids)
