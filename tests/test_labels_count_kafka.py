"""The team's labels count: through the labels topic, the trainer and its promotion gate.

The harder dev set is cut in two (seeded). The labels of half A go to the labels topic; the
trainer trains a candidate with them (all but its team holdout) and its gate promotes it. The
candidate must have learnt the team's labelled texts (sentiment accuracy and ORG+PRODUCT F1
up by at least GAIN against the model trained without them under the same config), and be
no worse than that model by more than NO_WORSE on half B, which no model has seen. The
config is a reduced one (CI_TRAINING): a fast-tier training takes a minute or two on two
cores. The figures are printed; nlp/README.md has them over several seeds.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from stream.trainer import held_out
from tests.conftest import TrainerProcess, import_labels

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

#: Changes to nlp/config.cfg for CI: fewer members, epochs and synthetic texts.
CI_TRAINING = {
    "sentiment": {"folds": 3, "epochs": 8},
    "encoder": {"epochs": 2},
    "ner": {"epochs": 3, "rehearsal": 100, "synthetic": 300},
    "data": {"synthetic": 500},
}
HALVES_SEED = 13
GAIN = 0.03
NO_WORSE = 0.03


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


@pytest.mark.parametrize("tier", ["fast", "accurate"])
def test_the_teams_labels_are_learnt_through_the_trainer_and_its_gate(tier, topics, tmp_path):
    from nlp import ModelStore
    from nlp.config import load_config
    from nlp.corpus import DEV_HARD_SET
    from nlp.evaluation import evaluate_version
    from nlp.training import train_model

    changes = CI_TRAINING | {"sentiment": CI_TRAINING["sentiment"] | {"tier": tier}}
    config = write_config(tmp_path / "ci.cfg", changes)
    store = tmp_path / "models"
    baseline = train_model(store, load_config(config), version="without-labels", progress=False)
    ModelStore(store).promote(baseline["version"])
    half_a, half_b = halves(DEV_HARD_SET, HALVES_SEED)
    team = [{"id": f"team-{i}", **row, "annotator": "team"} for i, row in enumerate(half_a)]
    labels = write_jsonl(tmp_path / "half_a_labels.jsonl", team)
    trained = [row for row in team if not held_out(row["id"], 0.2)]  # LABELS_HOLDOUT below
    learnt = write_jsonl(tmp_path / "half_a_trained.jsonl", trained)
    unseen = write_jsonl(tmp_path / "half_b.jsonl", half_b)

    trainer = TrainerProcess(
        topics,
        store,
        tmp_path / "trainer.log",
        TRAINER_CONFIG=str(config),
        SENTIMENT_MODEL=tier,
        RETRAIN_AFTER_LABELS=str(len(team)),
        LABELS_HOLDOUT="0.2",
    ).start()
    try:
        trainer.wait_for(r"trainer ready", 120)
        assert f"{len(team)} labels published" in import_labels(topics, labels, store)
        promoted = trainer.wait_for(r"promoted and announced (\S+)", 2400)[1]
        verdict = trainer.wait_for(r"passes the gate \((\S+)\): (.*)", 1)
    finally:
        trainer.stop()
    assert ModelStore(store).promoted(tier) == promoted
    assert "team holdout (" in verdict[2], verdict[0]  # the gate compared the team's own data

    def scores(data: Path) -> tuple[dict, dict]:
        return (
            evaluate_version(store, baseline["version"], data),
            evaluate_version(store, promoted, data),
        )

    before, after = scores(unseen)
    own_before, own_after = scores(learnt)
    card = ModelStore(store).read_card(promoted)
    weights = card["config"]["data"]["labels_weight"], card["config"]["sentiment"]["labels_weight"]
    print(
        f"{tier} tier, half B ({len(half_b)} texts), labels of half A ({len(trained)} trained on, "
        f"{len(team) - len(trained)} held out; weights [data] {weights[0]}, [sentiment] "
        f"{weights[1]}): sentiment accuracy {before['sentiment_accuracy']:.3f} -> "
        f"{after['sentiment_accuracy']:.3f}, macro-F1 {before['sentiment_macro_f1']:.3f} -> "
        f"{after['sentiment_macro_f1']:.3f}, ORG+PRODUCT F1 {before['ner_f1']:.3f} -> "
        f"{after['ner_f1']:.3f}; on the labelled texts: sentiment accuracy "
        f"{own_before['sentiment_accuracy']:.3f} -> {own_after['sentiment_accuracy']:.3f}, "
        f"ORG+PRODUCT F1 {own_before['ner_f1']:.3f} -> {own_after['ner_f1']:.3f}; gate: "
        f"{verdict[1]}: {verdict[2]}"
    )
    for metric in ("sentiment_accuracy", "ner_f1"):
        assert own_after[metric] >= own_before[metric] + GAIN, metric
        assert after[metric] >= before[metric] - NO_WORSE, metric
