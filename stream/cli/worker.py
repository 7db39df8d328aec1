"""`feedback worker`: the streaming worker, configured by the environment."""

from __future__ import annotations

import argparse
import sys

from stream.cli.common import Commands, connect
from stream.settings import Settings, UserError


def register(commands: Commands) -> None:
    parser = commands.add_parser(
        "worker", help="run the streaming worker (configured by environment)"
    )
    parser.set_defaults(handler=worker)


def worker(args: argparse.Namespace) -> int:
    """Check what can be checked (web port, TLS files, model version, Kafka), load the
    model, make the topics, then run Faust until SIGTERM or Ctrl-C."""
    import asyncio

    import faust

    from stream.app import create_app
    from stream.kafka import ensure_topics
    from stream.logs import dict_config
    from stream.model_loading import check_model_version, load_enricher, version_loader

    settings = args.settings
    check_web_port(settings)
    settings.kafka_client_options()  # a bad KAFKA_SSL_CAFILE is a UserError here
    check_model_version(settings)
    connect(settings)
    enricher = load_enricher(settings)
    topics = [
        settings.input_topic,
        settings.output_topic,
        settings.dlq_topic,
        settings.models_topic,
    ]
    asyncio.run(ensure_topics(settings, topics))
    worker = create_app(settings, enricher, load_version=version_loader(settings))
    # Faust (mode) reconfigures logging when the worker starts: hand it ours (LOG_FORMAT).
    runner = faust.Worker(
        worker.app, loglevel=settings.log_level, quiet=True, logging_config=dict_config(settings)
    )
    try:
        runner.execute_from_commandline()  # runs until SIGTERM / Ctrl-C, then exits the process
    except SystemExit:
        if worker.job.crash is None:
            raise
        print(f"error: the enrich agent crashed: {worker.job.crash!r}", file=sys.stderr)
        return 1
    return 0


def check_web_port(settings: Settings) -> None:
    """WEB_BIND:WEB_PORT can be listened on (checked before the model loads)."""
    import errno
    import socket

    try:
        infos = socket.getaddrinfo(
            settings.web_bind, settings.web_port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror:
        raise UserError(
            f"WEB_BIND={settings.web_bind} is not an address of this machine: "
            "set it to 127.0.0.1, 0.0.0.0 or one of its addresses"
        ) from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the web server does
        try:
            sock.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise UserError(
                    f"WEB_PORT={settings.web_port} is already in use on {settings.web_bind} "
                    "(another worker?): set WEB_PORT to a free port"
                ) from None
            raise UserError(
                f"cannot listen on WEB_BIND={settings.web_bind} WEB_PORT={settings.web_port} "
                f"({exc.strerror}): set them to an address and port this machine can use"
            ) from None
