"""Operations without a broker: README, logs, metrics, consumer lag, the live view."""

from __future__ import annotations

import io
import json
import logging
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
from faust.types import TP

from stream import logs
from stream.contracts import Reason, Source
from stream.live_view import LiveView
from stream.metrics import NAMESPACE, Metrics
from stream.processing import Message, Outcome
from stream.settings import Settings
from stream.web import DASHBOARD_ASSETS, STATIC, ConsumerLag, PartitionOffsets
from tests.conftest import ROOT


# --- README and the dashboard's assets ------------------------------------------------------
def test_readme_documents_operations() -> None:
    readme = (ROOT / "README.md").read_text()
    for needle in (
        "/metrics",
        "/healthz",
        "/readyz",
        "/dashboard",
        "LOG_FORMAT",
        "--scale worker=",
        "deploy/k8s",
        "examples/kcat",
        "examples/node",
        "model_swaps_total",
        "consumer_lag",
    ):
        assert needle in readme, needle


def test_dashboard_assets_are_self_contained() -> None:
    for filename, _ in DASHBOARD_ASSETS.values():
        text = (STATIC / filename).read_text()
        text = text.replace("http://www.w3.org/2000/svg", "")  # a namespace, not a fetch
        assert not re.search(r"(https?:)?//[\w.-]+\.\w+/", text), f"{filename} loads from afar"
    js = (STATIC / "dashboard.js").read_text()
    # Feedback texts are untrusted: nothing may be parsed as HTML.
    assert not re.search(r"\.(inner|outer)HTML\s*=|insertAdjacentHTML|document\.write", js)


def test_package_ships_the_static_files() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text()
    for suffix in {Path(f).suffix for f, _ in DASHBOARD_ASSETS.values()}:
        assert f"static/*{suffix}" in pyproject


# --- logs -----------------------------------------------------------------------------------
def _log_through(fmt: str, settings: Settings, emit) -> list[str]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter() if fmt == "json" else logs.TextFormatter())
    for secret in logs.secrets_of(settings):
        logs.register_secret(secret)
    logger = logging.getLogger(f"test.ops.{fmt}")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    try:
        emit(logger)
    finally:
        logger.removeHandler(handler)
    return stream.getvalue().splitlines()


def _leaky(logger: logging.Logger) -> None:
    settings = Settings(
        _env_file=None,
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_sasl_password="pa55-word-xyz",
    )
    logger.info("connecting with %s", settings.kafka_client_options())
    logger.warning("retry", extra={"detail": "password=pa55-word-xyz", "attempt": 2})
    try:
        raise RuntimeError("auth failed for pa55-word-xyz")
    except RuntimeError:
        logger.exception("boom")
    logger.info("dsn kafka://u:other=1 token: abc123 and sasl_plain_password='zzz'")


def test_json_logs_are_one_object_per_line_with_secrets_masked() -> None:
    settings = Settings(_env_file=None, kafka_sasl_password="pa55-word-xyz")
    lines = _log_through("json", settings, _leaky)
    entries = [json.loads(line) for line in lines]
    assert [e["level"] for e in entries] == ["info", "warning", "error", "info"]
    assert entries[1]["attempt"] == 2 and entries[1]["logger"] == "test.ops.json"
    assert "Traceback" in entries[2]["exc"]
    text = "\n".join(lines)
    for secret in ("pa55-word-xyz", "abc123", "zzz"):
        assert secret not in text
    assert logs.MASK in entries[0]["message"]


def test_text_logs_are_human_lines_with_secrets_masked() -> None:
    settings = Settings(_env_file=None, kafka_sasl_password="pa55-word-xyz")
    lines = _log_through("text", settings, _leaky)
    assert re.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO +test\.ops\.text: ", lines[0])
    assert "pa55-word-xyz" not in "\n".join(lines)


def test_log_format_switch_configures_the_root_logger(capsys) -> None:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        config = logs.configure(Settings(_env_file=None, log_format="json", log_level="warning"))
        logging.getLogger("faust.worker").warning("[^Worker]: Ready")
        logging.getLogger("faust.worker").info("hidden below the level")
        (line,) = capsys.readouterr().err.splitlines()
        assert json.loads(line)["logger"] == "faust.worker"
        # The dict handed to Faust (mode) builds the same formatter.
        assert config["formatters"]["feedback"]["()"] == "stream.logs.JsonFormatter"
        assert config["disable_existing_loggers"] is False
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])
    with pytest.raises(ValueError):
        Settings(_env_file=None, log_format="xml")


# --- metrics and the live view --------------------------------------------------------------
def _batch(n_ok: int, dead: list[Reason], topic: str = "fb", ts_ms: int | None = None):
    messages, outcomes = [], []
    for i in range(n_ok + len(dead)):
        messages.append(Message(None, b"{}", Source(topic, i % 2, 100 + i, ts_ms)))
    for i in range(n_ok):
        label = ("positive", "negative", "neutral")[i % 3]
        text = f"Vodafone and the Pixel 8 <b>{i}</b>"
        enrichment = {
            "id": f"r-{i}",
            "sentiment": {"label": label, "scores": {label: 0.9}},
            "entities": [
                {"text": "Vodafone", "label": "ORG", "start": 0, "end": 8},
                {"text": "Pixel 8", "label": "PRODUCT", "start": 17, "end": 24},
                {"text": "Paris", "label": "GPE", "start": 0, "end": 5},
            ],
            "processed_at": "2026-11-25T09:00:00.000Z",
        }
        record = {"id": f"r-{i}", "text": text, "enrichment": enrichment}
        outcomes.append(Outcome(False, None, b"{}", record=record, text=text))
    for reason in dead:
        outcomes.append(Outcome(True, None, b"{}", reason=reason, record={}))
    return messages, outcomes


def test_metrics_count_a_batch() -> None:
    metrics = Metrics()
    messages, outcomes = _batch(5, [Reason.INVALID_JSON, Reason.INVALID_JSON, Reason.MISSING_ID])
    metrics.batch_done(
        messages, outcomes, inference_s=0.2, published_at=1_000.5
    )  # timestamps 1000 s
    assert metrics.value("feedback_messages_in_total", topic="fb") == 8
    assert metrics.value("feedback_messages_out_total") == 5
    assert metrics.value("feedback_messages_dlq_total", reason="invalid_json") == 2
    assert metrics.value("feedback_messages_dlq_total", reason="missing_id") == 1
    assert metrics.value("feedback_batch_size_sum") == 8
    assert metrics.value("feedback_inference_seconds_count") == 1
    assert metrics.value("feedback_end_to_end_latency_seconds_count") == 0  # no timestamps
    messages, outcomes = _batch(2, [], ts_ms=1_000_000)
    metrics.batch_done(messages, outcomes, inference_s=0.1, published_at=1_000.5)
    assert metrics.value("feedback_end_to_end_latency_seconds_sum") == pytest.approx(1.0)
    assert metrics.value("feedback_end_to_end_latency_seconds_bucket", le="0.5") == 2
    assert metrics.next_offsets == {("fb", 0): 107, ("fb", 1): 108}
    metrics.lag_from(lambda: [("grp", "fb", 0, 3), ("grp", "fb", 1, 0)])
    assert metrics.value("feedback_consumer_lag", group="grp", topic="fb", partition="0") == 3
    assert b"_created" not in metrics.render()


#: The project's metric families (sample names add `_total`, `_bucket`, `_sum`, `_count`).
FEEDBACK_FAMILIES = {
    "feedback_messages_in": "counter",
    "feedback_messages_out": "counter",
    "feedback_messages_dlq": "counter",
    "feedback_agent_crashes": "counter",
    "feedback_batch_size": "histogram",
    "feedback_inference_seconds": "histogram",
    "feedback_end_to_end_latency_seconds": "histogram",
    "feedback_consumer_lag": "gauge",
    "feedback_serving_model_info": "gauge",
    "feedback_model_swaps": "counter",
    "feedback_model_refusals": "counter",
    "feedback_last_batch_timestamp_seconds": "gauge",
}


def test_every_metric_has_the_prefix_and_the_process_collectors_are_registered() -> None:
    from prometheus_client.parser import text_string_to_metric_families

    metrics = Metrics()
    text = metrics.render().decode()
    families = {f.name: f.type for f in text_string_to_metric_families(text)}
    ours = {name: kind for name, kind in families.items() if name.startswith(f"{NAMESPACE}_")}
    foreign = set(families) - set(ours)
    assert all(name.startswith(("process_", "python_")) for name in foreign), foreign
    assert ours.items() >= FEEDBACK_FAMILIES.items(), ours
    samples = {line.split(" ")[0].split("{")[0] for line in text.splitlines() if line[:1] != "#"}
    for name in (
        "process_resident_memory_bytes",
        "process_cpu_seconds_total",
        "process_open_fds",
        "process_start_time_seconds",
        "python_info",
        "python_gc_collections_total",
    ):
        assert name in samples, name
    assert metrics.value("process_resident_memory_bytes") > 0


class _FakeConsumer:
    def __init__(self, assignment: set[TP], highwater: dict[TP, int]) -> None:
        self._assignment = assignment
        self._highwater = highwater

    def assignment(self) -> set[TP]:
        return self._assignment

    def highwater(self, tp: TP) -> int | None:
        return self._highwater.get(tp)


def test_consumer_lag_covers_every_assigned_partition_from_the_broker_offsets() -> None:
    tps = [TP("fb", p) for p in range(4)]
    app = SimpleNamespace(
        conf=SimpleNamespace(id="grp"),
        consumer=_FakeConsumer({*tps, TP("other", 0)}, {tps[2]: 130}),
    )
    metrics = Metrics()
    lag = ConsumerLag(app, Settings(_env_file=None, input_topic="fb"), metrics)
    metrics.lag_from(lag.rows)
    lag.offsets = {
        ("fb", 0): PartitionOffsets(end=0, committed=None, start=0),  # empty, new group
        ("fb", 1): PartitionOffsets(end=50, committed=None, start=10),  # backlog, new group
        ("fb", 2): PartitionOffsets(end=120, committed=100, start=0),  # committed, fetched to 130
        ("fb", 3): PartitionOffsets(end=80, committed=0, start=40),  # committed 0 is a commit
        ("fb", 9): PartitionOffsets(end=9, committed=None, start=0),  # revoked since the refresh
    }
    metrics.next_offsets[("fb", 2)] = 125  # a batch published since the last commit
    rows = list(lag.rows())
    assert rows == [("grp", "fb", 0, 0), ("grp", "fb", 1, 40), ("grp", "fb", 2, 5),
                    ("grp", "fb", 3, 80)]  # fmt: skip
    assert metrics.value("feedback_consumer_lag", group="grp", topic="fb", partition="1") == 40
    # A rebalance forgets what this worker did on partitions it no longer holds.
    metrics.next_offsets[("fb", 7)] = 3
    lag.on_assigned(app, {tps[2]})
    assert metrics.next_offsets == {("fb", 2): 125}


def test_model_swaps_and_refusals_are_counted() -> None:
    metrics = Metrics()
    metrics.set_serving_model("v1")
    metrics.record_model_swap("v2")
    metrics.record_model_refusal("v3", "ModelRefused: checksum abc != def")
    assert metrics.value("feedback_model_swaps_total") == 1
    assert metrics.value("feedback_serving_model_info", version="v2") == 1
    assert metrics.value("feedback_serving_model_info", version="v1") is None
    assert metrics.value("feedback_model_refusals_total", version="v3", reason="ModelRefused") == 1
    # Two workers in one process count apart.
    assert Metrics().value("feedback_model_swaps_total") == 0


def test_live_view_window() -> None:
    view = LiveView(window_s=60, negatives=3, top=1)
    messages, outcomes = _batch(6, [Reason.INVALID_JSON])
    view.add(outcomes, now=1_000.2)
    view.add(outcomes[:3], now=1_030.7)
    snap = view.snapshot(now=1_031)
    assert snap["messages"] == 10 and snap["dead"] == 1 and snap["enriched"] == 9
    assert snap["sentiment"] == {"positive": 3, "negative": 3, "neutral": 3}
    assert len(snap["rate"]["per_second"]) == 60 and sum(snap["rate"]["per_second"]) == 10
    assert snap["rate"]["per_second"][-2:] == [3, 0]  # the last point is the current second
    (top,) = snap["entities"]
    assert top["mentions"] == 9 and top["sentiment"]["negative"] == 3
    assert [n["id"] for n in snap["negative"]] == ["r-1", "r-4", "r-1"]  # newest first
    assert all(e["label"] in ("ORG", "PRODUCT") for n in snap["negative"] for e in n["entities"])
    later = view.snapshot(now=1_075)  # the first batch left the window
    assert later["messages"] == 3 and len(later["negative"]) == 1
    assert view.snapshot(now=2_000)["messages"] == 0


# --- configuration --------------------------------------------------------------------------
def test_config_reads_dotenv_masks_secrets_and_reports_bad_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    from stream.cli import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("LOG_FORMAT=json\nKAFKA_SASL_PASSWORD=dotenv-secret-42\n")
    assert main(["config"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^LOG_FORMAT\s+json$", out, re.M)
    assert "dotenv-secret-42" not in out and re.search(r"^KAFKA_SASL_PASSWORD\s+\*+$", out, re.M)

    monkeypatch.setenv("DASHBOARD_WINDOW_S", "5")
    monkeypatch.setenv("LOG_FORMAT", "xml")
    assert main(["config"]) == 2
    err = capsys.readouterr().err
    assert "DASHBOARD_WINDOW_S" in err and "LOG_FORMAT" in err and "Traceback" not in err


def test_the_worker_app_registers_its_pages(tmp_path: Path) -> None:
    from stream.app import create_app
    from tests.fakes import KeywordEnricher

    for enabled in (True, False):
        settings = Settings(
            _env_file=None, feedback_home=tmp_path, dashboard_enabled=enabled, app_id=f"t{enabled}"
        )
        worker = create_app(settings, KeywordEnricher())
        paths = set(worker.app.web.views)
        assert {"/metrics", "/healthz", "/readyz"} <= paths
        assert ({"/dashboard", "/dashboard/data", "/dashboard/app.js"} <= paths) is enabled
        assert worker.ops.metrics.serving == KeywordEnricher().version
