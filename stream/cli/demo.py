"""`feedback demo`: the main job in one command (stream/demo.py)."""

from __future__ import annotations

import argparse
import contextlib
import logging
from pathlib import Path

from stream.cli.broker import launcher
from stream.cli.common import Commands


def register(commands: Commands) -> None:
    parser = commands.add_parser(
        "demo",
        help="the main job: local broker, worker, sample feedback in, enriched records out",
    )
    parser.add_argument("--sample", type=Path, help="JSONL file of feedback to produce")
    parser.add_argument("--timeout", type=float, default=180, help="seconds to wait for results")
    parser.set_defaults(handler=demo)


def demo(args: argparse.Namespace) -> int:
    """Run the demo against KAFKA_BOOTSTRAP_SERVERS, or the local broker when it is not set
    (started for the demo unless it runs, and then stopped)."""
    from stream.demo import SAMPLE, run_demo

    settings = args.settings
    if "log_level" not in settings.model_fields_set:
        logging.getLogger().setLevel(logging.WARNING)  # the demo prints its own progress
    if "kafka_bootstrap_servers" in settings.model_fields_set:
        print(f"▶ using the Kafka brokers at {settings.kafka_bootstrap_servers}", flush=True)
        local_broker = contextlib.nullcontext()
    else:
        _, port = settings.bootstrap_addresses[0]
        say = lambda line: print(line, flush=True)  # noqa: E731
        local_broker = launcher().serving(port, home=settings.feedback_home, say=say)
    with local_broker:
        return run_demo(settings, sample=args.sample or SAMPLE, timeout_s=args.timeout)
