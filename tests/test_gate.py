"""The trainer's promotion gate and its team holdout, without a broker or a model."""

from __future__ import annotations

import json

import pytest

from stream.contracts import parse_label
from stream.trainer import (
    FIXED,
    MIN_TEAM_HOLDOUT,
    TEAM,
    LabelSet,
    gate,
    held_out,
    holdout_noise,
)

MARGIN, TOLERANCE = 0.02, 0.05


def scores(acc: float, f1: float, ner: float, n: int = 300) -> dict[str, float]:
    return {"sentiment_accuracy": acc, "sentiment_macro_f1": f1, "ner_f1": ner, "n": n}


SERVING_FIXED = scores(0.88, 0.88, 0.84)
SERVING_TEAM = scores(0.70, 0.68, 0.60, n=40)


def test_nothing_serving_promotes() -> None:
    verdict = gate({FIXED: scores(0.5, 0.5, 0.5)}, {}, MARGIN, TOLERANCE)
    assert verdict.promote and verdict.rule == "nothing-serving"


def test_no_regression_on_the_fixed_set_promotes_and_says_so() -> None:
    candidate = {FIXED: scores(0.875, 0.88, 0.84)}
    verdict = gate(candidate, {FIXED: SERVING_FIXED}, MARGIN, TOLERANCE)
    assert verdict.promote and verdict.rule == "no-regression"
    assert f"under {MIN_TEAM_HOLDOUT} texts" in verdict.why


def test_a_regression_on_the_fixed_set_without_a_team_holdout_is_rejected() -> None:
    candidate = {FIXED: scores(0.85, 0.88, 0.84)}
    verdict = gate(candidate, {FIXED: SERVING_FIXED}, MARGIN, TOLERANCE)
    assert not verdict.promote and verdict.rule == "regression"
    assert "sentiment_accuracy 0.850 vs serving 0.880" in verdict.why


def test_better_on_the_team_holdout_while_the_fixed_set_did_not_move_promotes() -> None:
    candidate = {FIXED: SERVING_FIXED, TEAM: scores(0.80, 0.79, 0.70, n=40)}
    verdict = gate(candidate, {FIXED: SERVING_FIXED, TEAM: SERVING_TEAM}, MARGIN, TOLERANCE)
    assert verdict.promote and verdict.rule == "no-regression"
    assert "better: sentiment_accuracy 0.800 vs serving 0.700" in verdict.why


def test_better_on_the_team_holdout_and_within_tolerance_on_the_fixed_set_promotes() -> None:
    candidate = {FIXED: scores(0.85, 0.85, 0.83), TEAM: scores(0.80, 0.70, 0.60, n=40)}
    verdict = gate(candidate, {FIXED: SERVING_FIXED, TEAM: SERVING_TEAM}, MARGIN, TOLERANCE)
    assert verdict.promote and verdict.rule == "better-on-team"
    assert "within tolerance 0.05" in verdict.why and "0.850 vs serving 0.880" in verdict.why


def test_better_on_the_team_holdout_but_beyond_tolerance_on_the_fixed_set_is_rejected() -> None:
    candidate = {FIXED: scores(0.80, 0.85, 0.83), TEAM: scores(0.90, 0.90, 0.90, n=40)}
    verdict = gate(candidate, {FIXED: SERVING_FIXED, TEAM: SERVING_TEAM}, MARGIN, TOLERANCE)
    assert not verdict.promote and verdict.rule == "beyond-tolerance"
    assert "sentiment_accuracy 0.800 vs serving 0.880" in verdict.why


def test_worse_on_the_team_holdout_is_rejected_even_if_the_fixed_set_improved() -> None:
    candidate = {FIXED: scores(0.95, 0.95, 0.95), TEAM: scores(0.70, 0.68, 0.50, n=40)}
    verdict = gate(candidate, {FIXED: SERVING_FIXED, TEAM: SERVING_TEAM}, MARGIN, TOLERANCE)
    assert not verdict.promote and verdict.rule == "worse-on-team"
    assert "ner_f1 0.500 vs serving 0.600" in verdict.why


def test_a_change_within_the_team_holdouts_noise_is_neither_better_nor_worse() -> None:
    assert holdout_noise(40) == pytest.approx(0.079, abs=0.001)
    assert holdout_noise(2500) == 0.01  # below PROMOTION_MARGIN: the margin decides
    team = scores(0.75, 0.72, 0.53, n=40)  # +0.05, +0.04 and -0.07 on 40 texts: chance
    candidate = {FIXED: scores(0.85, 0.85, 0.83), TEAM: team}
    verdict = gate(candidate, {FIXED: SERVING_FIXED, TEAM: SERVING_TEAM}, MARGIN, TOLERANCE)
    assert not verdict.promote and verdict.rule == "regression"  # the fixed set decides
    assert "not better by the margin" in verdict.why and "margin 0.079" in verdict.why
    candidate = {FIXED: SERVING_FIXED, TEAM: team}
    verdict = gate(candidate, {FIXED: SERVING_FIXED, TEAM: SERVING_TEAM}, MARGIN, TOLERANCE)
    assert verdict.promote and verdict.rule == "no-regression"


def test_a_team_holdout_too_small_to_trust_is_not_compared() -> None:
    small = MIN_TEAM_HOLDOUT - 1
    candidate = {FIXED: scores(0.85, 0.85, 0.83), TEAM: scores(1.0, 1.0, 1.0, n=small)}
    serving = {FIXED: SERVING_FIXED, TEAM: scores(0.0, 0.0, 0.0, n=small)}
    verdict = gate(candidate, serving, MARGIN, TOLERANCE)
    assert not verdict.promote and verdict.rule == "regression"


def test_a_metric_without_gold_data_on_the_team_holdout_is_not_compared() -> None:
    # Sentiment-only labels: no ner_f1 on the team holdout, and the entity metric of the
    # fixed set is the only regression, within tolerance.
    team_c = {"sentiment_accuracy": 0.8, "sentiment_macro_f1": 0.8, "n": 40}
    team_s = {"sentiment_accuracy": 0.7, "sentiment_macro_f1": 0.7, "n": 40}
    candidate = {FIXED: scores(0.88, 0.88, 0.80), TEAM: team_c}
    verdict = gate(candidate, {FIXED: SERVING_FIXED, TEAM: team_s}, MARGIN, TOLERANCE)
    assert verdict.promote and verdict.rule == "better-on-team"


@pytest.mark.parametrize("margin", [0.0, 0.02])
def test_equal_models_pass_whatever_the_margin(margin: float) -> None:
    same = {FIXED: SERVING_FIXED, TEAM: SERVING_TEAM}
    verdict = gate(same, same, margin, TOLERANCE)
    assert verdict.promote and "not better by the margin" in verdict.why


def label(i: int | str) -> bytes:
    return json.dumps({"id": i, "text": f"text {i}", "sentiment": "neutral"}).encode()


def test_the_team_holdout_is_a_seeded_share_that_keeps_each_label_on_its_side() -> None:
    first, everything = LabelSet(), LabelSet()
    for i in range(1000):
        everything.add(parse_label(label(i)), new=True)
        if i < 500:
            first.add(parse_label(label(i)), new=True)
    _, held_first = first.split(0.2)
    train, held = everything.split(0.2)
    assert 150 <= len(held) <= 250 and len(train) + len(held) == 1000
    assert {x.id for x in held_first} <= {x.id for x in held}  # more labels move none
    assert not held_out(7, 0.0) and held_out(7, 0.999999)
    assert everything.split(0.0)[1] == []
