"""Plain Kafka clients (aiokafka) for everything that is not the Faust worker.

The demo, the offline tools, the benchmark and the tests produce and consume through
these helpers, so the connection and security options are built in one place.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, TopicAlreadyExistsError

from stream.settings import Settings

log = logging.getLogger(__name__)


def producer(settings: Settings, **options: object) -> AIOKafkaProducer:
    """A producer for the configured brokers (call `await p.start()`)."""
    return AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        acks="all",
        **settings.kafka_client_options(),
        **options,
    )


def consumer(settings: Settings, *topics: str, **options: object) -> AIOKafkaConsumer:
    """A consumer for the configured brokers; no group and from the start unless told."""
    options.setdefault("auto_offset_reset", "earliest")
    options.setdefault("enable_auto_commit", False)
    return AIOKafkaConsumer(
        *topics,
        bootstrap_servers=settings.kafka_bootstrap_servers,
        **settings.kafka_client_options(),
        **options,
    )


async def ensure_topics(settings: Settings, topics: list[str], *, timeout_s: float = 60) -> None:
    """Create the topics that do not exist yet (existing ones are left as they are)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        admin = AIOKafkaAdminClient(
            bootstrap_servers=settings.kafka_bootstrap_servers, **settings.kafka_client_options()
        )
        try:
            await admin.start()
            break
        except KafkaConnectionError:
            await admin.close()
            if asyncio.get_running_loop().time() > deadline:
                raise
            log.warning("waiting for Kafka at %s ...", settings.kafka_bootstrap_servers)
            await asyncio.sleep(1)
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in dict.fromkeys(topics) if t not in existing]
        if missing:
            new = [
                NewTopic(t, settings.topic_partitions, settings.topic_replication) for t in missing
            ]
            with contextlib.suppress(TopicAlreadyExistsError):  # another worker was first
                await admin.create_topics(new)
            log.info(
                "created topics %s (%d partitions)", ", ".join(missing), settings.topic_partitions
            )
    finally:
        await admin.close()
