"""Evaluation: sentiment accuracy / macro-F1 / confusion matrix, entity P/R/F1, speed, plots."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from .corpus import DEV_SET, DEV_SETS, read_jsonl
from .enricher import FeedbackModel, load_enricher
from .schema import SENTIMENT_LABELS, Enrichment, Record


def prf(tp: int, fp: int, fn: int) -> dict[str, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": p, "recall": r, "f1": f, "support": tp + fn}


def sentiment_metrics(gold: Sequence[str], pred: Sequence[str]) -> dict[str, Any]:
    labels = list(SENTIMENT_LABELS)
    matrix = [[0] * len(labels) for _ in labels]
    for g, p in zip(gold, pred, strict=True):
        matrix[labels.index(g)][labels.index(p)] += 1
    per_label = {}
    for i, label in enumerate(labels):
        tp = matrix[i][i]
        fp = sum(matrix[j][i] for j in range(len(labels))) - tp
        fn = sum(matrix[i]) - tp
        per_label[label] = prf(tp, fp, fn)
    n = len(gold)
    return {
        "n": n,
        "accuracy": sum(matrix[i][i] for i in range(len(labels))) / n if n else 0.0,
        "macro_f1": sum(m["f1"] for m in per_label.values()) / len(labels),
        "per_label": per_label,
        "confusion_matrix": {"labels": labels, "rows_gold_cols_pred": matrix},
    }


Span = tuple[int, int, str]


def maker_and_model(spans: Iterable[Span], text: str) -> set[Span]:
    """An ORG directly followed by a PRODUCT ("Bosch" "Serie 6") as one PRODUCT span.

    Applied to gold and predicted spans alike, so that a maker + model counts as right
    whether it is written as one PRODUCT or as ORG + PRODUCT.
    """
    ordered = sorted(spans)
    out: set[Span] = set()
    i = 0
    while i < len(ordered):
        start, end, label = ordered[i]
        if i + 1 < len(ordered):
            nstart, nend, nlabel = ordered[i + 1]
            if (
                label == "ORG"
                and nlabel == "PRODUCT"
                and end <= nstart
                and not text[end:nstart].strip()
            ):
                out.add((start, nend, "PRODUCT"))
                i += 2
                continue
        out.add((start, end, label))
        i += 1
    return out


def entity_metrics(
    gold: Iterable[Iterable[Span]],
    pred: Iterable[Iterable[Span]],
    labels: Sequence[str],
    texts: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Exact-span (start, end, label) micro P/R/F1 over `labels`, and per label.

    With `texts`, a maker + model may be one PRODUCT or ORG + PRODUCT (`maker_and_model`).
    """
    counts = {label: [0, 0, 0] for label in labels}
    gold, pred = list(gold), list(pred)
    if texts is not None:
        gold = [maker_and_model(g, t) for g, t in zip(gold, texts, strict=True)]
        pred = [maker_and_model(p, t) for p, t in zip(pred, texts, strict=True)]
    for g_doc, p_doc in zip(gold, pred, strict=True):
        g = {s for s in g_doc if s[2] in counts}
        p = {s for s in p_doc if s[2] in counts}
        for label in labels:
            gl = {s for s in g if s[2] == label}
            pl = {s for s in p if s[2] == label}
            counts[label][0] += len(gl & pl)
            counts[label][1] += len(pl - gl)
            counts[label][2] += len(gl - pl)
    total = [sum(c[i] for c in counts.values()) for i in range(3)]
    return {"micro": prf(*total), "per_label": {k: prf(*v) for k, v in counts.items()}}


def evaluate_model(
    model: FeedbackModel,
    records: Sequence[Record],
    labels: Sequence[str] = ("ORG", "PRODUCT"),
    batch_size: int = 64,
) -> dict[str, Any]:
    """All metrics of `model` on labelled records (+ throughput in docs/s)."""
    texts = [r.text for r in records]
    outputs: list[Enrichment] = []
    started = time.perf_counter()
    for i in range(0, len(texts), batch_size):
        outputs += model.enrich(texts[i : i + batch_size])
    seconds = time.perf_counter() - started
    s_pairs = [(r.sentiment, o) for r, o in zip(records, outputs, strict=True) if r.sentiment]
    sentiment = sentiment_metrics([g for g, _ in s_pairs], [o.sentiment.label for _, o in s_pairs])
    e_pairs = [(r, o) for r, o in zip(records, outputs, strict=True) if r.entities is not None]
    gold_spans = [r.entities or [] for r, _ in e_pairs]
    pred_spans = [[(e.start, e.end, e.label) for e in o.entities] for _, o in e_pairs]
    entities = entity_metrics(gold_spans, pred_spans, labels, [r.text for r, _ in e_pairs])
    exact = entity_metrics(gold_spans, pred_spans, labels)
    uncertain = sum(o.sentiment.uncertain for _, o in s_pairs)
    return {
        "version": model.version,
        "n_docs": len(records),
        "sentiment": sentiment,
        "entities": entities,
        "entities_exact": exact,
        "uncertain_fraction": uncertain / len(s_pairs) if s_pairs else 0.0,
        "calibration": calibration(s_pairs),
        "docs_per_second": len(texts) / seconds if seconds else 0.0,
        "errors": _errors(records, outputs)[:50],
        # Flat keys for gates and dashboards.
        "sentiment_accuracy": sentiment["accuracy"],
        "sentiment_macro_f1": sentiment["macro_f1"],
        "ner_f1": entities["micro"]["f1"],
    }


def calibration(pairs: Sequence[tuple[str, Enrichment]], bins: int = 10) -> dict[str, Any]:
    """Expected calibration error of the top-class probability, with its reliability table."""
    table = [[0, 0.0, 0] for _ in range(bins)]  # count, sum confidence, correct
    for gold, out in pairs:
        conf = out.sentiment.scores[out.sentiment.label]
        row = table[min(int(conf * bins), bins - 1)]
        row[0] += 1
        row[1] += conf
        row[2] += gold == out.sentiment.label
    n = sum(r[0] for r in table) or 1
    ece = sum(abs(r[1] - r[2]) for r in table) / n
    return {
        "ece": ece,
        "bins": [
            {"count": c, "confidence": s / c if c else None, "accuracy": k / c if c else None}
            for c, s, k in table
        ],
    }


def _errors(records: Sequence[Record], outputs: Sequence[Enrichment]) -> list[dict]:
    errors = []
    for r, o in zip(records, outputs, strict=True):
        gold_ents = sorted((s, e, lab) for s, e, lab in r.entities or [])
        pred_ents = sorted(
            (e.start, e.end, e.label) for e in o.entities if e.label in {"ORG", "PRODUCT"}
        )
        if (r.sentiment and r.sentiment != o.sentiment.label) or (
            r.entities is not None and gold_ents != pred_ents
        ):
            errors.append(
                {
                    "text": r.text,
                    "gold_sentiment": r.sentiment,
                    "pred_sentiment": o.sentiment.label,
                    "gold_entities": [(r.text[s:e], lab) for s, e, lab in gold_ents],
                    "pred_entities": [(r.text[s:e], lab) for s, e, lab in pred_ents],
                }
            )
    return errors


def evaluate_version(
    store: str | Path, version: str | None = None, data: str | Path | None = None
) -> dict[str, Any]:
    """Load a stored version and evaluate it on `data` (default: nlp/data/dev.jsonl)."""
    return evaluate_model(load_enricher(store, version), read_jsonl(data or DEV_SET))


def evaluate_dev_sets(model: FeedbackModel) -> dict[str, dict[str, Any]]:
    """The model's report on each held-out dev set (`corpus.DEV_SETS`) that exists."""
    return {
        name: evaluate_model(model, read_jsonl(path))
        for name, path in DEV_SETS.items()
        if path.exists()
    }


# --- reports ----------------------------------------------------------------------------------


def write_report(
    report: dict[str, Any], out_dir: str | Path, history: dict | None = None
) -> list[Path]:
    """Write report.json, a confusion-matrix PNG and (given a training history) learning curves."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "report.json"]
    written[0].write_text(json.dumps(report, indent=2, default=float) + "\n", "utf-8")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if "sentiment" in report:
        cm = report["sentiment"]["confusion_matrix"]
        fig, ax = plt.subplots(figsize=(4.5, 4))
        ax.imshow(cm["rows_gold_cols_pred"], cmap="Blues")
        ticks = range(len(cm["labels"]))
        ax.set_xticks(ticks, cm["labels"])
        ax.set_yticks(ticks, cm["labels"])
        ax.set_xlabel("predicted")
        ax.set_ylabel("gold")
        for i, row in enumerate(cm["rows_gold_cols_pred"]):
            for j, v in enumerate(row):
                ax.text(j, i, str(v), ha="center", va="center")
        ax.set_title(f"sentiment (acc {report['sentiment']['accuracy']:.2f})")
        fig.tight_layout()
        written.append(out / "confusion_matrix.png")
        fig.savefig(written[-1], dpi=100)
        plt.close(fig)
    if history:
        fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
        s = history.get("sentiment", [])
        members = sorted({h.get("member", 0) for h in s})
        for m in members:  # one set of curves per ensemble member, labelled once
            hs = [h for h in s if h.get("member", 0) == m]
            epochs = [h["epoch"] for h in hs]
            for key, label, colour in (
                ("train_loss", "train loss", "tab:blue"),
                ("val_loss", "val loss", "tab:orange"),
                ("val_macro_f1", "val macro-F1", "tab:green"),
            ):
                values = [h[key] for h in hs]
                axes[0].plot(
                    epochs, values, color=colour, alpha=0.7, label=label if m == 0 else None
                )
        if s:
            axes[0].set_title(f"sentiment ({len(members)} member(s))")
            axes[0].set_xlabel("epoch")
            axes[0].legend()
        n = history.get("ner", [])
        if n:
            epochs = [h["epoch"] for h in n]
            ax2 = axes[1].twinx()
            axes[1].plot(epochs, [h["loss"] for h in n], color="tab:blue", label="train loss")
            ax2.plot(epochs, [h["val_f1"] for h in n], color="tab:orange", label="val F1")
            axes[1].set_title("ner")
            axes[1].set_xlabel("epoch")
            axes[1].set_ylabel("loss")
            ax2.set_ylabel("val F1")
        fig.tight_layout()
        written.append(out / "learning_curve.png")
        fig.savefig(written[-1], dpi=100)
        plt.close(fig)
    return written


def format_report(report: dict[str, Any]) -> str:
    """A plain-text summary for the terminal."""
    s, e = report["sentiment"], report["entities"]
    lines = [
        f"model {report['version']} on {report['n_docs']} docs "
        f"({report['docs_per_second']:.0f} docs/s)",
        f"sentiment: accuracy {s['accuracy']:.3f}  macro-F1 {s['macro_f1']:.3f}  "
        f"ECE {report['calibration']['ece']:.3f}",
    ]
    for label, m in s["per_label"].items():
        lines.append(
            f"  {label:<9} P {m['precision']:.3f}  R {m['recall']:.3f}  "
            f"F1 {m['f1']:.3f}  n={m['support']}"
        )
    cm = s["confusion_matrix"]
    lines.append("  confusion (rows gold, cols pred): " + " ".join(cm["labels"]))
    for label, row in zip(cm["labels"], cm["rows_gold_cols_pred"], strict=True):
        lines.append(f"    {label:<9} " + " ".join(f"{v:>5}" for v in row))
    m = e["micro"]
    lines.append(
        f"entities (ORG+PRODUCT, maker + model as one PRODUCT or two spans): micro P "
        f"{m['precision']:.3f}  R {m['recall']:.3f}  F1 {m['f1']:.3f}"
    )
    for label, m in e["per_label"].items():
        lines.append(
            f"  {label:<9} P {m['precision']:.3f}  R {m['recall']:.3f}  "
            f"F1 {m['f1']:.3f}  n={m['support']}"
        )
    if "entities_exact" in report:
        m = report["entities_exact"]["micro"]
        lines.append(
            f"  exact spans only: P {m['precision']:.3f}  R {m['recall']:.3f}  F1 {m['f1']:.3f}"
        )
    return "\n".join(lines)
