"""docker-compose.yml and the Dockerfile, checked without a Docker engine (none runs here)."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
import yaml

from stream.settings import Settings
from tests.conftest import ROOT

COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
DOCKERFILE = (ROOT / "Dockerfile").read_text()
SETTING_NAMES = {name.upper() for name in Settings.model_fields}


def test_compose_has_kraft_kafka_and_a_worker_built_from_the_dockerfile() -> None:
    services = COMPOSE["services"]
    kafka = services["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    env = kafka["environment"]
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert "CONTROLLER" in env["KAFKA_CONTROLLER_LISTENER_NAMES"]
    assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == 1
    # Every advertised listener is declared, with a protocol.
    listeners = {item.split("://")[0] for item in env["KAFKA_LISTENERS"].split(",")}
    advertised = {item.split("://")[0] for item in env["KAFKA_ADVERTISED_LISTENERS"].split(",")}
    protocols = {
        item.split(":")[0] for item in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(",")
    }
    assert advertised <= listeners <= protocols
    assert env["KAFKA_INTER_BROKER_LISTENER_NAME"] in listeners

    worker = services["worker"]
    assert worker["build"] == "."
    assert (ROOT / "Dockerfile").is_file()
    assert worker["depends_on"]["kafka"]["condition"] == "service_healthy"
    host, port = worker["environment"]["KAFKA_BOOTSTRAP_SERVERS"].split(":")
    assert host == "kafka" and f"INTERNAL://kafka:{port}" in env["KAFKA_ADVERTISED_LISTENERS"]
    assert "ports" not in worker, "fixed host ports would stop `--scale worker=N`"


def test_compose_trainer_shares_the_image_and_the_model_volume() -> None:
    worker, trainer = COMPOSE["services"]["worker"], COMPOSE["services"]["trainer"]
    assert trainer["image"] == worker["image"]
    assert trainer["command"] == ["trainer"]
    assert "models:/models" in trainer["volumes"] and "models:/models" in worker["volumes"]
    assert trainer["environment"]["MODEL_STORE"] == worker["environment"]["MODEL_STORE"]


def test_compose_environment_names_are_real_settings() -> None:
    for name in ("worker", "trainer"):
        unknown = set(COMPOSE["services"][name]["environment"]) - SETTING_NAMES
        assert not unknown, f"{name} sets variables no setting reads: {unknown}"


def test_compose_volumes_are_declared() -> None:
    declared = set(COMPOSE["volumes"])
    for service in COMPOSE["services"].values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if not source.startswith((".", "/")):
                assert source in declared


def test_dockerfile_copies_what_exists_and_runs_the_cli() -> None:
    for line in DOCKERFILE.splitlines():
        match = re.match(r"COPY\s+(?!--)(.+)\s+\S+$", line)
        if match:
            for source in match[1].split():
                assert (ROOT / source).exists(), f"Dockerfile copies missing {source}"
    assert 'ENTRYPOINT ["feedback"]' in DOCKERFILE
    assert re.search(r"torch==[\d.]+", DOCKERFILE)[0] in (ROOT / "pyproject.toml").read_text()
    env_names = set(re.findall(r"^\s+([A-Z_]+)=", DOCKERFILE, re.M))
    assert env_names - {
        "PYTHONUNBUFFERED",
        "PIP_DISABLE_PIP_VERSION_CHECK",
        "PIP_NO_CACHE_DIR",
    } <= (SETTING_NAMES)


@pytest.mark.docker
def test_docker_compose_config_accepts_the_file() -> None:
    if not shutil.which("docker"):
        pytest.skip("the docker client is not installed")
    version = subprocess.run(["docker", "compose", "version"], capture_output=True)
    if version.returncode != 0:
        pytest.skip("the docker compose plugin is not installed")
    result = subprocess.run(
        ["docker", "compose", "-f", str(ROOT / "docker-compose.yml"), "config", "--quiet"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr


def test_readme_configuration_table_matches_the_settings() -> None:
    from stream.settings import settings_table

    assert settings_table() in (ROOT / "README.md").read_text()
