"""`feedback broker start|stop|status|run|fetch`: the local Kafka broker (devtools/broker/).

The launcher is a development tool: a clone's pip install has it, the worker image does
not, and there `launcher()` answers with one line that says so. Its errors that the user
can fix (`BrokerRefused`) are `UserError`s (exit 2); a broker that fails to start or stop
prints `error: ...` (with the end of its log) and exits 1.
"""

from __future__ import annotations

import argparse
import sys
from types import ModuleType

from stream.cli.common import CLONE_FIX, Commands, Handler, devtool


def launcher() -> ModuleType:
    """The `devtools.broker` package, or a `UserError` where it is not installed."""
    return devtool(
        "broker",
        "the local Kafka broker (`feedback broker`)",
        f"set KAFKA_BOOTSTRAP_SERVERS to your Kafka, or {CLONE_FIX}",
    )


def register(commands: Commands) -> None:
    parser = commands.add_parser(
        "broker",
        help="a local single-node Kafka broker (KRaft, no Docker; needs java and mvn)",
        description="A local Kafka broker on 127.0.0.1. Its state lives in "
        "$FEEDBACK_HOME/broker/<port> (FEEDBACK_HOME defaults to ~/.cache/feedback).",
    )
    actions = parser.add_subparsers(dest="broker_command", required=True, metavar="ACTION")
    for name, handler, help_text in (
        ("start", start, "start it in the background (no-op if running); prints the bootstrap"),
        ("run", run, "run it in the foreground, streaming its log; Ctrl-C stops it"),
    ):
        action = actions.add_parser(name, help=help_text)
        _add_port(action)
        _add_version(action)
        action.add_argument("--sasl-port", type=int, help="also listen with SASL_PLAINTEXT here")
        action.add_argument(
            "--ssl-port",
            type=int,
            help="also listen with TLS here (self-signed certificate; clients trust its ca.pem)",
        )
        action.add_argument(
            "--sasl-user",
            type=_sasl_user,
            action="append",
            metavar="NAME:PASSWORD",
            help="a SASL user (SCRAM-SHA-512 and PLAIN); repeat for more",
        )
        action.add_argument(
            "--reformat",
            action="store_true",
            help="delete the broker's data (every topic) and start empty",
        )
        action.set_defaults(handler=_reporting_failures(handler))
    for name, handler, help_text in (
        ("stop", stop, "stop it (SIGTERM, then SIGKILL)"),
        ("status", status, "show its state; exit 0 if running, else 1"),
    ):
        action = actions.add_parser(name, help=help_text)
        _add_port(action)
        action.set_defaults(handler=_reporting_failures(handler))
    action = actions.add_parser("fetch", help="download the broker's jars (for CI caching)")
    _add_version(action)
    action.set_defaults(handler=_reporting_failures(fetch))


def start(args: argparse.Namespace) -> int:
    started = launcher().start(args.port, **_options(args))
    print(started.bootstrap)
    if started.ssl_bootstrap:
        print(f"SSL: {started.ssl_bootstrap} (KAFKA_SSL_CAFILE={started.ca_file})")
    return 0


def run(args: argparse.Namespace) -> int:
    return launcher().run(args.port, **_options(args))


def stop(args: argparse.Namespace) -> int:
    stopped = launcher().stop(args.port, home=args.settings.feedback_home)
    print("stopped" if stopped else "not running")
    return 0


def status(args: argparse.Namespace) -> int:
    current = launcher().status(args.port, home=args.settings.feedback_home)
    print(f"running: {'yes' if current.running else 'no'}")
    print(f"pid: {current.pid or '-'}")
    print(f"version: {current.version or '-'}")
    print(f"bootstrap: {current.bootstrap}")
    if current.ssl_bootstrap:
        print(f"ssl_bootstrap: {current.ssl_bootstrap}")
        print(f"ca_file: {current.ca_file}")
    print(f"data_dir: {current.data_dir}")
    print(f"log_file: {current.log_file}")
    return 0 if current.running else 1


def fetch(args: argparse.Namespace) -> int:
    broker = launcher()
    print(broker.ensure_kafka(args.version or broker.DEFAULT_VERSION, args.settings.feedback_home))
    return 0


def _reporting_failures(handler: Handler) -> Handler:
    """`handler`, with a broker that fails (not a user's mistake) as `error: ...`, exit 1."""

    def run_handler(args: argparse.Namespace) -> int:
        broker = launcher()
        try:
            return handler(args)
        except broker.BrokerRefused:
            raise  # a UserError: main prints it, exit 2
        except broker.BrokerError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1

    return run_handler


def _options(args: argparse.Namespace) -> dict:
    return {
        "home": args.settings.feedback_home,
        "version": args.version,
        "sasl_port": args.sasl_port,
        "sasl_users": dict(args.sasl_user) if args.sasl_user else None,
        "ssl_port": args.ssl_port,
        "reformat": args.reformat,
    }


def _sasl_user(text: str) -> tuple[str, str]:
    name, sep, password = text.partition(":")
    if not (name and sep and password):
        raise argparse.ArgumentTypeError("expected NAME:PASSWORD")  # never echo the password
    return name, password


def _add_port(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=9092, help="client port (default 9092)")


def _add_version(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--version",
        help="Kafka version (tested: 4.1.1, 3.9.1); default: the one that last ran the "
        "broker's data, else 4.1.1",
    )
