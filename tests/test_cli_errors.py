"""A user's mistakes: each one gets one plain line `error: ...` on stderr and exit code 2.

Every case runs the real `feedback` command in a subprocess and checks the exit code, the
message (the setting or file named, the fix suggested) and that no traceback is printed.
Kafka cases use a port nobody listens on, or the real (PLAINTEXT) test broker.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import ssl
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path

import orjson
import pytest

from stream.cli import main
from stream.kafka import consumer
from stream.settings import Settings, bootstrap_list
from tests.conftest import ROOT, Topics, Worker, free_port, produce, start_worker

SETTING_NAMES = {name.upper() for name in Settings.model_fields} | {"FEEDBACK_MODEL_VERSION"}


def feedback(
    *args: str, cwd: Path, timeout: float = 120, **env: str
) -> subprocess.CompletedProcess:
    """Run `feedback ARGS` with no setting from this process's environment, only `env`."""
    clean = {k: v for k, v in os.environ.items() if k not in SETTING_NAMES}
    full = clean | {"PYTHONPATH": str(ROOT), "FEEDBACK_HOME": str(cwd / "home")} | env
    return subprocess.run(
        [sys.executable, "-m", "stream.cli", *args],
        env=full,
        cwd=cwd,  # no .env file there
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def refused(result: subprocess.CompletedProcess, *fragments: str) -> str:
    """Assert exit code 2 and one plain `error:` line holding every fragment; return the line."""
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "Traceback" not in output, output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def nobody_listening() -> str:
    return f"127.0.0.1:{free_port()}"


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """A model store with two versions (v2 promoted); no weights, never loaded."""
    root = tmp_path / "store"
    for created, name in enumerate(["v1", "v2"]):
        (root / name).mkdir(parents=True)
        (root / name / "model-card.json").write_text(json.dumps({"created_at": str(created)}))
    (root / "PROMOTED").write_text("v2\n")
    return root


# --- the command itself ---------------------------------------------------------------------
def test_version(tmp_path: Path) -> None:
    result = feedback("--version", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"feedback {version('feedback-stream')}"


def test_a_closed_stdout_is_no_traceback(tmp_path: Path) -> None:
    """`feedback config | head -1`: the reader is gone before the command writes."""
    clean = {k: v for k, v in os.environ.items() if k not in SETTING_NAMES}
    proc = subprocess.Popen(
        [sys.executable, "-m", "stream.cli", "config"],
        env=clean | {"PYTHONPATH": str(ROOT)},
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    proc.stdout.close()
    stderr = proc.stderr.read().decode()
    assert proc.wait(120) == 1, stderr
    assert stderr == ""


# --- settings validation: `feedback config` catches what the worker would trip on ------------
# As in the worker image, where the development tools (devtools/) are not installed.
WITHOUT_DEVTOOLS = """
import sys
from importlib.abc import MetaPathFinder

class NoDevtools(MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.partition(".")[0] == "devtools":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)

sys.meta_path.insert(0, NoDevtools())
from stream.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize("command", [["broker", "status"], ["bench", "--quick"]])
def test_the_image_has_no_dev_tools_and_says_so_in_one_line(
    command: list[str], tmp_path: Path
) -> None:
    copied = re.findall(r"^COPY (\S+)", (ROOT / "Dockerfile").read_text(), re.MULTILINE)
    assert "stream" in copied and not any(path.startswith("devtools") for path in copied)
    assert "devtools" in (ROOT / ".dockerignore").read_text().split()
    result = subprocess.run(
        [sys.executable, "-c", WITHOUT_DEVTOOLS, *command],
        env={**os.environ, "PYTHONPATH": str(ROOT), "FEEDBACK_HOME": str(tmp_path)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    refused(result, f"`feedback {command[0]}`) is a development tool, not in the worker image")


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("LOG_LEVEL", "verbose", "'debug', 'info', 'warning' or 'error'"),
        ("WEB_PORT", "99999", "less than or equal to 65535"),
        ("WEB_PORT", "0", "greater than or equal to 1"),
        ("WEB_PORT", "-5", "greater than or equal to 1"),
        ("KAFKA_BOOTSTRAP_SERVERS", "a:1;b:2", "use commas"),
        ("KAFKA_BOOTSTRAP_SERVERS", "kafka:99999", "port must be a number from 1 to 65535"),
        ("AUTO_OFFSET_RESET", "newest", "'earliest' or 'latest'"),
        ("KAFKA_CONNECT_TIMEOUT_S", "0", "greater than 0"),
    ],
)
def test_bad_settings_are_one_line_naming_the_setting(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
    name: str,
    value: str,
    says: str,
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env
    for setting in SETTING_NAMES:
        monkeypatch.delenv(setting, raising=False)
    monkeypatch.setenv(name, value)
    code = main(["config"])
    captured = capsys.readouterr()
    result = subprocess.CompletedProcess(["config"], code, captured.out, captured.err)
    refused(result, f"{name}: ", says, value)


def test_the_worker_refuses_a_bad_log_level_like_config(tmp_path: Path) -> None:
    refused(feedback("worker", cwd=tmp_path, LOG_LEVEL="verbose"), "LOG_LEVEL: ", "verbose")


def test_settings_accept_what_they_should(tmp_path: Path) -> None:
    result = feedback(
        "config",
        cwd=tmp_path,
        LOG_LEVEL="WARNING",
        KAFKA_BOOTSTRAP_SERVERS="kafka, b:19092",
        KAFKA_SSL_CAFILE="",
        AUTO_OFFSET_RESET="latest",
    )
    assert result.returncode == 0, result.stderr
    shown = dict(line.split(maxsplit=1) for line in result.stdout.splitlines())
    assert shown["LOG_LEVEL"] == "warning"
    assert shown["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092,b:19092"
    assert shown["KAFKA_SSL_CAFILE"] == "None"
    assert shown["AUTO_OFFSET_RESET"] == "latest"
    assert shown["KAFKA_CONNECT_TIMEOUT_S"] == "10.0"


def test_the_bootstrap_list_is_parsed_in_one_place(tmp_path: Path) -> None:
    from stream.app import faust_app

    assert bootstrap_list("kafka") == ["kafka:9092"]
    assert bootstrap_list(" a:1 ,,[::1]:2, c") == ["a:1", "[::1]:2", "c:9092"]
    for bad in ("a:1;b:2", "a:1 b:2", "kafka://a:1", "a:x", "::1", ""):
        with pytest.raises(ValueError):
            bootstrap_list(bad)
    settings = Settings(
        _env_file=None,
        kafka_bootstrap_servers="kafka,b:19092",
        feedback_home=tmp_path,
        auto_offset_reset="latest",
    )
    assert settings.bootstrap_servers == ["kafka:9092", "b:19092"]
    assert settings.bootstrap_addresses == [("kafka", 9092), ("b", 19092)]
    app = faust_app(settings)
    assert [str(url) for url in app.conf.broker] == ["kafka://kafka:9092", "kafka://b:19092"]
    assert app.conf.consumer_auto_offset_reset == "latest"
    assert Settings(_env_file=None).auto_offset_reset == "earliest"


# --- Kafka not there ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "command",
    [["worker"], ["trainer"], ["labels", "import", "labels.jsonl"], ["models", "promote", "v1"]]
    + [["models", "rollback"]],
    ids=lambda c: " ".join(c[:2]),
)
def test_no_broker_is_one_line_within_the_connect_timeout(
    tmp_path: Path, store: Path, command: list[str]
) -> None:
    (tmp_path / "labels.jsonl").write_text('{"id": 1, "text": "fine", "sentiment": "positive"}\n')
    server = nobody_listening()
    result = feedback(
        *command,
        cwd=tmp_path,
        KAFKA_BOOTSTRAP_SERVERS=server,
        KAFKA_CONNECT_TIMEOUT_S="2",
        MODEL_STORE=str(store),
    )
    refused(
        result,
        f"no Kafka broker answered at KAFKA_BOOTSTRAP_SERVERS={server} within 2 s",
        "connection refused",
        "feedback broker start",
    )


# --- model versions ------------------------------------------------------------------------------
def test_an_unknown_model_version_lists_the_stored_ones(tmp_path: Path, store: Path) -> None:
    (tmp_path / "in.jsonl").write_text('{"id": 1, "text": "fine"}\n')
    env = {
        "MODEL_STORE": str(store),
        "MODEL_VERSION": "v9",
        "KAFKA_BOOTSTRAP_SERVERS": nobody_listening(),  # checked before Kafka
    }
    for command in (["worker"], ["enrich", "in.jsonl", "-o", "out.jsonl"], ["trainer"]):
        refused(
            feedback(*command, cwd=tmp_path, **env),
            f"MODEL_VERSION=v9 is not in the model store {store}",
            "versions: v1, v2 (promoted)",
            "unset MODEL_VERSION",
        )
    assert not (tmp_path / "out.jsonl").exists()

    refused(
        feedback("models", "promote", "v9", cwd=tmp_path, **env),
        f"model version 'v9' is not in the model store {store}",
        "feedback models list",
    )
    assert (store / "PROMOTED").read_text() == "v2\n"

    empty = {**env, "MODEL_STORE": str(tmp_path / "empty")}
    refused(feedback("worker", cwd=tmp_path, **empty), "it is empty", "feedback train")


# --- TLS files, ports, files --------------------------------------------------------------------
def test_a_missing_or_bad_ca_file_is_named_before_connecting(tmp_path: Path) -> None:
    not_pem = tmp_path / "ca.crt"
    not_pem.write_text("REPLACE WITH THE CA CERTIFICATE\n")
    env = {"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_BOOTSTRAP_SERVERS": nobody_listening()}
    missing = tmp_path / "nowhere" / "ca.crt"
    refused(
        feedback("worker", cwd=tmp_path, KAFKA_SSL_CAFILE=str(missing), **env),
        f"KAFKA_SSL_CAFILE={missing} is not a file",
        "leave it empty",
    )
    refused(
        feedback(
            "labels", "import", str(not_pem), cwd=tmp_path, KAFKA_SSL_CAFILE=str(not_pem), **env
        ),
        f"KAFKA_SSL_CAFILE={not_pem} holds no usable PEM certificate",
    )


def test_an_empty_ca_file_setting_means_the_system_trust_store(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KAFKA_SSL_CAFILE", "")
    settings = Settings(_env_file=None, kafka_security_protocol="SASL_SSL")
    assert settings.kafka_ssl_cafile is None
    context = settings.kafka_client_options()["ssl_context"]
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname


def test_a_web_port_in_use_is_named_before_kafka_and_the_model(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = feedback(
            "worker",
            cwd=tmp_path,
            WEB_PORT=str(port),
            KAFKA_BOOTSTRAP_SERVERS=nobody_listening(),
            MODEL_STORE=str(tmp_path / "empty"),  # would train the default model
        )
    refused(result, f"WEB_PORT={port} is already in use on 127.0.0.1", "free port")


def test_a_missing_labels_file_is_named(tmp_path: Path) -> None:
    result = feedback(
        "labels", "import", "nope.jsonl", cwd=tmp_path, KAFKA_BOOTSTRAP_SERVERS=nobody_listening()
    )
    refused(result, "nope.jsonl: no such file")


# --- security protocol against a PLAINTEXT listener (the real broker) --------------------------
@pytest.mark.kafka
@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"KAFKA_SECURITY_PROTOCOL": "SSL"}, "broke off the TLS handshake"),
        (
            {
                "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
                "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
                "KAFKA_SASL_USERNAME": "alice",
                "KAFKA_SASL_PASSWORD": "pw-not-shown-123",
            },
            "does not speak SASL on that port",
        ),
    ],
    ids=["ssl", "sasl"],
)
def test_a_secure_client_against_a_plaintext_listener_is_told_at_once(
    kafka_bootstrap: str, tmp_path: Path, env: dict[str, str], says: str
) -> None:
    # A retry loop would end in "no Kafka broker answered" after the timeout instead.
    result = feedback(
        "worker",
        cwd=tmp_path,
        KAFKA_BOOTSTRAP_SERVERS=kafka_bootstrap,
        KAFKA_CONNECT_TIMEOUT_S="15",
        **env,
    )
    line = refused(result, says, "KAFKA_SECURITY_PROTOCOL", "PLAINTEXT listener")
    assert "pw-not-shown-123" not in line


# --- every command logs in LOG_FORMAT ---------------------------------------------------------
@pytest.mark.kafka
def test_labels_import_logs_in_the_log_format(kafka_bootstrap: str, tmp_path: Path) -> None:
    labels = tmp_path / "labels.jsonl"
    labels.write_text('{"id": 1, "text": "Love it", "sentiment": "positive"}\n')
    topic = Topics(kafka_bootstrap, partitions=1).labels
    result = feedback(
        "labels",
        "import",
        str(labels),
        cwd=tmp_path,
        KAFKA_BOOTSTRAP_SERVERS=kafka_bootstrap,
        LABELS_TOPIC=topic,
        LOG_FORMAT="json",
    )
    assert result.returncode == 0, result.stderr
    assert f"1 labels published to {topic}" in result.stdout
    records = [json.loads(line) for line in result.stderr.splitlines()]
    assert any(topic in r["message"] for r in records), result.stderr  # "created topics ..."


# --- AUTO_OFFSET_RESET ---------------------------------------------------------------------------
@pytest.mark.kafka
@pytest.mark.slow
def test_a_new_group_with_latest_skips_old_messages(
    workers: list[Worker], topics: Topics, tmp_path: Path
) -> None:
    def message(id_: str) -> bytes:
        return orjson.dumps({"id": id_, "text": "The Pixel 8 from Google is great"})

    asyncio.run(produce(topics.bootstrap, topics.input, [message(f"old-{i}") for i in range(6)]))
    start_worker(workers, topics, tmp_path, AUTO_OFFSET_RESET="latest").wait_ready()
    ids = asyncio.run(_produce_until_enriched(topics, message))
    assert not [i for i in ids if i.startswith("old-")], ids
    assert {f"last-{i}" for i in range(6)} <= set(ids), ids


async def _produce_until_enriched(topics: Topics, message, timeout_s: float = 120) -> list[str]:
    """Send probes until the worker enriches one (its partitions are then assigned and
    positioned), then six more; return the ids of every enriched record."""
    out = consumer(topics.settings(), topics.output)
    await out.start()
    ids: list[str] = []
    deadline = time.monotonic() + timeout_s
    try:
        probe = 0
        while not ids:
            assert time.monotonic() < deadline, "the worker enriched no new message"
            await produce(topics.bootstrap, topics.input, [message(f"probe-{probe}")])
            probe += 1
            ids += await _ids(out, 1000)
        await produce(topics.bootstrap, topics.input, [message(f"last-{i}") for i in range(6)])
        while not {f"last-{i}" for i in range(6)} <= set(ids) and time.monotonic() < deadline:
            ids += await _ids(out, 500)
        ids += await _ids(out, 1000)  # anything late, old messages included
    finally:
        await out.stop()
    return ids


async def _ids(cons, timeout_ms: int) -> list[str]:
    batches = await cons.getmany(timeout_ms=timeout_ms)
    return [orjson.loads(r.value)["id"] for records in batches.values() for r in records]


@pytest.mark.parametrize(
    ("config", "says"),
    [
        ("missing.cfg", "cannot read training config missing.cfg"),
        ("bad.cfg", "training config bad.cfg"),
        ("nodata.cfg", "no such data file: calibration"),
    ],
)
def test_the_trainer_refuses_a_bad_training_config_before_kafka(
    tmp_path: Path, config: str, says: str
) -> None:
    (tmp_path / "bad.cfg").write_text("[sentiment]\ndim = 0\n", "utf-8")
    default = (ROOT / "nlp" / "config.cfg").read_text("utf-8")
    nodata = default.replace('calibration = "dev.jsonl"', 'calibration = "nope.jsonl"')
    (tmp_path / "nodata.cfg").write_text(nodata, "utf-8")
    result = feedback(
        "trainer", cwd=tmp_path, TRAINER_CONFIG=config, KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:9"
    )
    refused(result, "TRAINER_CONFIG: ", says)
