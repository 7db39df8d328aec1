"""The deploy files, checked without a Docker engine or a cluster (none runs here).

docker-compose.yml and the Dockerfile; the Kubernetes manifests in deploy/k8s (parsed, and
rendered with `kubectl kustomize` where kubectl is installed); the Grafana dashboards in
deploy/grafana, whose every metric name must be one that a real worker's registry exposes.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from stream.cli import build_parser
from stream.contracts import Reason, Source
from stream.processing import Message, Outcome
from stream.settings import Settings
from stream.web import PATHS
from tests.conftest import ROOT

COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
DOCKERFILE = (ROOT / "Dockerfile").read_text()
K8S = ROOT / "deploy" / "k8s"
GRAFANA = ROOT / "deploy" / "grafana"
SETTING_NAMES = {name.upper() for name in Settings.model_fields}


# --- docker compose and the Dockerfile ------------------------------------------------------
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


def test_compose_starts_kafka_one_worker_and_the_trainer_as_its_header_says() -> None:
    assert set(COMPOSE["services"]) == {"kafka", "worker", "trainer"}
    assert "deploy" not in COMPOSE["services"]["worker"]  # one replica unless --scale
    header = (ROOT / "docker-compose.yml").read_text().splitlines()[0]
    assert all(word in header for word in ("Kafka", "one enrichment worker", "the trainer"))


def test_compose_worker_web_port_reaches_the_host_and_scales() -> None:
    worker = COMPOSE["services"]["worker"]
    env = worker["environment"]
    (mapping,) = worker["ports"]
    host_ip, host_ports, container_port = mapping.split(":")
    # The dashboard shows customers' texts: the host's loopback only.
    assert host_ip == "127.0.0.1"
    assert env["WEB_BIND"] == "0.0.0.0" and int(container_port) == int(env["WEB_PORT"])
    # A range, one port per partition: `--scale worker=N` (N <= partitions, more would
    # idle) gives each replica its own host port; the first worker gets the documented 6066.
    first, last = (int(p) for p in host_ports.split("-"))
    assert first == int(env["WEB_PORT"]) == 6066
    assert last - first + 1 == int(env["TOPIC_PARTITIONS"])
    kafka_ports = {int(p.split(":")[-2]) for p in COMPOSE["services"]["kafka"]["ports"]}
    assert not kafka_ports & set(range(first, last + 1))


def test_compose_trainer_has_no_web_healthcheck() -> None:
    # The image's HEALTHCHECK asks the worker's web server for /healthz...
    assert re.search(r"HEALTHCHECK[^\n]*\\\n[^\n]*/healthz", DOCKERFILE)
    # ...which the trainer never starts, so the trainer must not inherit it.
    assert "stream.web" not in (ROOT / "stream" / "trainer.py").read_text()
    assert COMPOSE["services"]["trainer"]["healthcheck"] == {"disable": True}
    assert "healthcheck" not in COMPOSE["services"]["worker"]  # the image's, on WEB_PORT


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


# --- Kubernetes manifests ------------------------------------------------------------------
def _manifests() -> dict[tuple[str, str], dict]:
    docs = {}
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                docs[(doc["kind"], doc["metadata"]["name"])] = doc
    return docs


DOCS = _manifests()
SETTINGS_MAP = DOCS[("ConfigMap", "feedback-settings")]["data"]


def _deployment(name: str) -> dict:
    return DOCS[("Deployment", name)]


def _containers(deployment: dict) -> list[dict]:
    spec = deployment["spec"]["template"]["spec"]
    return spec.get("initContainers", []) + spec["containers"]


def test_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    listed = set(kustomization["resources"])
    present = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == present


def test_manifest_settings_are_real_and_valid() -> None:
    secret = DOCS[("Secret", "feedback-kafka-credentials")]["stringData"]
    for source in (SETTINGS_MAP, secret):
        unknown = set(source) - SETTING_NAMES
        assert not unknown, f"variables no setting reads: {unknown}"
    for deployment in (_deployment("feedback-worker"), _deployment("feedback-trainer")):
        for container in _containers(deployment):
            names = {e["name"] for e in container.get("env", [])}
            assert names <= SETTING_NAMES, names
    # The values parse as settings (types, enums, ranges).
    settings = Settings(
        _env_file=None, **{k.lower(): v for k, v in {**SETTINGS_MAP, **secret}.items()}
    )
    assert settings.log_format == "json" and settings.web_bind == "0.0.0.0"
    assert "KAFKA_SASL_PASSWORD" not in SETTINGS_MAP, "secrets belong in the Secret"


def test_worker_probes_and_scrape_annotations_point_at_real_paths() -> None:
    worker = _deployment("feedback-worker")
    pod = worker["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["web"] == int(SETTINGS_MAP["WEB_PORT"])
    probes = {k: container[k] for k in ("startupProbe", "livenessProbe", "readinessProbe")}
    assert probes["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert probes["readinessProbe"]["httpGet"]["path"] == "/readyz"
    for probe in probes.values():
        assert probe["httpGet"]["path"] in PATHS
        assert probe["httpGet"]["port"] in ports
    annotations = pod["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/path"] == "/metrics" and "/metrics" in PATHS
    assert int(annotations["prometheus.io/port"]) == int(SETTINGS_MAP["WEB_PORT"])
    assert worker["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    assert worker["spec"]["strategy"]["rollingUpdate"]["maxSurge"] == 0


def test_deployments_run_real_commands_on_the_shared_model_volume() -> None:
    parser = build_parser()
    pvc = DOCS[("PersistentVolumeClaim", "feedback-models")]
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"]
    for name, command in (("feedback-worker", "worker"), ("feedback-trainer", "trainer")):
        deployment = _deployment(name)
        spec = deployment["spec"]["template"]["spec"]
        (main,) = spec["containers"]
        assert main["args"] == [command]
        assert parser.parse_args(main["args"]).command == command
        volumes = {v["name"]: v for v in spec["volumes"]}
        assert volumes["models"]["persistentVolumeClaim"]["claimName"] == "feedback-models"
        for container in _containers(deployment):
            for mount in container.get("volumeMounts", []):
                assert mount["name"] in volumes, (name, mount)
        mounts = {m["name"]: m for m in main["volumeMounts"]}
        assert mounts["models"]["mountPath"] == SETTINGS_MAP["MODEL_STORE"]
        refs = [e for e in main["envFrom"] if "configMapRef" in e or "secretRef" in e]
        assert {r.get("configMapRef", r.get("secretRef"))["name"] for r in refs} == {
            "feedback-settings",
            "feedback-kafka-credentials",
        }
        compose_image = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"][
            "worker"
        ]["image"]
        assert {c["image"] for c in _containers(deployment)} == {compose_image}
    assert _deployment("feedback-trainer")["spec"]["replicas"] == 1
    # The worker mounts the models read-only: only the trainer (and the seeding) writes.
    worker_main = _deployment("feedback-worker")["spec"]["template"]["spec"]["containers"][0]
    assert {m["name"]: m.get("readOnly") for m in worker_main["volumeMounts"]}["models"]


def test_seed_script_copies_baked_models_once(tmp_path: Path) -> None:
    script = DOCS[("ConfigMap", "feedback-seed-models")]["data"]["seed_models.py"]
    baked, store = tmp_path / "baked", tmp_path / "store"
    (baked / "v1").mkdir(parents=True)
    (baked / "v1" / "model-card.json").write_text('{"created_at": "2026-01-01"}')
    (baked / "v1" / "weights.bin").write_bytes(b"\0" * 10)
    (baked / "PROMOTED").write_text("v1\n")
    store.mkdir()
    script = script.replace('"/models"', repr(str(baked))).replace('"/store"', repr(str(store)))
    twice = f"{script}\n{script}"  # idempotent (one process: importing nlp takes seconds)
    result = subprocess.run([sys.executable, "-c", twice], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("seeded model v1") == 1
    assert (store / "v1" / "weights.bin").read_bytes() == b"\0" * 10
    assert (store / "PROMOTED").read_text().strip() == "v1"
    assert not list(store.glob(".tmp-*"))


def _kustomize(directory: Path) -> list[dict]:
    """The manifests as `kubectl apply -k` would send them."""
    if not shutil.which("kubectl"):
        pytest.skip("kubectl is not installed")
    result = subprocess.run(
        ["kubectl", "kustomize", str(directory)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def test_kubectl_accepts_the_manifests() -> None:
    rendered = {(doc["kind"], doc["metadata"]["name"]) for doc in _kustomize(K8S)}
    assert rendered == set(DOCS)


def _images(docs: list[dict]) -> set[str]:
    return {
        container["image"]
        for doc in docs
        if doc["kind"] == "Deployment"
        for container in _containers(doc)
    }


def test_kustomization_sets_the_image_of_every_container() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    (entry,) = kustomization["images"]
    for deployment in (_deployment("feedback-worker"), _deployment("feedback-trainer")):
        for container in _containers(deployment):
            assert container["image"].split(":")[0] == entry["name"], container["name"]
            # `latest` would make Kubernetes pull on every start: the image loaded on a
            # local cluster's nodes must be used as it is.
            assert container["imagePullPolicy"] == "IfNotPresent", container["name"]
    assert _images(_kustomize(K8S)) == {f"{entry['newName']}:{entry['newTag']}"}


def test_setting_the_image_retargets_every_container(tmp_path: Path) -> None:
    """What the README's `kustomize edit set image feedback-stream=REGISTRY/...:TAG` writes."""
    copy = tmp_path / "k8s"
    shutil.copytree(K8S, copy)
    path = copy / "kustomization.yaml"
    kustomization = yaml.safe_load(path.read_text())
    (entry,) = kustomization["images"]
    entry.update(newName="registry.example.com/team/feedback-stream", newTag="1.2.3")
    path.write_text(yaml.safe_dump(kustomization))
    assert _images(_kustomize(copy)) == {"registry.example.com/team/feedback-stream:1.2.3"}
    assert "kustomize edit set image feedback-stream=" in (K8S / "kustomization.yaml").read_text()


def test_kafka_ca_is_empty_by_default_and_mounted_where_its_setting_points() -> None:
    ca = DOCS[("Secret", "feedback-kafka-ca")]
    assert not ca.get("data") and not ca.get("stringData"), "no placeholder certificate"
    # No CA file configured: the system's trust store, and the settings build a TLS context.
    assert not SETTINGS_MAP.get("KAFKA_SSL_CAFILE")
    secret = DOCS[("Secret", "feedback-kafka-credentials")]["stringData"]
    settings = Settings(
        _env_file=None, **{k.lower(): v for k, v in {**SETTINGS_MAP, **secret}.items()}
    )
    assert settings.kafka_ssl_cafile is None
    assert settings.kafka_client_options()["ssl_context"] is not None
    # The value documented for a private CA is the Secret's `ca.crt`, where both pods mount it.
    documented = re.search(
        r'^\s*#\s*KAFKA_SSL_CAFILE:\s*"([^"]+)"', (K8S / "configmap.yaml").read_text(), re.M
    )[1]
    assert "ca.crt:" in (K8S / "secret.yaml").read_text()
    for name in ("feedback-worker", "feedback-trainer"):
        spec = _deployment(name)["spec"]["template"]["spec"]
        volumes = {v["name"]: v for v in spec["volumes"]}
        (main,) = spec["containers"]
        (mount,) = [m for m in main["volumeMounts"] if m["name"] == "kafka-ca"]
        assert volumes["kafka-ca"]["secret"] == {
            "secretName": "feedback-kafka-ca",
            "optional": True,
        }
        assert Path(mount["mountPath"]) / "ca.crt" == Path(documented), name


# --- Grafana --------------------------------------------------------------------------------
DASHBOARDS = sorted(GRAFANA.glob("*.json"))
PANEL_TYPES = {"timeseries", "stat", "gauge", "bargauge", "table", "text", "row"}
#: Labels Prometheus adds to every scraped series, and the histogram bucket label.
SCRAPE_LABELS = {"job", "instance"}
#: Identifiers in PromQL that are not metric names.
PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset"}


def _exposed(home: Path) -> dict[str, set[str]]:
    """Sample name -> label names, from the registry of a real worker app with some traffic."""
    from stream.app import create_app
    from tests.fakes import KeywordEnricher

    settings = Settings(_env_file=None, feedback_home=home, app_id="grafana-check")
    metrics = create_app(settings, KeywordEnricher()).ops.metrics
    source = Source("fb", 0, 1, 1_000)
    metrics.batch_done(
        [Message(None, b"{}", source)] * 2,
        [
            Outcome(False, None, b"{}", record={}),
            Outcome(True, None, b"{}", reason=Reason.INVALID_JSON),
        ],
        inference_s=0.1,
    )
    metrics.record_model_refusal("v2", "ModelRefused: checksum")
    metrics.lag_from(lambda: [("grafana-check", "fb", 0, 0)])
    exposed: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(metrics.render().decode()):
        for sample in family.samples:
            exposed.setdefault(sample.name, set()).update(sample.labels)
    return exposed


def _targets(dashboard: dict) -> list[tuple[dict, dict]]:
    return [(panel, target) for panel in dashboard["panels"] for target in panel.get("targets", [])]


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_grafana_dashboard_is_valid_with_a_prometheus_datasource_variable(path: Path) -> None:
    dashboard = json.loads(path.read_text())
    assert dashboard["title"] and dashboard["uid"] and isinstance(dashboard["schemaVersion"], int)
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    (source,) = [v for v in variables.values() if v["type"] == "datasource"]
    assert source["query"] == "prometheus"
    uses_source = {"type": "prometheus", "uid": f"${{{source['name']}}}"}
    for variable in variables.values():
        if variable["type"] == "query":
            assert variable["datasource"] == uses_source, variable["name"]
    panels = dashboard["panels"]
    assert panels and len({p["id"] for p in panels}) == len(panels)
    cells: set[tuple[int, int]] = set()
    for panel in panels:
        assert panel["type"] in PANEL_TYPES and panel["title"], panel
        assert panel["datasource"] == uses_source, panel["title"]
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["w"] > 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        mine = {(x, y) for x in range(grid["x"], grid["x"] + grid["w"])
                for y in range(grid["y"], grid["y"] + grid["h"])}  # fmt: skip
        assert not mine & cells, f"{panel['title']} overlaps another panel"
        cells |= mine
        targets = panel["targets"]
        assert targets and len({t["refId"] for t in targets}) == len(targets), panel["title"]
        for target in targets:
            assert target["datasource"] == uses_source and target["expr"].strip(), panel["title"]
            expr = target["expr"]
            for opening, closing in ("()", "{}", "[]"):
                assert expr.count(opening) == expr.count(closing), expr


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_grafana_dashboard_uses_only_metrics_a_worker_exposes(path: Path, tmp_path: Path) -> None:
    """A renamed metric or label breaks this test until the dashboard follows."""
    exposed = _exposed(tmp_path)
    dashboard = json.loads(path.read_text())
    queries = [(panel["title"], t["expr"], t.get("legendFormat", "")) for panel, t in
               _targets(dashboard)]  # fmt: skip
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]["query"]
            metric, label = re.fullmatch(r"label_values\((\w+)(?:\{.*\})?, (\w+)\)", query).groups()
            assert metric in exposed and label in exposed[metric] | SCRAPE_LABELS, query
    used: set[str] = set()
    for title, expr, legend in queries:
        plain = re.sub(r'"[^"]*"', '""', expr)  # label values may hold anything
        selectors = re.findall(r"([a-zA-Z_:][\w:]*)\s*\{", plain)
        names = set(selectors) | set(re.findall(r"\b(?:feedback|process|python)_\w+", plain))
        assert selectors, f"{title}: no metric in {expr}"
        unknown = names - set(exposed)
        assert not unknown, f"{title}: {sorted(unknown)} not in a worker's /metrics"
        labels = set().union(*(exposed[n] for n in names)) | SCRAPE_LABELS
        grouped = {
            label.strip()
            for clause in re.findall(r"\b(?:by|without)\s*\(([^)]*)\)", plain)
            for label in clause.split(",")
        }
        matched = set(re.findall(r"(\w+)\s*=~?\s*\"", expr))
        shown = set(re.findall(r"\{\{\s*(\w+)\s*\}\}", legend))
        assert grouped | matched | shown <= labels, (title, (grouped | matched | shown) - labels)
        assert not PROMQL_WORDS & names
        used |= names
    # The dashboard covers the project's metrics and the process's memory and CPU.
    ours = {n for n in exposed if n.startswith("feedback_")}
    families = {re.sub(r"_(total|bucket|sum|count)$", "", n) for n in ours}
    covered = {re.sub(r"_(total|bucket|sum|count)$", "", n) for n in used}
    assert families <= covered, f"no panel for {families - covered}"
    assert {"process_resident_memory_bytes", "process_cpu_seconds_total"} <= used
