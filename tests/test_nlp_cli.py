"""`feedback train|evaluate|models list` on a tiny config, and training reproducibility."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from nlp import ModelStore, load_enricher
from nlp.config import DEFAULT_CONFIG
from nlp.corpus import DEV_SET, DEV_SETS
from stream.cli import main
from stream.kafka import ensure_topics
from stream.models import history
from tests.conftest import Topics, free_port

TINY = {
    "data": {"tweets": "false", "synthetic": "60", "val_fraction": "0.3"},
    "sentiment": {"n_buckets": "4096", "dim": "8", "epochs": "3", "pretrain_epochs": "0"},
    "ner": {"epochs": "2", "synthetic": "60", "rehearsal": "0"},
}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A fast config on a small feedback file, and the team's labels with a custom label
    (GADGET), for `--data`."""
    root = tmp_path_factory.mktemp("tiny")
    feedback = root / "small.jsonl"
    feedback.write_text("".join(DEV_SET.read_text("utf-8").splitlines(True)[:40]), "utf-8")
    settings = TINY | {"data": TINY["data"] | {"feedback": json.dumps([str(feedback)])}}
    lines = DEFAULT_CONFIG.read_text("utf-8").splitlines()
    section, out = "", []
    for line in lines:
        if line.startswith("["):
            section = line.strip("[]")
        key = line.split("=")[0].strip()
        if section in settings and key in settings[section]:
            line = f"{key} = {settings[section][key]}"
        out.append(line)
    (root / "tiny.cfg").write_text("\n".join(out) + "\n", "utf-8")
    labels = [{"text": "My new Zorbo Z9 gadget is great", "sentiment": "positive",
               "entities": [{"start": 7, "end": 15, "label": "GADGET"}]}]  # fmt: skip
    data = root / "labels.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in labels), "utf-8")
    return root / "tiny.cfg", data


def _train(store: Path, tiny: tuple[Path, Path], *extra: str) -> int:
    cfg, data = tiny
    return main(["train", "--store", str(store), "--config", str(cfg), "--data", str(data), *extra])


def test_train_evaluate_list(tmp_path: Path, tiny: tuple[Path, Path], capsys) -> None:
    store, report = tmp_path / "store", tmp_path / "report"
    assert (
        _train(store, tiny, "--seed", "1", "--version", "v1", "--output-report", str(report)) == 0
    )
    out = capsys.readouterr()
    # losses per epoch, for every member of the sentiment ensemble
    assert all(f"sentiment member {m}/5 epoch 1:" in out.err for m in range(1, 6)), out.err
    assert "ner epoch 1" in out.err
    for name in ("dev", "dev_hard"):  # a report for each dev set
        assert {p.name for p in (report / name).iterdir()} >= {
            "report.json", "confusion_matrix.png", "learning_curve.png"}  # fmt: skip
    card = ModelStore(store).verify("v1")
    assert "GADGET" in card["ner"]["labels"]  # custom labels are learnt
    # --data files are the team's labels: recorded as such, with their count and weight
    assert card["data"]["files"][f"labels:{tiny[1]}"]["sha256"]
    assert card["data"]["counts"]["labels_train"] == 1
    assert card["config"]["data"]["labels"] == [str(tiny[1])]
    assert card["config"]["encoder"]["labels_weight"] > 1
    assert card["sentiment"]["members"] == len(card["sentiment"]["temperatures"]) == 5
    # a name the team labelled is found again in a text no one labelled
    model = load_enricher(store, "v1")
    [record] = model.enrich(["Has anyone else had the Zorbo Z9 overheat?"])
    assert ("Zorbo Z9", "GADGET") in [(e.text, e.label) for e in record.entities]
    assert ModelStore(store).promoted() is None  # stored, not promoted
    assert "not promoted: `feedback models promote v1` serves it" in out.out

    assert main(["evaluate", "--store", str(store), "--report", str(tmp_path / "r2")]) == 0
    out = capsys.readouterr().out
    assert "accuracy" in out and "PRODUCT" in out and "docs/s" in out
    assert "== dev ==" in out and "== dev_hard ==" in out
    report_json = json.loads((tmp_path / "r2" / "dev_hard" / "report.json").read_text("utf-8"))
    assert report_json["n_docs"] == len(DEV_SETS["dev_hard"].read_text("utf-8").splitlines())
    assert report_json["sentiment"]["confusion_matrix"]["labels"] == [
        "negative",
        "neutral",
        "positive",
    ]

    assert main(["models", "list", "--store", str(store)]) == 0
    listed = capsys.readouterr().out
    assert "  v1 " in listed and "* " not in listed
    assert main(["evaluate", "--store", str(tmp_path / "empty")]) == 1


def test_a_bad_config_is_one_error_line_before_training(
    tmp_path: Path, tiny: tuple[Path, Path], capsys: pytest.CaptureFixture
) -> None:
    bad = tmp_path / "bad.cfg"
    bad.write_text(tiny[0].read_text("utf-8").replace("dim = 8", "dim = -1"), "utf-8")
    store = tmp_path / "store"
    assert main(["train", "--store", str(store), "--config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: training config") and "sentiment.dim" in err, err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert main(["train", "--store", str(store), "--config", str(tiny[0]), "--epochs", "0"]) == 2
    assert "sentiment.epochs" in capsys.readouterr().err
    for name, says in [("missing.jsonl", "No such file"), (str(tiny[0]), "not labelled JSONL")]:
        assert main(["train", "--store", str(store), "--config", str(tiny[0]), "--data", name]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: --data {name}: ") and says in err, err
        assert err.count("\n") == 1 and "Traceback" not in err
    assert not store.exists()


def test_train_promote_promotes_and_announces_as_models_promote(
    tmp_path: Path,
    tiny: tuple[Path, Path],
    kafka_bootstrap: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
) -> None:
    topics = Topics(kafka_bootstrap, partitions=1)
    for name, value in topics.env().items():
        monkeypatch.setenv(name, value)
    store = tmp_path / "store"
    settings = topics.settings(model_store=store)
    asyncio.run(ensure_topics(settings, [settings.models_topic]))
    assert _train(store, tiny, "--version", "v2", "--promote") == 0
    assert "promoted v2 (was None); announced to the workers" in capsys.readouterr().out
    assert ModelStore(store).promoted() == "v2"
    announced = asyncio.run(history(settings))
    assert [(r["version"], r["action"]) for r in announced] == [("v2", "promote")]


def test_train_promote_without_kafka_is_one_error_line_before_training(
    tmp_path: Path,
    tiny: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
) -> None:
    server = f"127.0.0.1:{free_port()}"
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", server)
    monkeypatch.setenv("KAFKA_CONNECT_TIMEOUT_S", "2")
    store = tmp_path / "store"
    assert _train(store, tiny, "--promote") == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: no Kafka broker answered at KAFKA_BOOTSTRAP_SERVERS={server}")
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert not ModelStore(store).versions()


def test_training_is_reproducible(tmp_path: Path, tiny: tuple[Path, Path]) -> None:
    for name in ("a", "b"):
        assert _train(tmp_path / name, tiny, "--seed", "3", "--version", "v") == 0
    files_a = ModelStore(tmp_path / "a").read_card("v")["files"]
    files_b = ModelStore(tmp_path / "b").read_card("v")["files"]
    assert files_a == files_b
    texts = ["Love the Pixel 8", "Comcast is awful"]
    a = [e.to_dict() for e in load_enricher(tmp_path / "a", "v").enrich(texts)]
    b = [e.to_dict() for e in load_enricher(tmp_path / "b", "v").enrich(texts)]
    assert a == b


def test_model_commands_default_to_the_settings_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """Without --store, the store is the worker's: MODEL_STORE, else FEEDBACK_HOME/models."""
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.delenv("MODEL_STORE", raising=False)
    monkeypatch.setenv("FEEDBACK_HOME", str(tmp_path / "home"))
    assert main(["models", "list"]) == 0
    assert str(tmp_path / "home" / "models") in capsys.readouterr().out

    monkeypatch.setenv("MODEL_STORE", str(tmp_path / "elsewhere"))
    assert main(["models", "list"]) == 0
    assert str(tmp_path / "elsewhere") in capsys.readouterr().out

    monkeypatch.setenv("LOG_FORMAT", "xml")  # a bad setting is reported, not a traceback
    assert main(["models", "list"]) == 2
    assert "LOG_FORMAT" in capsys.readouterr().err
