"""The `feedback` command: the user's one door.

Each subcommand is thin: parse arguments, call a library function, print.
Heavy imports (torch, spaCy, Faust) happen inside the handlers so that
`feedback --help` and `feedback broker status` stay fast.
"""

from __future__ import annotations

import argparse
import sys


def _add_broker_commands(sub: argparse._SubParsersAction) -> None:
    """`feedback broker start|stop|status|run`: the local Kafka broker (stream/broker.py)."""


def _add_model_commands(sub: argparse._SubParsersAction) -> None:
    """`feedback train|evaluate|models`: model training, evaluation and the model store (nlp/)."""


def _add_stream_commands(sub: argparse._SubParsersAction) -> None:
    """`feedback worker|enrich|demo|config`: the streaming side (stream/)."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="feedback",
        description="Streaming customer-feedback processor: sentiment and entities over Kafka.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_stream_commands(sub)
    _add_broker_commands(sub)
    _add_model_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return int(args.handler(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
