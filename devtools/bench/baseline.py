"""The per-message baseline: a worker that takes one message at a time.

A minimal Faust app whose agent takes each message as it comes, runs the model on it
right there in the event loop (`enricher.enrich([text])`: one spaCy `nlp()` call and one
torch forward pass) and sends the same record the real worker publishes. No batching, no
thread, no waiting for the broker's acknowledgement (which only flatters the baseline).
Configured by the same environment as `feedback worker`; run as
`python -m devtools.bench.baseline`.
"""

from __future__ import annotations

import asyncio

import faust

from stream.app import faust_app, limits_for, message_from
from stream.processing import Enricher, process_batch
from stream.settings import Settings


def create_app(settings: Settings, enricher: Enricher) -> faust.App:
    """The baseline's Faust app: same topics and client settings as the real worker."""
    app = faust_app(settings)
    output = app.topic(settings.output_topic)
    dlq = app.topic(settings.dlq_topic)
    limits = limits_for(settings)

    @app.agent(app.topic(settings.input_topic), name="enrich-one")
    async def enrich(stream: faust.StreamT) -> None:
        async for _value in stream:
            # One message: process_batch makes one enricher.enrich([text]) call.
            (outcome,) = process_batch([message_from(stream.current_event)], enricher, limits)
            await (dlq if outcome.dead else output).send(key=outcome.key, value=outcome.value)

    return app


def main() -> int:
    """Run the baseline worker until SIGTERM."""
    from stream.kafka import ensure_topics
    from stream.logs import configure
    from stream.model_loading import load_enricher

    settings = Settings()
    configure(settings)  # LOG_LEVEL and LOG_FORMAT, as every command
    enricher = load_enricher(settings)
    topics = [settings.input_topic, settings.output_topic, settings.dlq_topic]
    asyncio.run(ensure_topics(settings, topics))
    app = create_app(settings, enricher)
    faust.Worker(app, loglevel=settings.log_level, quiet=True).execute_from_commandline()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
