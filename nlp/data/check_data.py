#!/usr/bin/env python3
"""Validate JSONL evaluation files for the sentiment + entity task.

Each line must be a JSON object:
    {"text": str, "sentiment": "negative"|"neutral"|"positive",
     "entities": [{"start": int, "end": int, "label": "ORG"|"PRODUCT"}, ...],
     "source": str}

Checks: required fields and types, allowed labels, 0 <= start < end <= len(text),
non-overlapping spans, no leading/trailing whitespace inside spans, no duplicate
texts within a file, and (with several files) no text shared between files
(compared case-insensitively, whitespace-normalised).

Usage: python nlp/data/check_data.py FILE.jsonl [MORE.jsonl ...]
Exits with status 1 if any error is found.
"""

import json
import sys
from collections import Counter

# This script runs without the nlp package; tests/test_nlp_data.py checks that these equal
# nlp.schema.SENTIMENT_LABELS and the training config's [ner] labels.
SENTIMENTS = ("negative", "neutral", "positive")
LABELS = ("ORG", "PRODUCT")
REQUIRED = {"text": str, "sentiment": str, "entities": list, "source": str}


def norm(text):
    return " ".join(text.lower().split())


def check_entities(text, entities, where, errors):
    spans = []
    for j, ent in enumerate(entities):
        loc = "%s entity %d" % (where, j)
        if not isinstance(ent, dict):
            errors.append("%s: not an object" % loc)
            continue
        missing = {"start", "end", "label"} - set(ent)
        if missing:
            errors.append("%s: missing %s" % (loc, ", ".join(sorted(missing))))
            continue
        extra = set(ent) - {"start", "end", "label"}
        if extra:
            errors.append("%s: unexpected keys %s" % (loc, ", ".join(sorted(extra))))
        start, end, label = ent["start"], ent["end"], ent["label"]
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (start, end)):
            errors.append("%s: start/end must be integers" % loc)
            continue
        if label not in LABELS:
            errors.append("%s: label %r not in %s" % (loc, label, LABELS))
        if not (0 <= start < end <= len(text)):
            errors.append("%s: bad offsets %d..%d (len %d)" % (loc, start, end, len(text)))
            continue
        surface = text[start:end]
        if surface != surface.strip():
            errors.append("%s: span %r has leading/trailing whitespace" % (loc, surface))
        spans.append((start, end, label, surface))
    ordered = sorted(spans)
    for a, b in zip(ordered, ordered[1:]):
        if b[0] < a[1]:
            errors.append(
                "%s: overlapping spans %r [%d,%d) and %r [%d,%d)"
                % (where, a[3], a[0], a[1], b[3], b[0], b[1])
            )
    return spans


def check_file(path, errors):
    """Return (records, stats) for one file, appending problems to errors."""
    sentiments = Counter()
    labels = Counter()
    surfaces = set()
    texts = {}
    n = 0
    with_ents = 0
    try:
        fh = open(path, encoding="utf-8")
    except OSError as exc:
        errors.append("%s: cannot open (%s)" % (path, exc))
        return texts, None
    with fh:
        for lineno, line in enumerate(fh, 1):
            where = "%s:%d" % (path, lineno)
            if not line.strip():
                errors.append("%s: blank line" % where)
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                errors.append("%s: invalid JSON (%s)" % (where, exc))
                continue
            if not isinstance(rec, dict):
                errors.append("%s: not a JSON object" % where)
                continue
            n += 1
            bad = False
            for key, typ in REQUIRED.items():
                if key not in rec:
                    errors.append("%s: missing field %r" % (where, key))
                    bad = True
                elif not isinstance(rec[key], typ):
                    errors.append("%s: field %r must be %s" % (where, key, typ.__name__))
                    bad = True
            extra = set(rec) - set(REQUIRED)
            if extra:
                errors.append("%s: unexpected fields %s" % (where, ", ".join(sorted(extra))))
            text = rec.get("text")
            if isinstance(text, str):
                # Register the text even when other fields are broken, so
                # duplicate detection still sees it.
                if not text.strip():
                    errors.append("%s: empty text" % where)
                key = norm(text)
                if key in texts:
                    errors.append(
                        "%s: duplicate text (first seen on line %d)" % (where, texts[key])
                    )
                else:
                    texts[key] = lineno
            if bad:
                continue
            if rec["sentiment"] not in SENTIMENTS:
                errors.append("%s: sentiment %r not in %s" % (where, rec["sentiment"], SENTIMENTS))
            else:
                sentiments[rec["sentiment"]] += 1
            spans = check_entities(text, rec["entities"], where, errors)
            if spans:
                with_ents += 1
            for _, _, label, surface in spans:
                labels[label] += 1
                surfaces.add(surface)
    stats = {
        "records": n,
        "with_entities": with_ents,
        "sentiments": sentiments,
        "labels": labels,
        "distinct": len(surfaces),
    }
    return texts, stats


def report(path, stats):
    print("== %s" % path)
    print("  records: %d (with entities: %d)" % (stats["records"], stats["with_entities"]))
    print("  sentiment: " + ", ".join("%s=%d" % (s, stats["sentiments"][s]) for s in SENTIMENTS))
    print("  entity labels: " + ", ".join("%s=%d" % (l, stats["labels"][l]) for l in LABELS))
    print("  distinct entity strings: %d" % stats["distinct"])


def main(argv):
    if len(argv) < 2:
        print("usage: python nlp/data/check_data.py FILE.jsonl [MORE.jsonl ...]", file=sys.stderr)
        return 2
    errors = []
    seen = {}  # normalised text -> (path, line)
    for path in argv[1:]:
        texts, stats = check_file(path, errors)
        if stats is not None:
            report(path, stats)
        for key, lineno in texts.items():
            if key in seen and seen[key][0] != path:
                errors.append(
                    "%s:%d: text also appears in %s:%d" % (path, lineno, seen[key][0], seen[key][1])
                )
            else:
                seen.setdefault(key, (path, lineno))
    if errors:
        print("\n%d error(s):" % len(errors))
        for err in errors:
            print("  " + err)
        return 1
    print("\nOK: no errors")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
