"""Plain Kafka clients (aiokafka) for everything that is not the Faust worker.

The demo, the offline tools, the worker's consumer-lag reader, the benchmark and the tests
produce, consume and administer through these helpers, so the connection and security
options are built in one place.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from collections.abc import AsyncIterator

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.conn import create_conn
from aiokafka.errors import (
    IllegalSaslStateError,
    KafkaConnectionError,
    KafkaError,
    SaslAuthenticationFailed,
    TopicAlreadyExistsError,
    UnsupportedSaslMechanismError,
)

from stream import client_internals
from stream.settings import Settings, UserError

log = logging.getLogger(__name__)


def producer(settings: Settings, **options: object) -> AIOKafkaProducer:
    """A producer for the configured brokers (call `await p.start()`)."""
    return AIOKafkaProducer(
        bootstrap_servers=settings.bootstrap_servers,
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
        bootstrap_servers=settings.bootstrap_servers,
        **settings.kafka_client_options(),
        **options,
    )


class KafkaUnavailable(UserError):
    """No broker answered at KAFKA_BOOTSTRAP_SERVERS within KAFKA_CONNECT_TIMEOUT_S."""


class KafkaAuthError(UserError):
    """The brokers refused our credentials or security protocol, or we refused their
    certificate: retrying cannot help."""


async def check_connection(settings: Settings, *, timeout_s: float | None = None) -> None:
    """Wait until a broker answers, at most `timeout_s` (default KAFKA_CONNECT_TIMEOUT_S).

    Fails at once, clearly, when a broker rejects the credentials or its listener speaks
    another security protocol; `KafkaUnavailable` when none answered in time.
    """
    timeout_s = settings.kafka_connect_timeout_s if timeout_s is None else timeout_s
    options = settings.kafka_client_options()  # a bad CA file fails here, before connecting
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    why: dict[str, str] = {}
    while True:
        for (host, port), server in zip(
            settings.bootstrap_addresses, settings.bootstrap_servers, strict=True
        ):
            left = max(deadline - loop.time(), 0.5)
            try:
                conn = await asyncio.wait_for(
                    create_conn(host, port, request_timeout_ms=int(left * 1000), **options), left
                )
            except (OSError, TimeoutError, KafkaError, asyncio.IncompleteReadError) as exc:
                _refuse_for_good(settings, server, exc)  # or try again
                why[server] = _reason(exc)
                log.debug("Kafka at %s is not reachable yet: %r", server, exc)
                continue
            conn.close()
            return
        if loop.time() >= deadline:
            reasons = "; ".join(f"{server}: {reason}" for server, reason in why.items())
            raise KafkaUnavailable(
                f"no Kafka broker answered at KAFKA_BOOTSTRAP_SERVERS="
                f"{settings.kafka_bootstrap_servers} within {timeout_s:g} s ({reasons}): "
                "start one with `feedback broker start`, or set KAFKA_BOOTSTRAP_SERVERS to your "
                "brokers' host:port"
            )
        await asyncio.sleep(min(0.5, max(deadline - loop.time(), 0)))


def _refuse_for_good(settings: Settings, server: str, exc: Exception) -> None:
    """Raise KafkaAuthError for a connection failure that retrying cannot mend."""
    protocol = settings.kafka_security_protocol
    if isinstance(exc, SaslAuthenticationFailed):
        raise KafkaAuthError(
            f"Kafka at {server} rejected the credentials of user "
            f"{settings.kafka_sasl_username!r} ({settings.kafka_sasl_mechanism}): {exc}. "
            "Check KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD and KAFKA_SASL_MECHANISM."
        ) from None
    if isinstance(exc, UnsupportedSaslMechanismError):
        raise KafkaAuthError(
            f"Kafka at {server}: {exc}. Set KAFKA_SASL_MECHANISM to one of them."
        ) from None
    if isinstance(exc, IllegalSaslStateError):
        raise KafkaAuthError(
            f"Kafka at {server} does not speak SASL on that port (KAFKA_SECURITY_PROTOCOL="
            f"{protocol}): it is probably a PLAINTEXT listener. Use the brokers' SASL port in "
            "KAFKA_BOOTSTRAP_SERVERS, or set KAFKA_SECURITY_PROTOCOL to the listener's protocol."
        ) from None
    if isinstance(exc, ssl.SSLCertVerificationError):
        raise KafkaAuthError(
            f"the TLS certificate of Kafka at {server} could not be verified "
            f"({exc.verify_message}). Set KAFKA_SSL_CAFILE to the CA that signed it."
        ) from None
    if protocol in ("SSL", "SASL_SSL") and isinstance(
        exc, ssl.SSLError | ConnectionResetError | asyncio.IncompleteReadError
    ):
        raise KafkaAuthError(
            f"Kafka at {server} broke off the TLS handshake (KAFKA_SECURITY_PROTOCOL={protocol}): "
            "it is probably a PLAINTEXT listener. Use the brokers' TLS port in "
            "KAFKA_BOOTSTRAP_SERVERS, or set KAFKA_SECURITY_PROTOCOL to the listener's protocol."
        ) from None


def _reason(exc: Exception) -> str:
    """A few words on why a connection attempt failed."""
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, socket.gaierror):
        return "unknown host"
    if isinstance(exc, TimeoutError):
        return "no answer"
    if isinstance(exc, asyncio.IncompleteReadError):
        return "it closed the connection mid-answer: not a Kafka listener, or another protocol"
    cause = exc.__cause__ or exc.__context__
    if isinstance(exc, KafkaConnectionError) and isinstance(cause, Exception):
        return _reason(cause)
    return str(exc) or type(exc).__name__


async def ensure_topics(
    settings: Settings, topics: list[str], *, partitions: int | None = None, timeout_s: float = 60
) -> None:
    """Create the topics that do not exist yet (existing ones are left as they are).

    New topics get `partitions` (default TOPIC_PARTITIONS) and TOPIC_REPLICATION; their
    leaders are awaited for at most `timeout_s`. Raises `KafkaUnavailable` when no broker
    answers within KAFKA_CONNECT_TIMEOUT_S.
    """
    partitions = partitions or settings.topic_partitions
    await check_connection(settings)
    async with admin(settings) as client:
        existing = set(await client.list_topics())
        missing = [t for t in dict.fromkeys(topics) if t not in existing]
        if missing:
            new = [NewTopic(t, partitions, settings.topic_replication) for t in missing]
            with contextlib.suppress(TopicAlreadyExistsError):  # another worker was first
                await client.create_topics(new)
            log.info("created topics %s (%d partitions)", ", ".join(missing), partitions)
            if not await wait_for_leaders(client, missing, timeout_s=timeout_s):
                log.warning("topics %s have no leader yet; going on", ", ".join(missing))


async def start_admin(settings: Settings) -> AIOKafkaAdminClient:
    """A started admin client for the configured brokers (the caller closes it)."""
    client = AIOKafkaAdminClient(
        bootstrap_servers=settings.bootstrap_servers, **settings.kafka_client_options()
    )
    try:
        await client.start()
    except BaseException:
        await client.close()
        raise
    return client


@contextlib.asynccontextmanager
async def admin(settings: Settings) -> AsyncIterator[AIOKafkaAdminClient]:
    """A started admin client for the configured brokers, closed on leaving the block."""
    client = await start_admin(settings)
    try:
        yield client
    finally:
        await client.close()


async def wait_for_leaders(
    client: AIOKafkaAdminClient, topics: list[str], *, timeout_s: float
) -> bool:
    """Wait until every partition of `topics` has a leader that serves its offsets.

    A new topic is unknown to the brokers for a moment, and then has a leader in the
    metadata a moment before that leader answers offset requests; clients that use it in
    between log NotLeaderForPartition / UnknownTopicOrPartition errors (harmless, but
    alarming in a demo). False when `timeout_s` passed first.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        descriptions = await client.describe_topics(topics)
        if all(
            d["error_code"] == 0
            and d["partitions"]
            and all(p["error_code"] == 0 and p["leader"] >= 0 for p in d["partitions"])
            for d in descriptions
        ) and await _leaders_serve_offsets(client, descriptions):
            return True
        if loop.time() > deadline:
            return False
        await asyncio.sleep(0.1)


async def partitions_of(settings: Settings, topic: str) -> list[int]:
    """The partition numbers of an existing topic."""
    async with admin(settings) as client:
        [description] = await client.describe_topics([topic])
    return sorted(p["partition"] for p in description["partitions"])


async def _leaders_serve_offsets(client: AIOKafkaAdminClient, descriptions: list[dict]) -> bool:
    """Whether each partition's leader answers a ListOffsets request without an error."""
    by_leader: dict[int, dict[str, list[int]]] = {}
    for d in descriptions:
        for p in d["partitions"]:
            by_leader.setdefault(p["leader"], {}).setdefault(d["topic"], []).append(p["partition"])
    for leader, partitions in by_leader.items():
        if any(await client_internals.latest_offset_errors(client, leader, partitions)):
            return False
    return True
