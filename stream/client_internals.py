"""The one place that reads private parts of the Kafka client libraries.

Two questions have no public answer in the pinned libraries:
- is the worker's group consumer connected? Faust hides its aiokafka consumer in a thread
  object, and aiokafka exposes neither its group coordinator nor its connections;
- does each partition leader answer offset requests? aiokafka's admin client has no
  ListOffsets call, so the request goes through the admin's own client.

Each function below names what it reads. They were checked against aiokafka==0.14.0,
faust-streaming==0.15.3 and mode-streaming==0.7.1 (the pins in pyproject.toml);
tests/test_client_internals.py fails, naming the attribute, when a library no longer
has one of them. Nothing else in the project touches a library's private names.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aiokafka import AIOKafkaConsumer
    from aiokafka.admin import AIOKafkaAdminClient
    from faust.types import ConsumerT

#: The versions these functions were checked against.
CHECKED_AGAINST = {
    "aiokafka": "0.14.0",
    "faust-streaming": "0.15.3",
    "mode-streaming": "0.7.1",
}


def aiokafka_consumer(consumer: ConsumerT) -> AIOKafkaConsumer | None:
    """The aiokafka consumer inside a Faust consumer; None before the worker started it.

    Reads faust's `Consumer._thread` (the `AIOKafkaConsumerThread` that owns the client)
    and its `_consumer` (None until the thread started).
    """
    return consumer._thread._consumer  # type: ignore[attr-defined]


def knows_group_coordinator(consumer: AIOKafkaConsumer) -> bool:
    """Whether an aiokafka consumer has found its group's coordinator broker.

    Reads `AIOKafkaConsumer._coordinator` (None before `start()`) and the coordinator's
    `coordinator_id` (None until the broker that coordinates the group is known).
    """
    coordinator = consumer._coordinator
    return coordinator is not None and coordinator.coordinator_id is not None


def has_live_connection(consumer: AIOKafkaConsumer) -> bool:
    """Whether an aiokafka consumer holds at least one open broker connection.

    Reads `AIOKafkaConsumer._client` (its `AIOKafkaClient`) and that client's `_conns`
    (node id -> `AIOKafkaConnection`, whose `connected()` is public).
    """
    return any(conn.connected() for conn in list(consumer._client._conns.values()))


def group_consumer_connected(consumer: ConsumerT) -> bool:
    """A Faust consumer is started, knows its group coordinator and has a live connection."""
    client_consumer = aiokafka_consumer(consumer)
    return (
        client_consumer is not None
        and knows_group_coordinator(client_consumer)
        and has_live_connection(client_consumer)
    )


async def latest_offset_errors(
    admin: AIOKafkaAdminClient, leader: int, partitions: dict[str, Iterable[int]]
) -> list[int]:
    """Ask broker `leader` for the latest offset of `partitions`; the error code of each.

    Sends a ListOffsets request (`aiokafka.protocol.offset.OffsetRequest(replica_id,
    isolation_level, topics)`, its version agreed with the broker) through
    `AIOKafkaAdminClient._client`: the `AIOKafkaClient` whose `send(node_id, request)` the
    admin uses for its own calls.
    """
    from aiokafka.protocol.offset import OffsetRequest

    latest, consumer_replica, read_uncommitted = -1, -1, 0
    topics = [(topic, [(p, latest) for p in numbers]) for topic, numbers in partitions.items()]
    request = OffsetRequest(consumer_replica, read_uncommitted, topics)
    response = await admin._client.send(leader, request)
    return [error for _, parts in response.topics for _, error, *_ in parts]
