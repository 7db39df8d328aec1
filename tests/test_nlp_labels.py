"""The team's labels in the training config and data: validated, split, hashed, recorded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nlp.config import load_config, version_id
from nlp.corpus import DEV_HARD_SET, TrainingData, data_files
from nlp.errors import ConfigError

QUICK = {"data.tweets": False, "data.synthetic": 0, "ner.synthetic": 0}


@pytest.fixture
def team_file(tmp_path: Path) -> Path:
    path = tmp_path / "team.jsonl"
    path.write_text(DEV_HARD_SET.read_text("utf-8"), "utf-8")
    return path


def test_the_default_config_has_no_team_labels_and_weights_them_above_one() -> None:
    config = load_config()
    assert config.data.labels == ()
    assert config.encoder.labels_weight > 1


@pytest.mark.parametrize("weight", [0, -1, "heavy"])
def test_a_bad_labels_weight_names_the_setting(weight: object) -> None:
    with pytest.raises(ConfigError, match=r"encoder\.labels_weight"):
        load_config(overrides={"encoder.labels_weight": weight})


def test_labels_are_split_like_the_feedback_and_leave_the_feedback_split_alone(
    team_file: Path,
) -> None:
    plain = load_config(overrides=QUICK)
    with_team = plain.with_overrides({"data.labels": [str(team_file)]})
    without = TrainingData.load(plain, data_files(plain))
    data = TrainingData.load(with_team, data_files(with_team))
    assert data.feedback_train == without.feedback_train
    assert data.feedback_val == without.feedback_val
    n = len(data.labels_train) + len(data.labels_val)
    assert n == len(DEV_HARD_SET.read_text("utf-8").splitlines())
    assert abs(len(data.labels_val) - n * plain.data.val_fraction) <= 3  # per sentiment, rounded
    assert data.counts()["labels_train"] == len(data.labels_train)
    again = TrainingData.load(with_team, data_files(with_team))
    assert [r.text for r in again.labels_val] == [r.text for r in data.labels_val]  # seeded


def test_team_labels_are_part_of_the_version_id(team_file: Path) -> None:
    plain = load_config()
    with_team = plain.with_overrides({"data.labels": [str(team_file)]})
    assert f"labels:{team_file}" in data_files(with_team)
    assert version_id(with_team) != version_id(plain)
    changed = team_file.read_text("utf-8").replace('"negative"', '"positive"', 1)
    before = version_id(with_team)
    team_file.write_text(changed, "utf-8")
    changed_id = version_id(with_team)
    assert changed_id != before  # the file's contents, not only its name
    moved = team_file.rename(team_file.with_name("moved.jsonl"))
    same = plain.with_overrides({"data.labels": [str(moved)]})
    assert version_id(same) == changed_id  # ... and not where it lies


def test_label_weights_without_labels_keep_the_version_id() -> None:
    plain = load_config()
    heavier = plain.with_overrides({"encoder.labels_weight": 9.0, "ner.labels_weight": 3.0})
    assert version_id(heavier) == version_id(plain)  # they change nothing without labels


def test_labels_without_entities_are_still_sentiment_labels(tmp_path: Path) -> None:
    path = tmp_path / "sentiment_only.jsonl"
    rows = [{"text": f"meh number {i}", "sentiment": "neutral"} for i in range(20)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), "utf-8")
    config = load_config(overrides={**QUICK, "data.labels": [str(path)]})
    data = TrainingData.load(config, data_files(config))
    assert len(data.labels_train) + len(data.labels_val) == 20
    assert all(r.entities is None for r in data.labels_train)


def test_the_names_a_team_labelled_join_the_catalogue() -> None:
    from nlp.pipeline import labelled_names
    from nlp.schema import Record

    records = [
        Record("Zorbo again", "negative", [(0, 5, "ORG")]),
        Record("zorbo  Z9 and Zorbo", "neutral", [(0, 9, "PRODUCT"), (14, 19, "ORG")]),
        Record("X is fine, so is Zorbo", "positive", [(0, 1, "ORG"), (17, 22, "ORG")]),
        Record("no entities here", "neutral", None),
    ]
    assert labelled_names(records) == [
        {"name": "Zorbo", "label": "ORG"},  # the most frequent spelling and label
        {"name": "zorbo Z9", "label": "PRODUCT"},  # spaces tidied
    ]  # "X" is too short to find alone
