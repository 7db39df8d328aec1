"""What the command modules share: how a module declares its commands, and the Kafka check."""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable
from types import ModuleType
from typing import Any, Protocol

from stream.settings import Settings, UserError

#: A command's handler: gets the parsed arguments (with `args.settings`), returns the exit code.
Handler = Callable[[argparse.Namespace], int]


class Commands(Protocol):
    """Where a module adds its commands (`parser.add_subparsers()`'s result).

    Each module has `register(commands)`, which adds its parsers and gives each command
    its handler with `parser.set_defaults(handler=...)`.
    """

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser: ...


CLONE_FIX = "run it from a clone of the repository (after `pip install -e .` there)"


def devtool(name: str, what: str, fix: str = CLONE_FIX) -> ModuleType:
    """`devtools.<name>`, or a `UserError` where the development tools are not installed
    (the worker image leaves them out)."""
    try:
        return importlib.import_module(f"devtools.{name}")
    except ModuleNotFoundError as exc:
        if (exc.name or "").partition(".")[0] != "devtools":  # not a missing dependency
            raise
        raise UserError(f"{what} is a development tool, not in the worker image: {fix}") from None


def connect(settings: Settings) -> None:
    """Wait for Kafka (at most KAFKA_CONNECT_TIMEOUT_S); a `UserError` saying why if it fails."""
    import asyncio

    from stream.kafka import check_connection

    asyncio.run(check_connection(settings))
