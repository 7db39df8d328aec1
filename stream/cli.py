"""The `feedback` command: the user's one door.

Each subcommand is thin: parse arguments, call a library function, print.
Heavy imports (torch, spaCy, Faust) happen inside the handlers so that
`feedback --help` and `feedback broker status` stay fast.

`main` is the one place that reads the settings (handed to the handlers as
`args.settings`), sets up logging (LOG_LEVEL, LOG_FORMAT) and turns a user's mistake
(`UserError`, a bad setting) into one line `error: ...` on stderr and exit code 2.
Handlers check what they can (files, ports, model versions) before Kafka and the model.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from pathlib import Path

from stream.settings import Settings, UserError, settings_table


def _add_broker_commands(sub: argparse._SubParsersAction) -> None:
    """`feedback broker start|stop|status|run|fetch`: the local Kafka broker (stream/broker.py)."""
    from collections.abc import Callable

    Handler = Callable[[argparse.Namespace], int]

    def handler(action: Handler) -> Handler:
        """Wrap an action: report broker errors as a message and exit code 1."""

        def wrapped(args: argparse.Namespace) -> int:
            from stream.broker import BrokerError

            try:
                return action(args)
            except (BrokerError, ValueError) as err:
                print(f"error: {err}", file=sys.stderr)
                return 1

        return wrapped

    def broker_options(args: argparse.Namespace) -> dict:
        return {
            "home": args.settings.feedback_home,
            "version": args.version,
            "sasl_port": args.sasl_port,
            "sasl_users": dict(args.sasl_user) if args.sasl_user else None,
            "ssl_port": args.ssl_port,
            "reformat": args.reformat,
        }

    @handler
    def start(args: argparse.Namespace) -> int:
        from stream import broker

        started = broker.start(args.port, **broker_options(args))
        print(started.bootstrap)
        if started.ssl_bootstrap:
            print(f"SSL: {started.ssl_bootstrap} (KAFKA_SSL_CAFILE={started.ca_file})")
        return 0

    @handler
    def run(args: argparse.Namespace) -> int:
        from stream import broker

        return broker.run(args.port, **broker_options(args))

    @handler
    def stop(args: argparse.Namespace) -> int:
        from stream import broker

        stopped = broker.stop(args.port, home=args.settings.feedback_home)
        print("stopped" if stopped else "not running")
        return 0

    @handler
    def status(args: argparse.Namespace) -> int:
        from stream import broker

        current = broker.status(args.port, home=args.settings.feedback_home)
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

    @handler
    def fetch(args: argparse.Namespace) -> int:
        from stream import broker

        version = args.version or broker.DEFAULT_VERSION
        print(broker.ensure_kafka(version, home=args.settings.feedback_home))
        return 0

    def sasl_user(text: str) -> tuple[str, str]:
        name, sep, password = text.partition(":")
        if not (name and sep and password):
            raise argparse.ArgumentTypeError("expected NAME:PASSWORD")  # never echo the password
        return name, password

    def add_port(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--port", type=int, default=9092, help="client port (default 9092)")

    def add_version(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--version",
            help="Kafka version (tested: 4.1.1, 3.9.1); default: the one that last ran the "
            "broker's data, else 4.1.1",
        )

    broker_parser = sub.add_parser(
        "broker",
        help="a local single-node Kafka broker (KRaft, no Docker; needs java and mvn)",
        description="A local Kafka broker on 127.0.0.1. Its state lives in "
        "$FEEDBACK_HOME/broker/<port> (FEEDBACK_HOME defaults to ~/.cache/feedback).",
    )
    actions = broker_parser.add_subparsers(dest="broker_command", required=True, metavar="ACTION")
    for name, action, help_text in (
        ("start", start, "start it in the background (no-op if running); prints the bootstrap"),
        ("run", run, "run it in the foreground, streaming its log; Ctrl-C stops it"),
    ):
        parser = actions.add_parser(name, help=help_text)
        add_port(parser)
        add_version(parser)
        parser.add_argument("--sasl-port", type=int, help="also listen with SASL_PLAINTEXT here")
        parser.add_argument(
            "--ssl-port",
            type=int,
            help="also listen with TLS here (self-signed certificate; clients trust its ca.pem)",
        )
        parser.add_argument(
            "--sasl-user",
            type=sasl_user,
            action="append",
            metavar="NAME:PASSWORD",
            help="a SASL user (SCRAM-SHA-512 and PLAIN); repeat for more",
        )
        parser.add_argument(
            "--reformat",
            action="store_true",
            help="delete the broker's data (every topic) and start empty",
        )
        parser.set_defaults(handler=action)
    for name, action, help_text in (
        ("stop", stop, "stop it (SIGTERM, then SIGKILL)"),
        ("status", status, "show its state; exit 0 if running, else 1"),
    ):
        parser = actions.add_parser(name, help=help_text)
        add_port(parser)
        parser.set_defaults(handler=action)
    parser = actions.add_parser("fetch", help="download the broker's jars (for CI caching)")
    add_version(parser)
    parser.set_defaults(handler=fetch)


def _add_model_commands(sub: argparse._SubParsersAction) -> None:
    """`feedback train|evaluate|models`: model training, evaluation and the model store (nlp/)."""

    def store_arg(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--store",
            type=Path,
            help="model store (default: MODEL_STORE, else FEEDBACK_HOME/models, as the worker)",
        )

    def store_of(args: argparse.Namespace) -> Path:
        return (args.store or args.settings.model_dir).expanduser()

    def train(args: argparse.Namespace) -> int:
        from nlp.commands import train_command
        from stream import models

        settings = args.settings.model_copy(update={"model_store": store_of(args)})
        if args.promote:
            _connect(settings)  # the announcement needs Kafka: know it before training

        def promote(version: str) -> None:
            record = models.promote(settings, version)
            print(f"promoted {version} (was {record['previous']}); announced to the workers")

        return train_command(
            settings.model_dir,
            data=args.data,
            epochs=args.epochs,
            seed=args.seed,
            config=args.config,
            version=args.version,
            report_dir=args.output_report,
            promote=promote if args.promote else None,
        )

    def evaluate(args: argparse.Namespace) -> int:
        from nlp.commands import evaluate_command

        return evaluate_command(
            store_of(args),
            version=args.version,
            data=args.data,
            report_dir=args.report,
        )

    def models_list(args: argparse.Namespace) -> int:
        from nlp.commands import list_command

        return list_command(store_of(args))

    p = sub.add_parser("train", help="train a model version (NER + sentiment) into the store")
    store_arg(p)
    p.add_argument("--data", nargs="+", help="training JSONL file(s) (default: from config.cfg)")
    p.add_argument("--epochs", type=int, help="maximum epochs (early stopping on validation)")
    p.add_argument("--seed", type=int, help="random seed (default: config.cfg's)")
    p.add_argument("--config", help="a config.cfg to use instead of nlp/config.cfg")
    p.add_argument("--version", help="version name (default: hash of data + config)")
    p.add_argument("--output-report", metavar="DIR", help="evaluate on the dev set, write here")
    p.add_argument(
        "--promote",
        action="store_true",
        help="promote the new version and announce it to the workers (as `models promote`)",
    )
    p.set_defaults(handler=train)

    p = sub.add_parser("evaluate", help="evaluate a stored model version on labelled JSONL")
    store_arg(p)
    p.add_argument("--version", help="model version (default: the promoted one)")
    p.add_argument("--data", help="labelled JSONL (default: nlp/data/dev.jsonl)")
    p.add_argument("--report", metavar="DIR", help="write report.json and PNG plots here")
    p.set_defaults(handler=evaluate)

    p = sub.add_parser("models", help="the model store")
    actions = p.add_subparsers(dest="models_command", required=True, metavar="ACTION")
    p = actions.add_parser("list", help="list stored versions (* = promoted)")
    store_arg(p)
    p.set_defaults(handler=models_list)


def _add_stream_commands(sub: argparse._SubParsersAction) -> None:
    """`feedback worker|enrich|demo|config`: the streaming side (stream/)."""
    demo = sub.add_parser(
        "demo",
        help="the main job: local broker, worker, sample feedback in, enriched records out",
    )
    demo.add_argument("--sample", type=Path, help="JSONL file of feedback to produce")
    demo.add_argument("--timeout", type=float, default=180, help="seconds to wait for results")
    demo.set_defaults(handler=_demo)

    worker = sub.add_parser("worker", help="run the streaming worker (configured by environment)")
    worker.set_defaults(handler=_worker)

    enrich = sub.add_parser(
        "enrich",
        help="enrich a JSONL file offline, like the worker does",
        description="Enrich a JSONL file offline, like the worker does. The output is written "
        "to a temporary file that replaces --output only when all lines are done.",
    )
    enrich.add_argument(
        "input", type=Path, help='JSONL file of {"id", "text", ...} objects, or - for stdin'
    )
    enrich.add_argument(
        "--output", "-o", type=Path, required=True, help="enriched JSONL file, or - for stdout"
    )
    enrich.add_argument("--dead-letters", type=Path, help="write rejected lines' DLQ records here")
    enrich.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    enrich.set_defaults(handler=_enrich)

    trainer = sub.add_parser(
        "trainer", help="run the trainer: learn from the labels topic, promote better models"
    )
    trainer.set_defaults(handler=_trainer)

    labels = sub.add_parser("labels", help="labelled feedback for retraining")
    labels_sub = labels.add_subparsers(dest="labels_command", required=True, metavar="COMMAND")
    labels_import = labels_sub.add_parser("import", help="publish a JSONL file of labels")
    labels_import.add_argument("file", type=Path, help='JSONL of {"id", "text", "sentiment"?, ...}')
    labels_import.set_defaults(handler=_labels_import)

    config = sub.add_parser("config", help="print the effective configuration, secrets masked")
    config.add_argument(
        "--markdown", action="store_true", help="print the table of all settings for the README"
    )
    config.set_defaults(handler=_config)


def _model_loader(settings: Settings):
    """A function loading (and verifying) one model version with the settings' options."""
    from nlp import load_enricher

    def load(version: str | None):
        return load_enricher(
            settings.model_dir,
            version,
            uncertain_below=settings.uncertain_below,
            torch_threads=settings.torch_threads,
        )

    return load


def _load_enricher(settings: Settings):
    """The model the settings ask for: the pinned version, else the promoted one.

    On a store with no model at all, the default model is trained first. An unknown
    MODEL_VERSION or a damaged model is a `UserError`.
    """
    from nlp import ModelError, ModelStore, ensure_default_model

    _check_model_version(settings)
    if settings.model_version is None and not ModelStore(settings.model_dir).versions():
        ensure_default_model(settings.model_dir)
    try:
        return _model_loader(settings)(settings.model_version)
    except ModelError as exc:
        raise UserError(f"the model store {settings.model_dir} cannot serve: {exc}") from None


def _check_model_version(settings: Settings) -> None:
    """A pinned MODEL_VERSION must be in the model store (checked before Kafka or the model)."""
    if settings.model_version is not None:
        _check_stored(settings, settings.model_version, pinned=True)


def _check_stored(settings: Settings, version: str, *, pinned: bool = False) -> None:
    """`version` is in the store, or a UserError that lists the versions there."""
    from nlp import ModelError, ModelStore

    store = ModelStore(settings.model_dir)
    with contextlib.suppress(ModelError):  # ModelError: not even a valid version name
        if store.exists(version):
            return
    promoted = store.promoted()
    versions = [f"{v} (promoted)" if v == promoted else v for v in store.versions()]
    what = f"MODEL_VERSION={version}" if pinned else f"model version {version!r}"
    fix = "pick one from `feedback models list`" if versions else "train one with `feedback train`"
    if pinned:
        fix += ", or unset MODEL_VERSION to serve the promoted one"
    raise UserError(
        f"{what} is not in the model store {settings.model_dir} "
        f"({'versions: ' + ', '.join(versions) if versions else 'it is empty'}): {fix}"
    )


def _check_web_port(settings: Settings) -> None:
    """WEB_BIND:WEB_PORT can be listened on (checked before the model loads)."""
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
            import errno

            if exc.errno == errno.EADDRINUSE:
                raise UserError(
                    f"WEB_PORT={settings.web_port} is already in use on {settings.web_bind} "
                    "(another worker?): set WEB_PORT to a free port"
                ) from None
            raise UserError(
                f"cannot listen on WEB_BIND={settings.web_bind} WEB_PORT={settings.web_port} "
                f"({exc.strerror}): set them to an address and port this machine can use"
            ) from None


def _connect(settings: Settings) -> None:
    """Wait for Kafka (at most KAFKA_CONNECT_TIMEOUT_S); a `UserError` saying why if it fails."""
    import asyncio

    from stream.kafka import check_connection

    asyncio.run(check_connection(settings))


def _demo(args: argparse.Namespace) -> int:
    from stream.demo import SAMPLE, run_demo

    if "log_level" not in args.settings.model_fields_set:
        logging.getLogger().setLevel(logging.WARNING)  # the demo prints its own progress
    return run_demo(args.settings, sample=args.sample or SAMPLE, timeout_s=args.timeout)


def _worker(args: argparse.Namespace) -> int:
    import asyncio

    import faust

    from stream.app import create_app
    from stream.kafka import ensure_topics
    from stream.logs import dict_config

    settings = args.settings
    _check_web_port(settings)
    settings.kafka_client_options()  # a bad KAFKA_SSL_CAFILE is a UserError here
    _check_model_version(settings)
    _connect(settings)
    enricher = _load_enricher(settings)
    topics = [
        settings.input_topic,
        settings.output_topic,
        settings.dlq_topic,
        settings.models_topic,
    ]
    asyncio.run(ensure_topics(settings, topics))
    app = create_app(settings, enricher, load_version=_model_loader(settings))
    # Faust (mode) reconfigures logging when the worker starts: hand it ours (LOG_FORMAT).
    worker = faust.Worker(
        app, loglevel=settings.log_level, quiet=True, logging_config=dict_config(settings)
    )
    try:
        worker.execute_from_commandline()  # runs until SIGTERM / Ctrl-C, then exits the process
    except SystemExit:
        if app.enrich_job.crash is None:
            raise
        print(f"error: the enrich agent crashed: {app.enrich_job.crash!r}", file=sys.stderr)
        return 1
    return 0


def _enrich(args: argparse.Namespace) -> int:
    from stream.offline import STDIO, PathError, check_paths, enrich_file

    settings = Settings()
    try:
        check_paths(args.input, args.output, args.dead_letters)  # before the model loads
    except PathError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from stream.app import limits_for

    logging.basicConfig(level=logging.WARNING)
    try:
        enricher = _load_enricher(settings)
        summary = enrich_file(
            args.input,
            args.output,
            enricher,
            limits_for(settings),
            batch_size=settings.batch_max,
            dead_letters=args.dead_letters,
            progress=not args.no_progress,
        )
    except PathError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        files = [str(p) for p in (args.output, args.dead_letters) if p not in (None, STDIO)]
        kept = f": {', '.join(files)} left as before" if files else ""
        print(f"interrupted{kept}", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `-o - | head`: the reader has all it wants
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no flush error at exit
        return 1
    rate = summary.lines / summary.seconds if summary.seconds else 0.0
    rejected = ", ".join(f"{n} {reason}" for reason, n in summary.rejected.most_common()) or "none"
    written = "stdout" if args.output == STDIO else args.output
    print(
        f"{summary.enriched} enriched, {sum(summary.rejected.values())} rejected ({rejected}) "
        f"in {summary.seconds:.1f} s: {rate:.0f} lines/s, model {enricher.version} -> {written}",
        file=sys.stderr if args.output == STDIO else sys.stdout,
    )
    return 0


def _trainer(args: argparse.Namespace) -> int:
    import asyncio

    from stream.trainer import Trainer

    settings = args.settings
    _check_model_version(settings)
    _connect(settings)
    _load_enricher(settings)  # a store with no model gets the default one first
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(Trainer(settings).run())
    return 0


def _labels_import(args: argparse.Namespace) -> int:
    import asyncio

    from stream.labels import import_labels

    settings = args.settings
    if not args.file.is_file():
        raise UserError(f"{args.file}: no such file (give a JSONL file of labels)")
    _connect(settings)
    sent, rejected = asyncio.run(import_labels(settings, args.file))
    for line, detail in rejected:
        print(f"line {line}: {detail}", file=sys.stderr)
    print(f"{sent} labels published to {settings.labels_topic}, {len(rejected)} rejected")
    return 1 if rejected and not sent else 0


def _config(args: argparse.Namespace) -> int:
    if args.markdown:
        print(settings_table())
        return 0
    for name, value in args.settings.masked().items():
        print(f"{name.upper():<28} {value}")
    return 0


def _add_bench_commands(sub: argparse._SubParsersAction) -> None:
    """`feedback bench`: end-to-end throughput and latency on real Kafka (stream/bench/)."""
    bench = sub.add_parser(
        "bench",
        help="benchmark: NLP limit, end-to-end throughput and latency, scaling, memory",
        description="Measures, in one run: the NLP pipeline alone; producer -> Kafka -> worker "
        "-> consumer at full and half load; a per-message baseline; two workers against one; "
        "the workers' peak RSS; and a BATCH_MAX x BATCH_WITHIN_S sweep. Prints a table, "
        "writes a JSON summary and a PNG. Takes about 10 minutes (--quick: under 2).",
    )
    bench.add_argument("--quick", action="store_true", help="a small version (under 2 minutes)")
    bench.add_argument(
        "--output", "-o", type=Path, default=Path("bench.json"), help="JSON summary (bench.json)"
    )
    bench.add_argument("--plot", type=Path, help="PNG of the sweep (default: OUTPUT with .png)")
    bench.add_argument(
        "--bootstrap",
        type=_bootstrap_list,
        metavar="HOST:PORT",
        help="use this Kafka instead of a private broker",
    )
    bench.add_argument("--messages", type=int, help="messages to generate (default 20000)")
    bench.add_argument("--keep-logs", action="store_true", help="keep the workers' logs")

    def run_bench(args: argparse.Namespace) -> int:
        from stream.bench.run import main

        return main(
            quick=args.quick,
            output=args.output,
            plot=args.plot,
            bootstrap=args.bootstrap,
            messages=args.messages,
            keep_workdir=args.keep_logs,
        )

    bench.set_defaults(handler=run_bench)


def _bootstrap_list(text: str) -> str:
    """A `host[:port],...` argument, read as KAFKA_BOOTSTRAP_SERVERS is."""
    from stream.settings import bootstrap_list

    try:
        return ",".join(bootstrap_list(text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _add_model_operations(models: argparse.ArgumentParser) -> None:
    """`feedback models promote|rollback`: announce a version to every worker (stream/models.py)."""
    actions = next(a for a in models._actions if isinstance(a, argparse._SubParsersAction))
    promote = actions.add_parser("promote", help="promote a stored version and announce it")
    promote.add_argument("version", help="a version from `feedback models list`")
    promote.set_defaults(handler=_models_promote)
    rollback = actions.add_parser("rollback", help="announce the previously promoted version")
    rollback.set_defaults(handler=_models_rollback)


def _models_promote(args: argparse.Namespace) -> int:
    from stream.models import promote

    _check_stored(args.settings, args.version)
    _connect(args.settings)
    record = promote(args.settings, args.version)
    print(f"promoted {record['version']} (was {record['previous']}); announced to the workers")
    return 0


def _models_rollback(args: argparse.Namespace) -> int:
    from stream.models import ModelRefused, rollback

    _connect(args.settings)
    try:
        record = rollback(args.settings)
    except ModelRefused as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"rolled back to {record['version']} (was {record['previous']})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="feedback",
        description="Streaming customer-feedback processor: sentiment and entities over Kafka.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_stream_commands(sub)
    _add_broker_commands(sub)
    _add_model_commands(sub)
    _add_model_operations(sub.choices["models"])
    _add_bench_commands(sub)
    return parser


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


def main(argv: list[str] | None = None) -> int:
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


if __name__ == "__main__":
    sys.exit(main())
