"""`feedback enrich`: a JSONL file through the worker's processing, offline (stream/offline.py)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from stream.cli.common import Commands


def register(commands: Commands) -> None:
    parser = commands.add_parser(
        "enrich",
        help="enrich a JSONL file offline, like the worker does",
        description="Enrich a JSONL file offline, like the worker does. The output is written "
        "to a temporary file that replaces --output only when all lines are done.",
    )
    parser.add_argument(
        "input", type=Path, help='JSONL file of {"id", "text", ...} objects, or - for stdin'
    )
    parser.add_argument(
        "--output", "-o", type=Path, required=True, help="enriched JSONL file, or - for stdout"
    )
    parser.add_argument("--dead-letters", type=Path, help="write rejected lines' DLQ records here")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.set_defaults(handler=enrich)


def enrich(args: argparse.Namespace) -> int:
    """Check the paths, load the model, enrich, print a summary line.

    Ctrl-C leaves the outputs as they were, and says so.
    """
    from stream.offline import STDIO, check_paths, enrich_file

    settings = args.settings
    check_paths(args.input, args.output, args.dead_letters)  # before the model loads
    from stream.app import limits_for
    from stream.model_loading import load_enricher

    try:
        enricher = load_enricher(settings)
        summary = enrich_file(
            args.input,
            args.output,
            enricher,
            limits_for(settings),
            batch_size=settings.batch_max,
            dead_letters=args.dead_letters,
            progress=not args.no_progress,
        )
    except KeyboardInterrupt:
        files = [str(p) for p in (args.output, args.dead_letters) if p not in (None, STDIO)]
        kept = f": {', '.join(files)} left as before" if files else ""
        print(f"interrupted{kept}", file=sys.stderr)
        return 130
    rate = summary.lines / summary.seconds if summary.seconds else 0.0
    rejected = ", ".join(f"{n} {reason}" for reason, n in summary.rejected.most_common()) or "none"
    written = "stdout" if args.output == STDIO else args.output
    print(
        f"{summary.enriched} enriched, {sum(summary.rejected.values())} rejected ({rejected}) "
        f"in {summary.seconds:.1f} s: {rate:.0f} lines/s, model {enricher.version} -> {written}",
        file=sys.stderr if args.output == STDIO else sys.stdout,
    )
    return 0
