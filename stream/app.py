"""The worker: a Faust app whose one agent enriches the feedback topic.

The hot path, top to bottom:
consume → batch (`stream.take_events`) → `process_batch` in a thread (parse, NLP, serialise)
→ publish every outcome and wait for the broker's acknowledgement → only then let Faust
ack the batch, so its offsets can be committed (at-least-once; never lose a message).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import signal
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import faust
from faust.types import EventT

from stream.contracts import InputFormat, Source
from stream.lifecycle import announce
from stream.metrics import Metrics
from stream.models import ModelFollower
from stream.processing import Enricher, Limits, Message, Outcome, process_batch
from stream.settings import Settings
from stream.web import Ops, install

log = logging.getLogger(__name__)

#: How long to wait before publishing again after the broker refused a batch.
PUBLISH_RETRY_S = (0.5, 1, 2, 5)


@dataclass
class EnrichJob:
    """What the agent needs besides the stream: the model, its thread, the topics to publish to."""

    enricher: Enricher
    limits: Limits
    output: faust.TopicT
    dlq: faust.TopicT
    # One thread: the model runs off the event loop, one batch at a time.
    executor: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=1, thread_name_prefix="nlp")
    )
    #: Metrics, health and the live view (stream/web.py); fed after each published batch.
    ops: Ops | None = None
    #: Stops the worker gracefully (as SIGTERM does); called when the agent dies.
    stop_worker: Callable[[], None] = field(default=lambda: terminate_this_process())
    #: Why the agent died, once it has: the worker is then stopping with a non-zero exit.
    crash: BaseException | None = None

    def swap(self, enricher: Enricher) -> None:
        """Serve `enricher` from the next batch on (a batch reads the model once, at its start)."""
        self.enricher = enricher

    def serving_version(self) -> str:
        """The version of the model the next batch is enriched with."""
        return self.enricher.version

    def agent_crashed(self, exc: BaseException) -> None:
        """The agent died: say so, and stop the worker so that its group reads the batch again.

        Restarting the agent in place would go on with later messages while the failed
        batch stays uncommitted (its offsets block every later commit): a stall no one sees.
        Stopping commits what was published, leaves the failed batch to the next worker of
        the group, and makes the crash visible: /healthz and /readyz answer 503, the metric
        `feedback_agent_crashes_total` counts it, and the process exits non-zero.
        """
        self.crash = exc
        log.critical(
            "the enrich agent crashed (%r); stopping the worker: its uncommitted batch will be "
            "read again by the next worker of the group",
            exc,
            exc_info=exc,
        )
        if self.ops is not None:
            self.ops.agent_crashed(exc)
        self.stop_worker()


@dataclass
class Worker:
    """One worker, built by `create_app`: run `app` (e.g. with `faust.Worker`); the other
    parts are what the app was wired with, for the command that runs it and for tests."""

    app: faust.App
    job: EnrichJob
    ops: Ops
    #: Follows the models topic; None when the worker serves one fixed model.
    follower: ModelFollower | None


def create_app(
    settings: Settings,
    enricher: Enricher,
    load_version: Callable[[str], Enricher] | None = None,
) -> Worker:
    """Build the worker's Faust app for these settings and this loaded model.

    With `load_version`, the worker follows the models topic and swaps in announced
    versions between batches (unless MODEL_VERSION pins one).
    """
    app = faust_app(settings)
    source = app.topic(settings.input_topic)
    job = EnrichJob(
        enricher=enricher,
        limits=limits_for(settings),
        output=app.topic(settings.output_topic),
        dlq=app.topic(settings.dlq_topic),
    )
    metrics = Metrics()
    ops = Ops(app, settings, metrics, serving_version=job.serving_version)
    job.ops = ops
    install(app, ops)  # /metrics, /healthz, /readyz, /dashboard
    # One summary line at start and one at stop.
    announce(app, settings, metrics, job.serving_version, up_since=ops.started)

    # Concurrency 1: with more, Faust can commit past a batch still in flight
    # (faust-streaming issue #606).
    @app.agent(source, concurrency=1, name="enrich")
    async def enrich(stream: faust.StreamT) -> None:
        try:
            async for events in stream.take_events(
                settings.batch_max, within=settings.batch_within_s
            ):
                await handle_batch(job, events)
        except Exception as exc:
            job.agent_crashed(exc)
            raise

    follower = None
    if load_version is not None and settings.model_version is None:
        follower = ModelFollower(
            settings,
            load=load_version,
            swap=job.swap,
            current=job.serving_version,
            on_swap=metrics.record_model_swap,
            on_refusal=metrics.record_model_refusal,
        )

        @app.task
        async def follow_models() -> None:
            await follower.run()

    return Worker(app, job, ops, follower)


def terminate_this_process() -> None:
    """Ask this process to stop the way `kill` (SIGTERM) does: a graceful worker shutdown."""
    os.kill(os.getpid(), signal.SIGTERM)


def faust_app(settings: Settings) -> faust.App:
    """A Faust app with the worker's client settings: raw bytes in and out, acks=all."""
    datadir = settings.feedback_home / "worker" / settings.app_id
    datadir.mkdir(parents=True, exist_ok=True)
    return faust.App(
        settings.app_id,
        broker=[f"kafka://{server}" for server in settings.bootstrap_servers],
        broker_credentials=_credentials(settings),
        value_serializer="raw",
        key_serializer="raw",
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=settings.topic_replication,
        consumer_auto_offset_reset=settings.auto_offset_reset,
        web_port=settings.web_port,
        web_bind=settings.web_bind,
        web_host=settings.web_bind,
        producer_acks=-1,
        datadir=str(datadir),
    )


def limits_for(settings: Settings) -> Limits:
    """The size rules and input format of the settings, as the processing function takes them."""
    fmt = InputFormat(
        text_field=settings.text_field,
        id_field=settings.id_field,
        id_from_key=settings.id_from_key,
        enrichment_field=settings.enrichment_field,
    )
    return Limits(
        settings.max_text_chars, settings.max_record_bytes, settings.dlq_payload_bytes, fmt
    )


async def handle_batch(job: EnrichJob, events: Sequence[EventT]) -> None:
    """Enrich one batch and publish every outcome before its offsets may be committed."""
    messages = [message_from(event) for event in events]
    try:
        started = time.perf_counter()
        outcomes = await asyncio.get_running_loop().run_in_executor(
            job.executor, process_batch, messages, job.enricher, job.limits
        )
        inference_s = time.perf_counter() - started
        await publish(job, outcomes)
    except BaseException:
        # The batch was not published. `take_events` acks its events when we leave the
        # loop; marking them acked first keeps those offsets out of any commit, so the
        # next worker of the group reads them again.
        for event in events:
            event.message.acked = True
        raise
    if job.ops is not None:
        job.ops.batch_done(messages, outcomes, inference_s=inference_s)


async def publish(job: EnrichJob, outcomes: Sequence[Outcome]) -> None:
    """Send all outcomes and wait until the broker has them, retrying while it is away."""
    for attempt in itertools.count():
        try:
            futures = [
                await (job.dlq if outcome.dead else job.output).send(
                    key=outcome.key, value=outcome.value
                )
                for outcome in outcomes
            ]
            await asyncio.gather(*futures)
            return
        except Exception as exc:  # the broker is away or refused: publish the batch again
            delay = PUBLISH_RETRY_S[min(attempt, len(PUBLISH_RETRY_S) - 1)]
            log.warning(
                "publishing %d records failed (%r); retrying in %ss", len(outcomes), exc, delay
            )
            await asyncio.sleep(delay)


def message_from(event: EventT) -> Message:
    """The processing function's view of a Faust event: key, value and where it came from."""
    message = event.message
    timestamp = message.timestamp
    return Message(
        key=message.key,
        value=message.value,
        source=Source(
            message.topic,
            message.partition,
            message.offset,
            int(timestamp * 1000) if timestamp else None,
        ),
    )


def _credentials(settings: Settings) -> faust.types.auth.CredentialsT | None:
    options = settings.kafka_client_options()
    protocol = settings.kafka_security_protocol
    if protocol.startswith("SASL"):
        return faust.SASLCredentials(
            username=options["sasl_plain_username"],
            password=options["sasl_plain_password"],
            mechanism=settings.kafka_sasl_mechanism,
            ssl_context=options.get("ssl_context"),
        )
    if protocol == "SSL":
        return faust.SSLCredentials(options["ssl_context"])
    return None
