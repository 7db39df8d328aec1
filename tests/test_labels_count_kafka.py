"""The team's labels count: through the labels topic, the trainer and its promotion gate.

The harder dev set is cut in two (seeded). The labels of half A go to the labels topic; the
trainer trains a candidate with them and its gate promotes it. On half B, which no model has
seen, sentiment accuracy and ORG+PRODUCT F1 must each rise by at least GAIN against the
model trained without those labels under the same config: a reduced one (CI_TRAINING), so
that one training takes a minute or two on two cores. The figures are printed.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from tests.conftest import TrainerProcess, import_labels

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

#: Changes to nlp/config.cfg for CI: one sentiment member, fewer epochs and synthetic texts.
CI_TRAINING = {
    "sentiment": {"folds": 1, "epochs": 8},
    "ner": {"epochs": 3, "rehearsal": 100, "synthetic": 300},
    "data": {"synthetic": 500},
}
HALVES_SEED = 13
GAIN = 0.03


def halves(path: Path, seed: int) -> tuple[list[dict], list[dict]]:
    """The records of a JSONL file in two seeded halves."""
    rows = [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]
    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    half = len(rows) // 2
    return [rows[i] for i in order[:half]], [rows[i] for i in order[half:]]


def write_config(path: Path, changes: dict[str, dict]) -> Path:
    """nlp/config.cfg with `changes` applied, as a config file of its own."""
    from confection import Config

    from nlp.config import DEFAULT_CONFIG

    config = Config().from_disk(DEFAULT_CONFIG)
    for section, values in changes.items():
        config[section].update(values)
    config.to_disk(path)
    return path


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), "utf-8")
    return path


def test_the_teams_labels_raise_sentiment_and_entity_f1_on_texts_of_their_kind(topics, tmp_path):
    from nlp import ModelStore
    from nlp.config import load_config
    from nlp.corpus import DEV_HARD_SET
    from nlp.evaluation import evaluate_version
    from nlp.training import train_model

    config = write_config(tmp_path / "ci.cfg", CI_TRAINING)
    store = tmp_path / "models"
    baseline = train_model(store, load_config(config), version="without-labels", progress=False)
    ModelStore(store).promote(baseline["version"])
    half_a, half_b = halves(DEV_HARD_SET, HALVES_SEED)
    team = [{"id": f"team-{i}", **row, "annotator": "team"} for i, row in enumerate(half_a)]
    labels = write_jsonl(tmp_path / "half_a_labels.jsonl", team)
    unseen = write_jsonl(tmp_path / "half_b.jsonl", half_b)

    trainer = TrainerProcess(
        topics,
        store,
        tmp_path / "trainer.log",
        TRAINER_CONFIG=str(config),
        RETRAIN_AFTER_LABELS=str(len(team)),
    ).start()
    try:
        trainer.wait_for(r"trainer ready", 120)
        assert f"{len(team)} labels published" in import_labels(topics, labels, store)
        promoted = trainer.wait_for(r"promoted and announced (\S+)", 900)[1]
        verdict = trainer.wait_for(r"passes the gate \((\S+)\): (.*)", 1)
    finally:
        trainer.stop()
    assert ModelStore(store).promoted() == promoted
    assert "team holdout (" in verdict[2], verdict[0]  # the gate compared the team's own data

    before = evaluate_version(store, baseline["version"], unseen)
    after = evaluate_version(store, promoted, unseen)
    card = ModelStore(store).read_card(promoted)
    print(
        f"half B ({len(half_b)} texts), labels of half A at weight "
        f"{card['config']['data']['labels_weight']} ({card['data']['counts']['labels_train']} "
        f"trained on, {card['data']['counts']['labels_val']} validating): sentiment accuracy "
        f"{before['sentiment_accuracy']:.3f} -> {after['sentiment_accuracy']:.3f}, macro-F1 "
        f"{before['sentiment_macro_f1']:.3f} -> {after['sentiment_macro_f1']:.3f}, ORG+PRODUCT "
        f"F1 {before['ner_f1']:.3f} -> {after['ner_f1']:.3f}; gate: {verdict[1]}: {verdict[2]}"
    )
    assert after["sentiment_accuracy"] >= before["sentiment_accuracy"] + GAIN
    assert after["ner_f1"] >= before["ner_f1"] + GAIN
