"""devtools.broker (the local broker launcher) against a real Kafka broker: no mocks.

Each test runs brokers in a throwaway feedback home; the jars come from the shared
default cache (`ensure_kafka` falls back to it), so only the first run downloads.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.conn import create_conn
from aiokafka.errors import SaslAuthenticationFailed

from devtools import broker
from devtools.net import free_port
from tests.conftest import ROOT

pytestmark = [
    pytest.mark.kafka,
    pytest.mark.skipif(
        shutil.which("java") is None or shutil.which("mvn") is None,
        reason="needs `java` (runs the broker) and `mvn` (fetches its jars from Maven Central)",
    ),
]

USERS = {"alice": "alice-secret", "bob": "bob-secret"}


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    """A feedback home whose brokers are all stopped at the end."""
    yield tmp_path
    for state_dir in (tmp_path / "broker").glob("*"):
        broker.stop(int(state_dir.name), home=tmp_path)


def feedback_broker(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`feedback broker ARGS` with `home` as FEEDBACK_HOME."""
    return subprocess.run(
        [sys.executable, "-m", "stream.cli", "broker", *args],
        env={**os.environ, "FEEDBACK_HOME": str(home)},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def assert_one_error_line(done: subprocess.CompletedProcess[str], *fragments: str) -> None:
    """The command failed with exit code 2 (a user's mistake) and one plain `error: ...` line."""
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, done.stderr
    for fragment in fragments:
        assert fragment in errors[0], errors[0]


def assert_passwords_kept_out(state_dir: Path, *passwords: str) -> None:
    """No broker log holds a password, and no password file is left behind."""
    logs = "".join(path.read_text() for path in state_dir.glob("broker.log*"))
    assert not any(password in logs for password in passwords)
    assert not list(state_dir.glob("*scram*"))  # kafka-configs' password file


def scram(user: str, password: str) -> dict[str, str]:
    return {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": user,
        "sasl_plain_password": password,
    }


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


@pytest.mark.parametrize("version", broker.SUPPORTED_VERSIONS)
async def test_adding_sasl_and_ssl_keeps_the_topics(version: str, home: Path) -> None:
    broker.ensure_kafka(version)
    port, sasl_port, ssl_port = free_port(), free_port(), free_port()
    alice, bob = (f"{name}-{uuid.uuid4().hex[:10]}" for name in ("alice", "bob"))
    started = broker.start(port, version=version, home=home)
    await produce(started.bootstrap, "kept", b"before security")

    # While it runs, other options are refused with what differs, and change nothing.
    sasl_args = ["--sasl-port", str(sasl_port), "--sasl-user", f"alice:{alice}"]
    done = feedback_broker(home, "start", "--port", str(port), *sasl_args)
    assert_one_error_line(
        done, "already runs with other options", f"SASL port none, not {sasl_port}",
        f"stop it first (`feedback broker stop --port {port}`)",
    )  # fmt: skip
    assert alice not in done.stderr
    other_version = next(v for v in broker.SUPPORTED_VERSIONS if v != version)
    with pytest.raises(broker.BrokerError, match=f"Kafka {version}, not {other_version}"):
        broker.start(port, version=other_version, home=home)
    assert broker.start(port, home=home) == started  # nothing asked that it lacks

    broker.stop(port, home=home)
    secured = broker.start(
        port,
        home=home,  # the version: the one that last ran the data
        sasl_port=sasl_port,
        sasl_users={"alice": alice},
        ssl_port=ssl_port,
    )
    assert secured.version == version
    assert secured.ssl_bootstrap == f"127.0.0.1:{ssl_port}"
    sasl_bootstrap = f"127.0.0.1:{sasl_port}"
    assert await consume_one(sasl_bootstrap, "kept", **scram("alice", alice)) == (
        b"before security"
    )
    with pytest.raises(SaslAuthenticationFailed):
        await create_conn("127.0.0.1", sasl_port, **scram("alice", "wrong"))

    # A user added to the running broker's options: refused while it runs...
    users = {"alice": alice, "bob": bob}
    with pytest.raises(broker.BrokerError, match="SASL users bob missing"):
        broker.start(port, home=home, sasl_port=sasl_port, sasl_users=users)
    if version != broker.DEFAULT_VERSION:
        assert_passwords_kept_out(started.log_file.parent, alice)
        return  # the rest takes the same path in both versions: one restart saved
    # ...set after a restart, topics kept; a user left out loses access.
    broker.stop(port, home=home)
    broker.start(port, home=home, sasl_port=sasl_port, sasl_users={"bob": bob})
    assert await consume_one(sasl_bootstrap, "kept", **scram("bob", bob)) == b"before security"
    with pytest.raises(SaslAuthenticationFailed):
        await create_conn("127.0.0.1", sasl_port, **scram("alice", alice))
    assert_passwords_kept_out(started.log_file.parent, alice, bob)


async def test_an_older_kafka_is_refused_unless_reformat(home: Path) -> None:
    new, old = broker.SUPPORTED_VERSIONS  # 4.1.1, 3.9.1
    for version in (new, old):
        broker.ensure_kafka(version)
    port = free_port()
    started = broker.start(port, version=old, home=home)
    await produce(started.bootstrap, "kept", b"on the old version")
    broker.stop(port, home=home)

    upgraded = broker.start(port, version=new, home=home)  # in place, topics kept
    assert await consume_one(upgraded.bootstrap, "kept") == b"on the old version"
    broker.stop(port, home=home)

    done = feedback_broker(home, "start", "--port", str(port), "--version", old)
    assert_one_error_line(done, f"last run by Kafka {new}", f"--version {new}", "--reformat")
    assert not broker.status(port, home=home).running

    reformatted = broker.start(port, version=old, home=home, reformat=True)
    assert reformatted.version == old
    consumer = AIOKafkaConsumer(bootstrap_servers=reformatted.bootstrap)
    await consumer.start()
    try:
        assert "kept" not in await consumer.topics()
    finally:
        await consumer.stop()
