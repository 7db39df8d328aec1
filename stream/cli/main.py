"""The `feedback` command's parser and `main`: the one place that reads the settings, sets
up logging and turns a user's mistake into `error: ...` and exit code 2."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys

from stream.cli import bench, broker, config, demo, enrich, labels, models, trainer, worker
from stream.settings import Settings, UserError

#: The command modules, in the order `feedback --help` lists their commands.
COMMAND_MODULES = (demo, worker, enrich, trainer, labels, config, broker, models, bench)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="feedback",
        description="Streaming customer-feedback processor: sentiment and entities over Kafka.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns its exit code.

    The handler gets the settings as `args.settings`. `UserError` and a bad setting are one
    line each on stderr and exit code 2; a closed stdout is exit code 1; Ctrl-C is 130.
    """
    from pydantic import ValidationError

    args = build_parser().parse_args(argv)
    try:
        args.settings = Settings()
        _configure_logging(args.settings)
        code = int(args.handler(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, not at exit
        return code
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ValidationError as exc:
        if exc.title != Settings.__name__:
            raise
        print(_settings_errors(exc), file=sys.stderr)
        return 2
    except BrokenPipeError:  # `feedback ... | head -1`: the reader has gone
        with contextlib.suppress(OSError, ValueError):  # no second error when Python exits
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except KeyboardInterrupt:
        return 130


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("feedback-stream")
    except PackageNotFoundError:  # run from a checkout that is not installed
        return "(not installed)"


def _settings_errors(exc: Exception) -> str:
    """A bad environment variable / .env line, one line each (secret values never echoed)."""
    lines = []
    for error in exc.errors():  # type: ignore[attr-defined]
        name = str(error["loc"][0]) if error["loc"] else "?"
        field = Settings.model_fields.get(name)
        secret = field is not None and "Secret" in str(field.annotation)
        shown = "" if secret else f" (got {error.get('input')!r})"
        message = error["msg"].removeprefix("Value error, ")
        lines.append(f"error: {name.upper()}: {message}{shown}")
    return "\n".join(lines)


def _configure_logging(settings: Settings) -> None:
    """LOG_LEVEL and LOG_FORMAT for every command, secrets masked.

    A program that calls `main` with logging already set up (a test) keeps its own.
    """
    from stream.logs import configure

    if not logging.getLogger().handlers:
        configure(settings)
