"""`feedback labels import`: publish labelled feedback for retraining (stream/labels.py)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from stream.cli.common import Commands, connect
from stream.settings import UserError


def register(commands: Commands) -> None:
    parser = commands.add_parser("labels", help="labelled feedback for retraining")
    actions = parser.add_subparsers(dest="labels_command", required=True, metavar="COMMAND")
    parser = actions.add_parser("import", help="publish a JSONL file of labels")
    parser.add_argument("file", type=Path, help='JSONL of {"id", "text", "sentiment"?, ...}')
    parser.set_defaults(handler=import_labels)


def import_labels(args: argparse.Namespace) -> int:
    """Exit 0 when any label was published, 1 when every line was rejected."""
    import asyncio

    from stream.labels import import_labels as publish

    settings = args.settings
    if not args.file.is_file():
        raise UserError(f"{args.file}: no such file (give a JSONL file of labels)")
    connect(settings)
    sent, rejected = asyncio.run(publish(settings, args.file))
    for line, detail in rejected:
        print(f"line {line}: {detail}", file=sys.stderr)
    print(f"{sent} labels published to {settings.labels_topic}, {len(rejected)} rejected")
    return 1 if rejected and not sent else 0
