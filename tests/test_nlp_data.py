"""The shipped data: valid, every training file used, and the dev set kept apart."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

from nlp.config import load_config
from nlp.corpus import DATA_DIR, DEV_SET, DEV_SETS, SOURCES, data_files, read_jsonl
from nlp.schema import SENTIMENT_LABELS

TRAINING = sorted(DATA_DIR.glob("train_feedback*.jsonl"))


def test_every_training_file_is_configured_and_has_provenance() -> None:
    configured = set(load_config().data.feedback)
    assert {p.name for p in TRAINING} == configured
    assert configured <= set(SOURCES)


def test_check_data_accepts_the_files_and_finds_no_text_shared_with_dev() -> None:
    files = [str(p) for p in (*TRAINING, *DEV_SETS.values())]
    done = subprocess.run(
        [sys.executable, str(DATA_DIR / "check_data.py"), *files], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout[-2000:]
    assert "OK: no errors" in done.stdout


def test_check_data_rejects_a_dev_text_copied_into_training(tmp_path: Path) -> None:
    leaked = tmp_path / "leak.jsonl"
    leaked.write_text(DEV_SET.read_text("utf-8").splitlines()[0] + "\n", "utf-8")
    done = subprocess.run(
        [sys.executable, str(DATA_DIR / "check_data.py"), str(leaked), str(DEV_SET)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1


def _word_set(text: str) -> set[str]:
    return set(re.findall(r"\w+", text.lower()))


def test_no_dev_text_is_a_near_copy_of_a_training_text() -> None:
    train = [_word_set(r.text) for p in TRAINING for r in read_jsonl(p)]
    for path in DEV_SETS.values():
        for record in read_jsonl(path):
            dev = _word_set(record.text)
            overlap = max(len(dev & t) / len(dev | t) for t in train)
            assert overlap < 0.5, f"{path.name}: {record.text}"


def test_no_dev_set_is_in_the_training_config() -> None:
    config = load_config()
    configured = {Path(name).name for name in config.data.feedback}
    assert not configured & {path.name for path in DEV_SETS.values()}
    # the fast tier's temperature is fitted on the dev set; dev_hard no training reads at all
    assert data_files(config)["calibration"] == DEV_SETS["dev"]
    assert DEV_SETS["dev_hard"] not in data_files(config).values()


def test_the_harder_dev_set_is_as_the_issue_describes() -> None:
    records = read_jsonl(DEV_SETS["dev_hard"])
    long = [r for r in records if len(r.text.split()) > 50]
    lower = [r for r in records if r.text == r.text.lower()]
    assert len(records) >= 300
    assert len(long) >= len(records) / 4
    assert len(lower) >= 30
    assert {r.sentiment for r in records} == set(SENTIMENT_LABELS)


def test_check_data_labels_equal_the_packages() -> None:
    """check_data.py runs without the nlp package, so it keeps its own copy of the labels."""
    spec = importlib.util.spec_from_file_location("check_data", DATA_DIR / "check_data.py")
    check_data = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(check_data)
    assert check_data.SENTIMENTS == SENTIMENT_LABELS
    assert load_config().ner.labels == check_data.LABELS
