"""stream.broker against a real Kafka broker: no mocks.

Each test runs brokers in a throwaway feedback home; the jars come from the shared
default cache (`ensure_kafka` falls back to it), so only the first run downloads.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.conn import create_conn
from aiokafka.errors import SaslAuthenticationFailed

from stream import broker

pytestmark = [
    pytest.mark.kafka,
    pytest.mark.skipif(
        shutil.which("java") is None or shutil.which("mvn") is None,
        reason="needs `java` (runs the broker) and `mvn` (fetches its jars from Maven Central)",
    ),
]

USERS = {"alice": "alice-secret", "bob": "bob-secret"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    """A feedback home whose brokers are all stopped at the end."""
    yield tmp_path
    for state_dir in (tmp_path / "broker").glob("*"):
        broker.stop(int(state_dir.name), home=tmp_path)


async def produce(bootstrap: str, topic: str, value: bytes, **security: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, **security)
    await producer.start()
    try:
        await producer.send_and_wait(topic, value)
    finally:
        await producer.stop()


async def consume_one(bootstrap: str, topic: str, **security: str) -> bytes:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", **security
    )
    await consumer.start()
    try:
        return (await asyncio.wait_for(consumer.getone(), 30)).value
    finally:
        await consumer.stop()


@pytest.mark.parametrize("version", broker.SUPPORTED_VERSIONS)
async def test_start_produce_consume_stop_restart(version: str, home: Path) -> None:
    broker.ensure_kafka(version)  # into the shared cache: the tmp home only holds state
    port = free_port()

    started = broker.start(port, version=version, home=home)
    assert started.running and started.pid
    assert (started.version, started.bootstrap) == (version, f"127.0.0.1:{port}")
    assert broker.start(port, version=version, home=home) == started  # idempotent
    assert broker.status(port, home=home) == started

    await produce(started.bootstrap, "greetings", b"hello")
    assert await consume_one(started.bootstrap, "greetings") == b"hello"

    assert broker.stop(port, home=home)
    assert not broker.status(port, home=home).running
    assert not broker.stop(port, home=home)

    restarted = broker.start(port, version=version, home=home)
    assert restarted.pid != started.pid
    assert await consume_one(restarted.bootstrap, "greetings") == b"hello"  # data kept


@pytest.mark.parametrize("version", broker.SUPPORTED_VERSIONS)
async def test_sasl_scram_and_plain(version: str, home: Path) -> None:
    broker.ensure_kafka(version)
    port, sasl_port = free_port(), free_port()
    started = broker.start(port, version=version, home=home, sasl_port=sasl_port, sasl_users=USERS)
    sasl_bootstrap = f"127.0.0.1:{sasl_port}"

    scram = {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "alice",
        "sasl_plain_password": USERS["alice"],
    }
    plain = {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "PLAIN",
        "sasl_plain_username": "bob",
        "sasl_plain_password": USERS["bob"],
    }
    await produce(sasl_bootstrap, "secured", b"via scram", **scram)
    assert await consume_one(sasl_bootstrap, "secured", **plain) == b"via scram"

    for mechanism in ("SCRAM-SHA-512", "PLAIN"):
        began = time.monotonic()
        with pytest.raises(SaslAuthenticationFailed):
            await create_conn(
                "127.0.0.1",
                sasl_port,
                security_protocol="SASL_PLAINTEXT",
                sasl_mechanism=mechanism,
                sasl_plain_username="alice",
                sasl_plain_password="wrong-password",
            )
        assert time.monotonic() - began < 5

    broker_log = started.log_file.read_text()
    assert not any(password in broker_log for password in USERS.values())


def test_port_taken_by_another_program(home: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        with pytest.raises(broker.BrokerError, match=f"port {port} .* already in use"):
            broker.start(port, home=home)


def test_broker_death_reports_log_tail(home: Path) -> None:
    version = broker.SUPPORTED_VERSIONS[-1]
    broker.ensure_kafka(version)
    port = free_port()
    started = broker.start(port, version=version, home=home)
    broker.stop(port, home=home)
    meta = started.data_dir / "meta.properties"
    meta.write_text(meta.read_text().replace("node.id=1", "node.id=7"))

    with pytest.raises(broker.BrokerError, match=r"exited(.|\n)*node id"):
        broker.start(port, version=version, home=home)
    assert not broker.status(port, home=home).running
