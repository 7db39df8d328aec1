"""Plain Kafka clients (aiokafka) for everything that is not the Faust worker.

The demo, the offline tools, the benchmark and the tests produce and consume through
these helpers, so the connection and security options are built in one place.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.conn import create_conn
from aiokafka.errors import KafkaConnectionError, SaslAuthenticationFailed, TopicAlreadyExistsError

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


class KafkaAuthError(RuntimeError):
    """The brokers refused our credentials, or we refused their certificate: do not retry."""


async def check_connection(settings: Settings, *, timeout_s: float = 60) -> None:
    """Wait until a broker answers; fail at once, clearly, if it rejects the credentials."""
    options = settings.kafka_client_options()
    deadline = asyncio.get_running_loop().time() + timeout_s
    servers = [s.strip() for s in settings.kafka_bootstrap_servers.split(",") if s.strip()]
    while True:
        for server in servers:
            host, _, port = server.rpartition(":")
            try:
                conn = await create_conn(host, int(port), request_timeout_ms=10_000, **options)
            except SaslAuthenticationFailed as exc:
                raise KafkaAuthError(
                    f"Kafka at {server} rejected the credentials of user "
                    f"{settings.kafka_sasl_username!r} ({settings.kafka_sasl_mechanism}): {exc}. "
                    "Check KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD and KAFKA_SASL_MECHANISM."
                ) from None
            except ssl.SSLCertVerificationError as exc:
                raise KafkaAuthError(
                    f"the TLS certificate of Kafka at {server} could not be verified "
                    f"({exc.verify_message}). Set KAFKA_SSL_CAFILE to the CA that signed it."
                ) from None
            except (TimeoutError, OSError, KafkaConnectionError) as exc:
                log.warning("Kafka at %s is not reachable yet: %r", server, exc)
                continue
            conn.close()
            return
        if asyncio.get_running_loop().time() > deadline:
            raise KafkaConnectionError(
                f"no Kafka broker answered at {settings.kafka_bootstrap_servers}"
            )
        await asyncio.sleep(1)


async def ensure_topics(
    settings: Settings, topics: list[str], *, partitions: int | None = None, timeout_s: float = 60
) -> None:
    """Create the topics that do not exist yet (existing ones are left as they are).

    New topics get `partitions` (default TOPIC_PARTITIONS) and TOPIC_REPLICATION.
    """
    partitions = partitions or settings.topic_partitions
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
            new = [NewTopic(t, partitions, settings.topic_replication) for t in missing]
            with contextlib.suppress(TopicAlreadyExistsError):  # another worker was first
                await admin.create_topics(new)
            log.info("created topics %s (%d partitions)", ", ".join(missing), partitions)
            await _wait_for_leaders(admin, missing, deadline)
    finally:
        await admin.close()


async def _wait_for_leaders(admin: AIOKafkaAdminClient, topics: list[str], deadline: float) -> None:
    """Wait until every partition of new topics has a leader that serves its offsets.

    A new topic is unknown to the brokers for a moment, and then has a leader in the
    metadata a moment before that leader answers offset requests; clients that use it in
    between log NotLeaderForPartition / UnknownTopicOrPartition errors (harmless, but
    alarming in a demo).
    """
    loop = asyncio.get_running_loop()
    while True:
        descriptions = await admin.describe_topics(topics)
        if all(
            d["error_code"] == 0
            and d["partitions"]
            and all(p["error_code"] == 0 and p["leader"] >= 0 for p in d["partitions"])
            for d in descriptions
        ) and await _leaders_serve_offsets(admin, descriptions):
            return
        if loop.time() > deadline:
            log.warning("topics %s have no leader yet; going on", ", ".join(topics))
            return
        await asyncio.sleep(0.1)


async def partitions_of(settings: Settings, topic: str) -> list[int]:
    """The partition numbers of an existing topic."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap_servers, **settings.kafka_client_options()
    )
    await admin.start()
    try:
        [description] = await admin.describe_topics([topic])
        return sorted(p["partition"] for p in description["partitions"])
    finally:
        await admin.close()


async def _leaders_serve_offsets(admin: AIOKafkaAdminClient, descriptions: list[dict]) -> bool:
    """Whether each partition's leader answers a ListOffsets request without an error."""
    from aiokafka.protocol.offset import OffsetRequest

    by_leader: dict[int, dict[str, list[tuple[int, int]]]] = {}
    for d in descriptions:
        for p in d["partitions"]:
            latest = (p["partition"], -1)
            by_leader.setdefault(p["leader"], {}).setdefault(d["topic"], []).append(latest)
    for leader, topics in by_leader.items():
        request = OffsetRequest(-1, 0, list(topics.items()))
        response = await admin._client.send(leader, request)  # the admin API has no ListOffsets
        if any(error for _, parts in response.topics for _, error, *_ in parts):
            return False
    return True
