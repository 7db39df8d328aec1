"""`feedback config`: the effective configuration, secrets masked (stream/settings.py)."""

from __future__ import annotations

import argparse

from stream.cli.common import Commands
from stream.settings import settings_table


def register(commands: Commands) -> None:
    parser = commands.add_parser("config", help="print the effective configuration, secrets masked")
    parser.add_argument(
        "--markdown", action="store_true", help="print the table of all settings for the README"
    )
    parser.set_defaults(handler=config)


def config(args: argparse.Namespace) -> int:
    if args.markdown:
        print(settings_table())
        return 0
    for name, value in args.settings.masked().items():
        print(f"{name.upper():<28} {value}")
    return 0
