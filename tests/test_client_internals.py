"""stream/client_internals.py still matches the libraries it reads the private parts of.

Each check names the attribute the adapter reads, so a library upgrade that drops or
renames one fails here, by name, instead of turning /readyz's `connected` quietly false.
"""

from __future__ import annotations

import inspect
from importlib.metadata import version
from typing import Any

import faust
import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.conn import AIOKafkaConnection
from aiokafka.consumer.group_coordinator import GroupCoordinator
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

from stream import client_internals
from stream.kafka import admin, ensure_topics, wait_for_leaders
from stream.settings import Settings
from tests.conftest import ROOT, Topics


def require(obj: Any, attribute: str, owner: str) -> Any:
    """`obj.attribute`, or a failure that names what stream/client_internals.py reads."""
    if not hasattr(obj, attribute):
        pytest.fail(
            f"{owner} has no attribute `{attribute}` any more (installed: aiokafka "
            f"{version('aiokafka')}, faust-streaming {version('faust-streaming')}, "
            f"mode-streaming {version('mode-streaming')}): stream/client_internals.py reads it; "
            "update the adapter to the new library"
        )
    return getattr(obj, attribute)


def test_the_adapter_was_checked_against_the_pinned_versions() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text()
    for package, checked in client_internals.CHECKED_AGAINST.items():
        assert f'"{package}=={checked}"' in pyproject, (
            f"pyproject.toml no longer pins {package}=={checked}: check what "
            "stream/client_internals.py reads against the new version, then update CHECKED_AGAINST"
        )
        assert version(package) == checked, f"{package} {version(package)} installed, not {checked}"


def test_faust_consumer_has_the_thread_and_client_consumer_it_reads(tmp_path) -> None:
    app = faust.App(
        "internals-check", broker="kafka://127.0.0.1:9", datadir=str(tmp_path), web_enabled=False
    )
    thread = require(app.consumer, "_thread", "faust's Consumer")
    assert isinstance(thread, AIOKafkaConsumerThread), type(thread)
    require(AIOKafkaConsumerThread, "_consumer", "faust's AIOKafkaConsumerThread")
    # Not started: no client consumer, hence not connected (and no error).
    assert client_internals.aiokafka_consumer(app.consumer) is None
    assert client_internals.group_consumer_connected(app.consumer) is False


async def test_aiokafka_consumer_has_the_coordinator_and_connections_it_reads() -> None:
    consumer = AIOKafkaConsumer(bootstrap_servers="127.0.0.1:9", group_id="g")
    try:
        assert require(consumer, "_coordinator", "AIOKafkaConsumer") is None  # before start()
        client = require(consumer, "_client", "AIOKafkaConsumer")
        assert isinstance(require(client, "_conns", "AIOKafkaClient"), dict)
        assert callable(require(AIOKafkaConnection, "connected", "AIOKafkaConnection"))
        init = inspect.getsource(GroupCoordinator.__init__)
        assert "self.coordinator_id =" in init, "GroupCoordinator no longer sets `coordinator_id`"
        assert client_internals.knows_group_coordinator(consumer) is False
        assert client_internals.has_live_connection(consumer) is False
    finally:
        await consumer.stop()


async def test_admin_client_has_the_client_that_sends_list_offsets() -> None:
    from aiokafka.protocol.offset import OffsetRequest

    client = AIOKafkaAdminClient(bootstrap_servers="127.0.0.1:9")
    try:
        inner = require(client, "_client", "AIOKafkaAdminClient")
        assert callable(require(inner, "send", "AIOKafkaClient"))
        parameters = list(inspect.signature(OffsetRequest).parameters)
        assert parameters == ["replica_id", "isolation_level", "topics"], parameters
    finally:
        await client.close()


@pytest.mark.kafka
async def test_against_the_broker_the_adapter_sees_connections_and_leaders(
    kafka_bootstrap: str,
) -> None:
    topics = Topics(kafka_bootstrap, partitions=2)
    settings: Settings = topics.settings()
    await ensure_topics(settings, [topics.input])
    async with admin(settings) as client:
        assert await wait_for_leaders(client, [topics.input], timeout_s=30)
        [description] = await client.describe_topics([topics.input])
        for p in description["partitions"]:
            errors = await client_internals.latest_offset_errors(
                client, p["leader"], {topics.input: [p["partition"]]}
            )
            assert errors == [0], (p, errors)
    consumer = AIOKafkaConsumer(
        topics.input, bootstrap_servers=kafka_bootstrap, group_id=topics.app_id
    )
    await consumer.start()
    try:
        for _ in range(100):
            if client_internals.knows_group_coordinator(consumer):
                break
            await consumer.getmany(timeout_ms=100)
        assert client_internals.knows_group_coordinator(consumer)
        assert client_internals.has_live_connection(consumer)
    finally:
        await consumer.stop()
    assert not client_internals.has_live_connection(consumer)
