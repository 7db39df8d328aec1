"""Implementations of `feedback train|evaluate|models` (argument parsing: stream/cli/models.py)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .errors import ConfigError, ModelError
from .schema import SENTIMENT_TIERS
from .store import ModelStore


def train_command(
    store: str | Path,
    *,
    data: Sequence[str] | None = None,
    epochs: int | None = None,
    seed: int | None = None,
    config: str | None = None,
    version: str | None = None,
    tier: str | None = None,
    soft_labels: str | None = None,
    report_dir: str | None = None,
    promote: Callable[[str], object] | None = None,
) -> int:
    """Train a version (progress bars, per-epoch losses), store it, optionally write a report.

    The version is stored, not promoted; `promote`, when given, is called with it once it
    is stored (`feedback train --promote` passes `stream.models.promote`, which announces).
    A config that cannot be read or breaks the schema: one `error:` line, exit status 2.
    """
    from .config import load_config
    from .corpus import check_data_files
    from .training import train_model

    overrides: dict[str, Any] = {}
    if seed is not None:
        overrides["data.seed"] = seed
    if epochs is not None:
        overrides |= {"sentiment.epochs": epochs, "encoder.epochs": epochs, "ner.epochs": epochs}
    if tier is not None:
        overrides["sentiment.tier"] = tier
    if soft_labels is not None:
        overrides["data.soft_labels"] = str(Path(soft_labels).resolve())
    try:
        cfg = load_config(config, overrides)
        if data:
            cfg = cfg.with_overrides({"data.labels": [*cfg.data.labels, *team_files(data)]})
        check_data_files(cfg)
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
        reports = evaluate_reports(store, card["version"], None)
        print_reports(reports, report_dir, card.get("history"))
    return 0


def team_files(paths: Sequence[str]) -> list[str]:
    """`--data` files as absolute paths: the team's labels (`[data] labels`, weighted as the
    config's `labels_weight` settings say).

    Raises `ConfigError` for a file that is missing or not labelled JSONL.
    """
    from .corpus import read_jsonl

    resolved = []
    for name in paths:
        path = Path(name).resolve()
        try:
            records = read_jsonl(path)
        except OSError as exc:
            raise ConfigError(f"--data {name}: {exc.strerror or exc}") from None
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(
                f"--data {name}: not labelled JSONL ({type(exc).__name__}: {exc}); each line is "
                '{"text": ..., "sentiment": ..., "entities": [...]}'
            ) from None
        if not records:
            raise ConfigError(f"--data {name}: no labelled texts in the file")
        resolved.append(str(path))
    return resolved


def distill_command(
    store: str | Path,
    teacher: str,
    out: str | Path,
    *,
    files: Sequence[str] = (),
    tweets: int = 0,
    synthetic: int = 0,
) -> int:
    """Write the teacher's soft labels on unlabelled text (`nlp.distill`) to `out`."""
    from .distill import unlabelled_texts, write_soft_labels
    from .enricher import load_enricher
    from .progress import ConsoleReporter

    try:
        model = load_enricher(store, teacher, tier="accurate")
    except ModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if model.tier != "accurate":
        print(f"error: {teacher} is a {model.tier}-tier model; the teacher must be an "
              "accurate one (`feedback train --tier accurate`)", file=sys.stderr)  # fmt: skip
        return 2
    for path in files:
        if not Path(path).is_file():
            print(f"error: no such file: {path}", file=sys.stderr)
            return 2
    items = unlabelled_texts(files, tweets=tweets, synthetic=synthetic)
    n = write_soft_labels(model, items, Path(out), ConsoleReporter())
    print(f"wrote {n} soft labels from {model.version} to {out}; train the fast tier on them "
          f"with `feedback train --soft-labels {out}`")  # fmt: skip
    return 0


def evaluate_command(
    store: str | Path,
    *,
    version: str | None = None,
    data: str | None = None,
    report_dir: str | None = None,
) -> int:
    """Report a version's metrics on `data`, or on every dev set (`nlp.corpus.DEV_SETS`)."""
    try:
        reports = evaluate_reports(store, version, data)
    except ModelError as exc:
        print(f"error: {exc}")
        return 1
    history = ModelStore(store).read_card(next(iter(reports.values()))["version"]).get("history")
    print_reports(reports, report_dir, history)
    return 0


def evaluate_reports(
    store: str | Path, version: str | None, data: str | None
) -> dict[str, dict[str, Any]]:
    """{set name: report}: the file given, else each dev set."""
    from .enricher import load_enricher
    from .evaluation import evaluate_dev_sets, evaluate_version

    if data:
        return {Path(data).stem: evaluate_version(store, version, data)}
    return evaluate_dev_sets(load_enricher(store, version))


def print_reports(
    reports: dict[str, dict[str, Any]], report_dir: str | None, history: dict | None
) -> None:
    """Each set's summary; with `report_dir`, its files in `report_dir/<set>/`."""
    from .evaluation import format_report, write_report

    for name, report in reports.items():
        print(f"== {name} ==")
        print(format_report(report))
        if report_dir:
            paths = write_report(report, Path(report_dir) / name, history)
            print("report: " + ", ".join(str(p) for p in paths))


def list_command(store: str | Path) -> int:
    from .store import tier_of

    model_store = ModelStore(store)
    versions = model_store.versions()
    if not versions:
        print(f"no models in {model_store.root}")
        return 0
    promoted = {model_store.promoted(tier) for tier in SENTIMENT_TIERS}
    print(
        f"{'':2}{'version':<20} {'tier':<8} {'created':<26} {'val acc':>7} {'dev acc':>7} "
        f"{'hard acc':>8} {'dev F1':>7}"
    )
    for v in versions:
        try:
            card = model_store.read_card(v)
            tier = tier_of(card)
        except ModelError as exc:
            print(f"  {v:<20} unreadable: {exc}")
            continue
        metrics = card.get("metrics", {})
        val = metrics.get("validation", {}).get("sentiment", {}).get("accuracy", float("nan"))
        dev, hard = metrics.get("dev", {}), metrics.get("dev_hard", {})
        acc, f1 = dev.get("sentiment_accuracy", float("nan")), dev.get("ner_f1", float("nan"))
        hard_acc = hard.get("sentiment_accuracy", float("nan"))
        mark = "* " if v in promoted else "  "
        print(
            f"{mark}{v:<20} {tier:<8} {card.get('created_at', ''):<26} {val:>7.3f} {acc:>7.3f} "
            f"{hard_acc:>8.3f} {f1:>7.3f}"
        )
    return 0
