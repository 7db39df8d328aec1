"""SASL (SCRAM-SHA-512 and PLAIN) and TLS against a local broker with SASL and SSL
listeners; secrets stay out of logs; the web port binds to loopback unless configured."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from devtools import broker
from stream.kafka import KafkaAuthError, check_connection, ensure_topics
from stream.settings import Settings
from tests.conftest import ROOT, Topics, collect, free_port, produce, start_worker

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

PASSWORD = "s3cret-Pa55-word"


@pytest.fixture(scope="module")
def sasl_broker(tmp_path_factory) -> str:
    home = tmp_path_factory.mktemp("sasl-home")
    port, sasl_port = free_port(), free_port()
    broker.start(port, home=home, sasl_port=sasl_port, sasl_users={"alice": PASSWORD})
    yield f"127.0.0.1:{sasl_port}"
    broker.stop(port, home=home)


@pytest.fixture(scope="module")
def tls_broker(tmp_path_factory) -> tuple[str, Path]:
    """(SSL bootstrap, CA file) of a broker whose SSL listener has a self-signed certificate."""
    home = tmp_path_factory.mktemp("tls-home")
    port = free_port()
    started = broker.start(port, home=home, ssl_port=free_port())
    assert started.ssl_bootstrap and started.ca_file and started.ca_file.exists()
    yield started.ssl_bootstrap, started.ca_file
    broker.stop(port, home=home)


def sasl_env(mechanism: str, password: str = PASSWORD) -> dict[str, str]:
    return {
        "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "KAFKA_SASL_MECHANISM": mechanism,
        "KAFKA_SASL_USERNAME": "alice",
        "KAFKA_SASL_PASSWORD": password,
    }


def sasl_options(mechanism: str, password: str = PASSWORD) -> dict[str, str]:
    return {
        "kafka_security_protocol": "SASL_PLAINTEXT",
        "kafka_sasl_mechanism": mechanism,
        "kafka_sasl_username": "alice",
        "kafka_sasl_password": password,
    }


def settings_for(bootstrap: str, mechanism: str, password: str = PASSWORD) -> Settings:
    return Settings(kafka_bootstrap_servers=bootstrap, **sasl_options(mechanism, password))


def feedback(command: str, **env: str) -> subprocess.CompletedProcess:
    """Run `feedback <command>` with this process's environment, minus KAFKA_*, plus `env`."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("KAFKA_")} | env
    return subprocess.run(
        [sys.executable, "-m", "stream.cli", command],
        env=full,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def worker_refused(bootstrap: str, **env: str) -> str:
    """Run `feedback worker`; assert it stops with exit code 2; return its output."""
    result = feedback("worker", KAFKA_BOOTSTRAP_SERVERS=bootstrap, **env)
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    return output


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-512", "PLAIN"])
def test_worker_round_trip_over_sasl(sasl_broker, mechanism, model_store, tmp_path) -> None:
    topics = Topics(sasl_broker, partitions=1)
    secure = topics.settings(**sasl_options(mechanism))
    asyncio.run(ensure_topics(secure, [topics.input, topics.output, topics.dlq]))
    workers: list = []
    try:
        worker = start_worker(workers, topics, tmp_path, **sasl_env(mechanism))
        values = [
            orjson.dumps({"id": i, "text": "Login to the Monzo app fails"}) for i in range(30)
        ]
        asyncio.run(produce(sasl_broker, topics.input, values, settings=secure))
        outputs, dead = asyncio.run(collect(topics, len(values), settings=secure, timeout_s=120))
        assert worker.alive, worker.log_tail()
        # The web port is on loopback by default.
        listening = Path("/proc/net/tcp").read_text()
        web_port = int(worker.env_used["WEB_PORT"])
        assert f"0100007F:{web_port:04X}" in listening
        assert f"00000000:{web_port:04X}" not in listening
    finally:
        for w in workers:
            w.stop()
    assert len(outputs) == 30 and not dead
    assert PASSWORD not in worker.log.read_text(errors="replace")


def test_wrong_password_fails_fast_with_a_clear_message(sasl_broker) -> None:
    with pytest.raises(KafkaAuthError, match="rejected the credentials of user 'alice'"):
        asyncio.run(
            check_connection(settings_for(sasl_broker, "SCRAM-SHA-512", "wrong"), timeout_s=20)
        )

    output = worker_refused(sasl_broker, **sasl_env("SCRAM-SHA-512", "wrong-" + PASSWORD))
    assert "rejected the credentials" in output
    assert PASSWORD not in output


def test_config_masks_the_password() -> None:
    result = feedback("config", **sasl_env("PLAIN"))
    assert result.returncode == 0, result.stderr
    assert PASSWORD not in result.stdout
    assert "KAFKA_SASL_PASSWORD          ********" in result.stdout
    assert PASSWORD not in repr(settings_for("x:1", "PLAIN"))


def test_worker_round_trip_over_tls(tls_broker, model_store, tmp_path) -> None:
    bootstrap, ca_file = tls_broker
    topics = Topics(bootstrap, partitions=1)
    secure = topics.settings(kafka_security_protocol="SSL", kafka_ssl_cafile=ca_file)
    asyncio.run(ensure_topics(secure, [topics.input, topics.output, topics.dlq]))
    workers: list = []
    try:
        worker = start_worker(
            workers,
            topics,
            tmp_path,
            KAFKA_SECURITY_PROTOCOL="SSL",
            KAFKA_SSL_CAFILE=str(ca_file),
        )
        text = "The Kindle Paperwhite is great"
        values = [orjson.dumps({"id": i, "text": text}) for i in range(20)]
        values.append(b"not json")
        asyncio.run(produce(bootstrap, topics.input, values, settings=secure))
        outputs, dead = asyncio.run(collect(topics, len(values), settings=secure, timeout_s=120))
        assert worker.alive, worker.log_tail()
    finally:
        for w in workers:
            w.stop()
    assert len(outputs) == 20 and len(dead) == 1
    assert {r["enrichment"]["sentiment"]["label"] for r in outputs} == {"positive"}


def test_an_untrusted_certificate_fails_fast_with_a_clear_message(tls_broker) -> None:
    bootstrap, _ = tls_broker
    untrusted = Settings(kafka_bootstrap_servers=bootstrap, kafka_security_protocol="SSL")
    with pytest.raises(KafkaAuthError, match="could not be verified.*KAFKA_SSL_CAFILE"):
        asyncio.run(check_connection(untrusted, timeout_s=20))

    assert "could not be verified" in worker_refused(bootstrap, KAFKA_SECURITY_PROTOCOL="SSL")
