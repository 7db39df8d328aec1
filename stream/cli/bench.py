"""`feedback bench`: end-to-end throughput and latency on real Kafka (devtools/bench/)."""

from __future__ import annotations

import argparse
from pathlib import Path

from stream.cli.common import Commands, devtool
from stream.settings import bootstrap_list


def register(commands: Commands) -> None:
    parser = commands.add_parser(
        "bench",
        help="benchmark: NLP limit, end-to-end throughput and latency, scaling, memory",
        description="Measures, in one run: the NLP pipeline alone; producer -> Kafka -> worker "
        "-> consumer at full and half load; a per-message baseline; two workers against one; "
        "the workers' peak RSS; and a BATCH_MAX x BATCH_WITHIN_S sweep. Prints a table, "
        "writes a JSON summary and a PNG. Takes about 10 minutes (--quick: under 2).",
    )
    parser.add_argument("--quick", action="store_true", help="a small version (under 2 minutes)")
    parser.add_argument(
        "--output", "-o", type=Path, default=Path("bench.json"), help="JSON summary (bench.json)"
    )
    parser.add_argument("--plot", type=Path, help="PNG of the sweep (default: OUTPUT with .png)")
    parser.add_argument(
        "--bootstrap",
        type=_bootstrap,
        metavar="HOST:PORT",
        help="use this Kafka instead of a private broker",
    )
    parser.add_argument("--messages", type=int, help="messages to generate (default 20000)")
    parser.add_argument("--keep-logs", action="store_true", help="keep the workers' logs")
    parser.set_defaults(handler=bench)


def bench(args: argparse.Namespace) -> int:
    run = devtool("bench.run", "the benchmark (`feedback bench`)")
    return run.main(
        quick=args.quick,
        output=args.output,
        plot=args.plot,
        bootstrap=args.bootstrap,
        messages=args.messages,
        keep_workdir=args.keep_logs,
    )


def _bootstrap(text: str) -> str:
    """A `host[:port],...` argument, read as KAFKA_BOOTSTRAP_SERVERS is."""
    try:
        return ",".join(bootstrap_list(text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
