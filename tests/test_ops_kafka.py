"""Operations against the real broker: two workers on a 4-partition topic share the load.

One pair of `feedback worker` processes serves the whole module (starting a worker loads
the model: seconds each): worker 0 logs JSON, worker 1 text. The tests check the load
split and the metrics on each worker's web port, health and readiness, the logs, the live
dashboard in a real headless Chromium, and the shell (kcat) and Node.js client examples.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.partitioner import DefaultPartitioner
from prometheus_client.parser import text_string_to_metric_families

from stream.kafka import ensure_topics, producer
from tests.conftest import ROOT, Topics, Worker, collect, input_offsets, position, produce

pytestmark = pytest.mark.kafka

ARTIFACTS = ROOT / "artifacts"
PARTITIONS = 4
#: Put in each worker's environment (unused with PLAINTEXT): it must never be logged.
SENTINEL_PASSWORD = "s3cret-" + uuid.uuid4().hex[:12]
TEXTS = [
    "The Galaxy Tab S9 screen is gorgeous, love it.",
    "Support at Vodafone never answered my ticket. Terrible.",
    "How do I change the delivery address on my Amazon order?",
    "My Pixel 8 battery drains overnight since the update.",
    "Great service from Delta today, the crew was lovely!",
]


class Cluster:
    """Two workers of one consumer group, and how to reach their web ports."""

    def __init__(self, topics: Topics, workers: list[Worker]) -> None:
        self.topics = topics
        self.workers = workers
        #: Each worker's partitions and /metrics once ready, before any test produced.
        self.idle: list[tuple[list[int], str]] = []

    def url(self, i: int, path: str) -> str:
        return f"http://127.0.0.1:{self.workers[i].env_used['WEB_PORT']}{path}"

    def get(self, i: int, path: str) -> tuple[int, bytes, dict[str, str]]:
        try:
            with urllib.request.urlopen(self.url(i, path), timeout=5) as response:
                return response.status, response.read(), dict(response.headers)
        except urllib.error.HTTPError as err:
            return err.code, err.read(), dict(err.headers)

    def metrics(self, i: int) -> dict[str, float]:
        """Every sample of worker i's /metrics, summed over labels, keyed by sample name."""
        status, body, _ = self.get(i, "/metrics")
        assert status == 200
        totals: dict[str, float] = {}
        for family in text_string_to_metric_families(body.decode()):
            for sample in family.samples:
                totals[sample.name] = totals.get(sample.name, 0.0) + sample.value
        return totals

    def lag_rows(self, text: str) -> dict[tuple[str, str, int], float]:
        """(group, topic, partition) -> lag, from one /metrics text."""
        return {
            (s.labels["group"], s.labels["topic"], int(s.labels["partition"])): s.value
            for family in text_string_to_metric_families(text)
            if family.name == "feedback_consumer_lag"
            for s in family.samples
        }

    def wait_idle_lag(self, parts: list[list[int]], timeout_s: float = 30) -> None:
        """Keep each worker's /metrics once it has a lag row per partition (or at the timeout)."""
        deadline = time.monotonic() + timeout_s
        for i, mine in enumerate(parts):
            while True:
                text = self.get(i, "/metrics")[1].decode()
                rows = self.lag_rows(text)
                if len(rows) >= len(mine) or time.monotonic() > deadline:
                    break
                time.sleep(0.3)
            self.idle.append((mine, text))

    def readiness(self, i: int) -> tuple[int, dict]:
        try:
            status, body, _ = self.get(i, "/readyz")
        except OSError:  # not listening yet
            return 0, {}
        return status, json.loads(body)

    def wait_shared(self, timeout_s: float = 150) -> list[list[int]]:
        """Until both workers are ready and hold disjoint halves of the partitions."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for worker in self.workers:
                assert worker.alive, worker.log_tail()
            states = [self.readiness(i) for i in range(len(self.workers))]
            parts = [body.get("partitions", []) for _, body in states]
            if all(status == 200 for status, _ in states) and sorted(sum(parts, [])) == list(
                range(PARTITIONS)
            ):
                return parts
            time.sleep(0.5)
        raise AssertionError(f"workers never shared the partitions: {states}")


def _start(topics: Topics, log: Path, **env: str) -> Worker:
    return Worker({**topics.env(), **env}, log).start()


@pytest.fixture(scope="module")
def cluster(kafka_bootstrap: str, model_store: Path) -> Iterator[Cluster]:
    topics = Topics(kafka_bootstrap, partitions=PARTITIONS)
    asyncio.run(ensure_topics(topics.settings(), [topics.input, topics.output, topics.dlq]))
    logs = Path(tempfile.mkdtemp(prefix="ops-workers-"))
    common = {"KAFKA_SASL_PASSWORD": SENTINEL_PASSWORD, "BATCH_MAX": "64"}
    workers = [
        _start(topics, logs / "worker-0.log", LOG_FORMAT="json", **common),
        _start(topics, logs / "worker-1.log", LOG_FORMAT="text", **common),
    ]
    made = Cluster(topics, workers)
    try:
        made.wait_idle_lag(made.wait_shared())
        yield made
    finally:
        for worker in workers:
            if worker.alive:
                worker.stop()
        shutil.rmtree(logs, ignore_errors=True)


def _values(n: int, prefix: str, malformed: int = 0) -> list[bytes]:
    values = [
        orjson.dumps({"id": f"{prefix}-{i}", "text": TEXTS[i % len(TEXTS)]}) for i in range(n)
    ]
    return values + [b"{not json"] * malformed


def _all_accounted(cluster: Cluster) -> tuple[list[dict], list[dict]]:
    """Every input offset so far has its outcome on the output topic or the DLQ."""
    expected = asyncio.run(input_offsets(cluster.topics))
    assert expected, "the input topic is empty?"
    outputs, dead = asyncio.run(collect(cluster.topics, len(expected), timeout_s=120))
    seen = {position(r) for r in outputs + dead}
    missing = expected - seen
    assert not missing, f"{len(missing)} input offsets lost, e.g. {sorted(missing)[:5]}"
    return outputs, dead


def _wait_counted(cluster: Cluster, name: str, total: float, before: list[dict]) -> list[dict]:
    """Scrape until the workers' `name` deltas add up to `total` (the metrics follow the ack)."""
    deadline = time.monotonic() + 15
    while True:
        after = [cluster.metrics(i) for i in range(2)]
        got = sum(after[i].get(name, 0) - before[i].get(name, 0) for i in range(2))
        if got >= total or time.monotonic() > deadline:
            return after
        time.sleep(0.3)


def test_lag_of_every_assigned_partition_is_reported_before_any_traffic(
    cluster: Cluster,
) -> None:
    assert len(cluster.idle) == 2
    for mine, text in cluster.idle:  # scraped before any test produced
        group, topic = cluster.topics.app_id, cluster.topics.input
        assert cluster.lag_rows(text) == {(group, topic, p): 0.0 for p in mine}, text
        families = {f.name: f for f in text_string_to_metric_families(text)}
        assert families["process_resident_memory_bytes"].samples[0].value > 0
        assert families["process_cpu_seconds"].type == "counter"
        assert "python_gc_collections" in families and "python_info" in families


def test_two_workers_share_the_partitions_and_the_load(cluster: Cluster) -> None:
    parts = cluster.wait_shared()
    assert len(parts[0]) == len(parts[1]) == PARTITIONS // 2, parts
    before = [cluster.metrics(i) for i in range(2)]

    values = _values(400, "scale", malformed=20)
    asyncio.run(produce(cluster.topics.bootstrap, cluster.topics.input, values))
    outputs, dead = _all_accounted(cluster)
    after = _wait_counted(cluster, "feedback_messages_in_total", len(values), before)

    def delta(i: int, name: str) -> float:
        return after[i].get(name, 0) - before[i].get(name, 0)

    handled = [delta(i, "feedback_messages_in_total") for i in range(2)]
    assert all(n > 0 for n in handled), f"one worker did nothing: {handled}"
    assert sum(handled) == len(values), handled  # no duplicates without a crash
    assert sum(delta(i, "feedback_messages_out_total") for i in range(2)) == 400
    assert sum(delta(i, "feedback_messages_dlq_total") for i in range(2)) == 20
    scale_ids = {r["id"] for r in outputs if str(r["id"]).startswith("scale-")}
    assert len(scale_ids) == 400
    # Each worker reports lag for its own partitions, all of them, and catches up to 0.
    deadline = time.monotonic() + 30
    for i in range(2):
        while True:
            rows = cluster.lag_rows(cluster.get(i, "/metrics")[1].decode())
            assert {p for _, _, p in rows} == set(parts[i]), (i, rows, parts[i])
            if not any(rows.values()) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert not any(rows.values()), (i, rows)


def test_metrics_exposition(cluster: Cluster) -> None:
    asyncio.run(
        produce(cluster.topics.bootstrap, cluster.topics.input, _values(40, "m", malformed=2))
    )
    _all_accounted(cluster)
    status, body, headers = cluster.get(0, "/metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    text = body.decode()
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "metrics-sample.txt").write_text(text)
    families = {f.name: f for f in text_string_to_metric_families(text)}
    for name, kind in {
        "feedback_messages_in": "counter",
        "feedback_messages_out": "counter",
        "feedback_messages_dlq": "counter",
        "feedback_batch_size": "histogram",
        "feedback_inference_seconds": "histogram",
        "feedback_end_to_end_latency_seconds": "histogram",
        "feedback_consumer_lag": "gauge",
        "feedback_serving_model_info": "gauge",
        "feedback_model_swaps": "counter",
        "feedback_model_refusals": "counter",
        "process_resident_memory_bytes": "gauge",
        "process_cpu_seconds": "counter",
    }.items():
        assert name in families and families[name].type == kind, name
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families.values()
               for s in f.samples}  # fmt: skip
    assert ("feedback_messages_dlq_total", (("reason", "invalid_json"),)) in samples
    versions = [s.labels["version"] for s in families["feedback_serving_model_info"].samples]
    _, ready, _ = cluster.get(0, "/readyz")
    assert versions == [json.loads(ready)["model_version"]]
    assert samples[("feedback_model_swaps_total", ())] == 0
    e2e = samples[("feedback_end_to_end_latency_seconds_count", ())]
    assert e2e == samples[("feedback_messages_in_total", (("topic", cluster.topics.input),))]
    inferences = samples[("feedback_inference_seconds_count", ())]
    assert inferences == samples[("feedback_batch_size_count", ())] > 0
    lags = [s for s in families["feedback_consumer_lag"].samples]
    assert lags and all(s.value >= 0 and s.labels["group"] == cluster.topics.app_id for s in lags)

    # OpenMetrics when the scraper asks for it.
    request = urllib.request.Request(
        cluster.url(0, "/metrics"), headers={"Accept": "application/openmetrics-text"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.headers["Content-Type"].startswith("application/openmetrics-text")
        assert response.read().rstrip().endswith(b"# EOF")


def test_health_and_readiness(cluster: Cluster) -> None:
    for i in range(2):
        status, body, _ = cluster.get(i, "/healthz")
        assert status == 200 and json.loads(body)["status"] == "alive"
        status, ready = cluster.readiness(i)
        assert status == 200, ready
        assert ready["checks"] == {
            "connected": True,
            "assigned": True,
            "model_loaded": True,
            "agent_running": True,
        }
        assert ready["model_version"]


def test_logs_follow_log_format_and_never_show_secrets(cluster: Cluster) -> None:
    json_log = cluster.workers[0].log.read_text(errors="replace").splitlines()
    text_log = cluster.workers[1].log.read_text(errors="replace").splitlines()
    assert json_log and text_log
    entries = [json.loads(line) for line in json_log]  # every line is one JSON object
    assert {"ts", "level", "logger", "message"} <= set(entries[0])
    loggers = {e["logger"].split(".")[0] for e in entries}
    assert {"faust", "aiokafka"} <= loggers, loggers  # Faust's and aiokafka's lines follow too
    assert any("[^Worker]: Ready" in e["message"] for e in entries)
    line = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR|CRITICAL)")
    starts = [ln for ln in text_log if line.match(ln)]
    assert any("faust" in ln for ln in starts) and any("[^Worker]: Ready" in ln for ln in starts)
    assert not any(ln.startswith("{") for ln in text_log)
    for log in (json_log, text_log):
        assert not any(SENTINEL_PASSWORD in ln for ln in log)


# --- the dashboard in a real browser -------------------------------------------------------
def _chromium() -> tuple[str, str]:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not browser or not driver:
        pytest.skip(
            "the dashboard test needs Debian's chromium and chromium-driver "
            "(apt-get install chromium chromium-driver); no browser is downloaded"
        )
    pytest.importorskip("selenium", reason="selenium is not installed (pip install selenium)")
    return browser, driver


async def _produce_to(bootstrap: str, topic: str, partition: int, values: list[bytes]) -> None:
    prod = producer(Topics(bootstrap, PARTITIONS).settings())
    await prod.start()
    try:
        for value in values:
            await prod.send(topic, value, partition=partition)
        await prod.flush()
    finally:
        await prod.stop()


def test_dashboard_in_headless_chromium(
    cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    browser, driver_path = _chromium()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    # Feedback for worker 0's partitions (the dashboard shows the worker's own outcomes),
    # a hostile text among it: the page must show it as text, never run it.
    _, ready = cluster.readiness(0)
    partition = ready["partitions"][0]
    hostile = "<img src=x onerror=\"document.title='pwned'\"> Vodafone support is terrible."
    values = [
        orjson.dumps({"id": f"dash-{i}", "text": TEXTS[i % len(TEXTS)]}) for i in range(60)
    ] + [orjson.dumps({"id": "dash-hostile", "text": hostile}), b"{broken"]
    asyncio.run(_produce_to(cluster.topics.bootstrap, cluster.topics.input, partition, values))
    _all_accounted(cluster)

    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        "--window-size=1400,1150",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    monkeypatch.setenv("SE_OFFLINE", "true")  # Selenium Manager must not download anything
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    try:
        driver.set_page_load_timeout(30)
        driver.get(cluster.url(0, "/dashboard"))
        wait = WebDriverWait(driver, 30)
        wait.until(
            lambda d: (
                int(d.find_element(By.TAG_NAME, "body").get_attribute("data-messages") or 0) > 0
            )
        )  # noqa: E501
        wait.until(lambda d: "dash-hostile" in d.find_element(By.ID, "negative").text)

        negative = driver.find_element(By.ID, "negative")
        assert hostile in negative.text  # shown literally...
        assert not negative.find_elements(By.TAG_NAME, "img")  # ...not turned into markup
        assert driver.title == "Feedback · live view"
        rows = driver.find_elements(By.CSS_SELECTOR, "#entities tbody tr")
        names = {row.find_element(By.TAG_NAME, "td").text for row in rows}
        assert {"Vodafone", "Galaxy Tab S9"} & names, names
        legend = driver.find_element(By.ID, "mix-legend").text
        assert all(label in legend for label in ("positive", "negative", "neutral"))
        assert float(driver.find_element(By.ID, "messages").text.replace(",", "")) > 0
        assert driver.find_elements(By.CSS_SELECTOR, "#rate-chart rect.bar")
        assert "live" in driver.find_element(By.ID, "dot").get_attribute("class")
        # Self-contained: every resource the page loaded came from the worker itself.
        origin = cluster.url(0, "")
        resources = driver.execute_script(
            "return performance.getEntriesByType('resource').map(e => e.name)"
        )
        assert resources and all(url.startswith(origin) for url in resources), resources
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert not errors, errors

        ARTIFACTS.mkdir(exist_ok=True)
        assert driver.save_screenshot(str(ARTIFACTS / "dashboard.png"))
    finally:
        driver.quit()


# --- client examples -----------------------------------------------------------------------
def _example_env(cluster: Cluster) -> dict[str, str]:
    topics = cluster.topics
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAFKA_")}
    return {
        **env,
        "KAFKA_BOOTSTRAP_SERVERS": topics.bootstrap,
        "INPUT_TOPIC": topics.input,
        "OUTPUT_TOPIC": topics.output,
    }


def _wait_for_ids(command: list[str], env: dict, ids: set[str], timeout_s: float = 90) -> None:
    """Run a `-e` (exit at end) consumer until every id was printed."""
    deadline = time.monotonic() + timeout_s
    seen: set[str] = set()
    while time.monotonic() < deadline:
        out = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        seen = {json.loads(line)["id"] for line in out.stdout.splitlines() if line.strip()}
        if ids <= seen:
            return
        time.sleep(1)
    raise AssertionError(f"never consumed {ids - seen}")


def _needs_kcat() -> None:
    missing = [tool for tool in ("kcat", "jq") if not shutil.which(tool)]
    if missing:
        pytest.skip(f"{' and '.join(missing)} not installed (Debian packages `kcat`, `jq`)")


def _needs_kafkajs() -> Path:
    node_dir = ROOT / "examples/node"
    if not shutil.which("node"):
        pytest.skip("Node.js is not installed")
    if not (node_dir / "node_modules/kafkajs").is_dir():
        pytest.skip("kafkajs is not installed: run `npm ci --prefix examples/node`")
    return node_dir


@pytest.fixture
def keyed_topic(kafka_bootstrap: str) -> Topics:
    """A fresh 4-partition input topic, no worker: what the producer examples wrote stays."""
    topics = Topics(kafka_bootstrap, partitions=PARTITIONS)
    asyncio.run(ensure_topics(topics.settings(), [topics.input]))
    return topics


def _producer_env(topics: Topics) -> dict[str, str]:
    """This environment, with the topics' Kafka settings and the default ID_FIELD."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAFKA_") and k != "ID_FIELD"}
    return {**env, **topics.env()}


async def _read_all(bootstrap: str, topic: str, count: int) -> list:
    """The first `count` messages of every partition of `topic` (fails after 60 s)."""
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await reader.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        reader.assign(partitions)
        await reader.seek_to_beginning(*partitions)
        messages: list = []
        deadline = time.monotonic() + 60
        while len(messages) < count and time.monotonic() < deadline:
            for batch in (await reader.getmany(timeout_ms=1000)).values():
                messages += batch
        assert len(messages) == count, f"read {len(messages)} of {count}"
        return messages
    finally:
        await reader.stop()


def _assert_keyed_by_id(messages: list, values: list[str]) -> None:
    """Each value arrived unchanged, keyed by its id, in the partition Java's partitioner picks."""
    assert sorted(m.value.decode() for m in messages) == sorted(values)
    keyed = [m for m in messages if m.key is not None]
    for message in keyed:
        assert message.key.decode() == str(json.loads(message.value)["id"])
        expected = DefaultPartitioner()(message.key, list(range(PARTITIONS)), [])
        assert message.partition == expected, (message.key, message.partition, expected)
    spread = {m.partition for m in keyed}
    assert len(spread) > 1, f"every keyed message went to partition {spread}"


def test_kcat_producer_keys_messages_by_id(keyed_topic: Topics) -> None:
    _needs_kcat()
    run = uuid.uuid4().hex[:6]
    values = [
        json.dumps({"id": f"kcat-{run}-{i}", "text": TEXTS[i % len(TEXTS)]}) for i in range(40)
    ] + [json.dumps({"id": 7, "text": "an integer id"}), '{"text": "no id: no key"}', "{broken"]
    env = _producer_env(keyed_topic)
    produced = subprocess.run(
        [str(ROOT / "examples/kcat/produce.sh")],
        input="\n".join(values) + "\n",
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert produced.returncode == 0, produced.stderr
    messages = asyncio.run(_read_all(keyed_topic.bootstrap, keyed_topic.input, len(values)))
    _assert_keyed_by_id(messages, values)
    unkeyed = sorted(m.value.decode() for m in messages if m.key is None)
    assert unkeyed == sorted(values[-2:])
    assert any(m.key == b"7" for m in messages)


def test_node_producer_keys_messages_by_id(keyed_topic: Topics) -> None:
    node_dir = _needs_kafkajs()
    run = uuid.uuid4().hex[:6]
    values = [
        json.dumps({"id": f"node-{run}-{i}", "text": TEXTS[i % len(TEXTS)]}) for i in range(40)
    ] + ['{"text": "no id: no key"}']
    env = _producer_env(keyed_topic)
    produced = subprocess.run(
        ["node", "produce.js"], input="\n".join(values) + "\n", cwd=node_dir, env=env,
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert produced.returncode == 0, produced.stderr
    assert "partitioner" not in produced.stderr  # kafkajs' v2 partitioner warning
    messages = asyncio.run(_read_all(keyed_topic.bootstrap, keyed_topic.input, len(values)))
    _assert_keyed_by_id(messages, values)
    assert [m.value.decode() for m in messages if m.key is None] == values[-1:]


def test_kcat_examples_produce_and_consume(cluster: Cluster) -> None:
    _needs_kcat()
    env = _example_env(cluster)
    run = uuid.uuid4().hex[:6]
    lines = [
        json.dumps({"id": f"kcat-{run}-{i}", "text": text, "channel": "shell"})
        for i, text in enumerate(TEXTS[:3])
    ]
    produced = subprocess.run(
        [str(ROOT / "examples/kcat/produce.sh")],
        input="\n".join(lines) + "\n",
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert produced.returncode == 0, produced.stderr
    ids = {f"kcat-{run}-{i}" for i in range(3)}
    _wait_for_ids([str(ROOT / "examples/kcat/consume.sh"), "-e"], env, ids)


def test_node_kafkajs_examples_produce_and_consume(cluster: Cluster) -> None:
    node_dir = _needs_kafkajs()
    env = _example_env(cluster)
    run = uuid.uuid4().hex[:6]
    records = [
        json.dumps({"id": f"node-{run}-{i}", "text": text, "channel": "node"})
        for i, text in enumerate(TEXTS[:3])
    ]
    produced = subprocess.run(
        ["node", "produce.js", *records], cwd=node_dir, env=env, capture_output=True,
        text=True, timeout=60,
    )  # fmt: skip
    assert produced.returncode == 0, produced.stderr
    ids = [f"node-{run}-{i}" for i in range(3)]
    consumed = subprocess.run(
        ["node", "consume.js", "--ids", ",".join(ids), "--timeout", "90"],
        cwd=node_dir, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert consumed.returncode == 0, consumed.stderr + consumed.stdout[-2000:]
    printed = {line.split("\t")[0]: line.split("\t") for line in consumed.stdout.splitlines()}
    for record_id in ids:
        assert printed[record_id][1] in ("positive", "negative", "neutral"), printed[record_id]
