"""The team's labels count: through the labels topic, the trainer and its promotion gate.

The harder dev set is cut in two (seeded). The labels of half A go to the labels topic; the
trainer trains a candidate with them (all but its team holdout) and its gate promotes it.
Against the baseline (the same reduced config without them: `REDUCED_TRAINING`, a minute or
a few per model on two cores), the candidate must have learnt the labelled texts (sentiment
accuracy and ORG+PRODUCT F1 up by GAIN or more), be no worse by more than NO_WORSE on half
B, which no model has seen, and, for the accurate tier, have a sentiment accuracy better
there by GAIN or more. What the full config does on half B is
in nlp/README.md ("The team's labels").
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path

import pytest

from stream.trainer import held_out
from tests.conftest import Reduced, TrainerProcess, copy_store, import_labels

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

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


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), "utf-8")
    return path


@pytest.mark.parametrize("tier", ["fast", "accurate"])
def test_the_teams_labels_are_learnt_through_the_trainer_and_its_gate(
    tier: str, reduced: Callable[[str], Reduced], topics, tmp_path: Path
) -> None:
    from nlp import ModelStore
    from nlp.corpus import DEV_HARD_SET
    from nlp.evaluation import evaluate_version

    baseline = reduced(tier)
    store = copy_store(baseline.store, tmp_path / "models")
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
        TRAINER_CONFIG=str(baseline.config),
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
            evaluate_version(store, baseline.baseline, data),
            evaluate_version(store, promoted, data),
        )

    before, after = scores(unseen)
    own_before, own_after = scores(learnt)
    card = ModelStore(store).read_card(promoted)
    weights = {k: card["config"][k]["labels_weight"] for k in ("sentiment", "encoder", "ner")}
    print(
        f"{tier} tier, half B ({len(half_b)} texts), labels of half A ({len(trained)} trained on, "
        f"{len(team) - len(trained)} held out; weights {weights}"
        f"): sentiment accuracy {before['sentiment_accuracy']:.3f} -> "
        f"{after['sentiment_accuracy']:.3f}, macro-F1 {before['sentiment_macro_f1']:.3f} -> "
        f"{after['sentiment_macro_f1']:.3f}, ORG+PRODUCT F1 {before['ner_f1']:.3f} -> "
        f"{after['ner_f1']:.3f}; on the labelled texts: sentiment accuracy "
        f"{own_before['sentiment_accuracy']:.3f} -> {own_after['sentiment_accuracy']:.3f}, "
        f"ORG+PRODUCT F1 {own_before['ner_f1']:.3f} -> {own_after['ner_f1']:.3f}; gate: "
        f"{verdict[1]}: {verdict[2]}"
    )
    for metric in ("sentiment_accuracy", "ner_f1"):
        assert own_after[metric] >= own_before[metric] + GAIN, metric  # learnt
        assert after[metric] >= before[metric] - NO_WORSE, metric  # and nothing unlearnt
    if tier == "accurate":  # the pre-trained encoder carries the team's domain to new texts
        assert after["sentiment_accuracy"] >= before["sentiment_accuracy"] + GAIN
