"""The shipped data: valid, every training file used, and the dev set kept apart."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from nlp.data import DATA_DIR, DEV_SET, SOURCES, read_jsonl
from nlp.training import load_config

TRAINING = sorted(DATA_DIR.glob("train_feedback*.jsonl"))


def test_every_training_file_is_configured_and_has_provenance() -> None:
    configured = set(load_config()["data"]["feedback"])
    assert {p.name for p in TRAINING} == configured
    assert configured <= set(SOURCES)


def test_check_data_accepts_the_files_and_finds_no_text_shared_with_dev() -> None:
    files = [str(p) for p in (*TRAINING, DEV_SET)]
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


def _words(text: str) -> set[str]:
    return set(re.findall(r"\w+", text.lower()))


def test_no_dev_text_is_a_near_copy_of_a_training_text() -> None:
    train = [_words(r.text) for p in TRAINING for r in read_jsonl(p)]
    for record in read_jsonl(DEV_SET):
        dev = _words(record.text)
        overlap = max(len(dev & t) / len(dev | t) for t in train)
        assert overlap < 0.5, record.text
