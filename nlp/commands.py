"""Implementations of `feedback train|evaluate|models` (argument parsing: stream/cli/models.py)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .errors import ConfigError, ModelError
from .store import ModelStore


def train_command(
    store: str | Path,
    *,
    data: Sequence[str] | None = None,
    epochs: int | None = None,
    seed: int | None = None,
    config: str | None = None,
    version: str | None = None,
    report_dir: str | None = None,
    promote: Callable[[str], object] | None = None,
) -> int:
    """Train a version (progress bars, per-epoch losses), store it, optionally write a report.

    The version is stored, not promoted; `promote`, when given, is called with it once it
    is stored (`feedback train --promote` passes `stream.models.promote`, which announces).
    A config that cannot be read or breaks the schema: one `error:` line, exit status 2.
    """
    from .config import load_config
    from .evaluation import evaluate_version, format_report, write_report
    from .training import train_model

    overrides: dict[str, Any] = {}
    if data:
        overrides["data.feedback"] = [str(Path(p).resolve()) for p in data]
    if seed is not None:
        overrides["data.seed"] = seed
    if epochs is not None:
        overrides |= {"sentiment.epochs": epochs, "ner.epochs": epochs}
    try:
        cfg = load_config(config, overrides)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    card = train_model(store, cfg, version=version)
    print(f"trained {card['version']} in {card['training_seconds']} s -> {Path(store)}")
    print(json.dumps(card["metrics"]["validation"], indent=2, default=float))
    if promote is None:
        print(f"not promoted: `feedback models promote {card['version']}` serves it")
    else:
        promote(card["version"])
    if report_dir:
        report = evaluate_version(store, card["version"])
        print(format_report(report))
        paths = write_report(report, report_dir, card.get("history"))
        print("report: " + ", ".join(str(p) for p in paths))
    return 0


def evaluate_command(
    store: str | Path,
    *,
    version: str | None = None,
    data: str | None = None,
    report_dir: str | None = None,
) -> int:
    from .evaluation import evaluate_version, format_report, write_report

    try:
        report = evaluate_version(store, version, data)
    except ModelError as exc:
        print(f"error: {exc}")
        return 1
    print(format_report(report))
    if report_dir:
        history = ModelStore(store).read_card(report["version"]).get("history")
        paths = write_report(report, report_dir, history)
        print("report: " + ", ".join(str(p) for p in paths))
    return 0


def list_command(store: str | Path) -> int:
    model_store = ModelStore(store)
    versions = model_store.versions()
    if not versions:
        print(f"no models in {model_store.root}")
        return 0
    promoted = model_store.promoted()
    print(f"{'':2}{'version':<20} {'created':<26} {'val acc':>7} {'dev acc':>7} {'dev F1':>7}")
    for v in versions:
        try:
            card = model_store.read_card(v)
        except ModelError as exc:
            print(f"  {v:<20} unreadable: {exc}")
            continue
        metrics = card.get("metrics", {})
        val = metrics.get("validation", {}).get("sentiment", {}).get("accuracy", float("nan"))
        dev = metrics.get("dev", {})
        acc, f1 = dev.get("sentiment_accuracy", float("nan")), dev.get("ner_f1", float("nan"))
        mark = "* " if v == promoted else "  "
        print(f"{mark}{v:<20} {card.get('created_at', ''):<26} {val:>7.3f} {acc:>7.3f} {f1:>7.3f}")
    return 0
