"""`feedback trainer`: learn from the labels topic, promote better models (stream/trainer.py)."""

from __future__ import annotations

import argparse
import contextlib

from stream.cli.common import Commands, connect


def register(commands: Commands) -> None:
    parser = commands.add_parser(
        "trainer", help="run the trainer: learn from the labels topic, promote better models"
    )
    parser.set_defaults(handler=trainer)


def trainer(args: argparse.Namespace) -> int:
    import asyncio

    from stream.model_loading import check_model_version, load_enricher
    from stream.trainer import Trainer, training_config

    settings = args.settings
    check_model_version(settings)
    training_config(settings)  # a bad TRAINER_CONFIG stops here, before Kafka and the model
    connect(settings)
    load_enricher(settings)  # a store with no model gets the default one first
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(Trainer(settings).run())
    return 0
