"""One poison message never takes its neighbours down: limits at parse time, isolation at
every step of `process_batch`, and properties over any bytes (no broker; see
test_poison_kafka.py for the real worker)."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stream.contracts import (
    MAX_JSON_DEPTH,
    MAX_JSON_VALUES,
    InvalidFeedback,
    Reason,
    Source,
    parse_feedback,
    validator,
)
from stream.processing import Limits, Message, process_batch
from tests.conftest import position
from tests.fakes import KeywordEnricher
from tests.fuzz import ANY, KINDS, fuzz_cases, nested


def msg(value: bytes | None, offset: int = 0) -> Message:
    """A keyless message (as the fuzz produces them: no id from the key)."""
    return Message(key=None, value=value, source=Source("feedback", 0, offset, 1_700_000_000_000))


def reason_of(value: bytes) -> Reason | None:
    try:
        parse_feedback(value, max_text_chars=5000)
    except InvalidFeedback as exc:
        return exc.reason
    return None


@pytest.mark.parametrize(
    ("depth", "reason"),
    [
        (MAX_JSON_DEPTH - 1, None),
        (MAX_JSON_DEPTH, Reason.TOO_DEEP),
        (253, Reason.TOO_DEEP),  # the deepest orjson can serialise
        (254, Reason.TOO_DEEP),  # parses, but the serialiser refuses it
        (500, Reason.TOO_DEEP),
        (1023, Reason.TOO_DEEP),  # the deepest orjson parses
        (1024, Reason.INVALID_JSON),
        (5000, Reason.INVALID_JSON),
    ],
)
def test_nesting_is_checked_at_parse_time_on_both_sides_of_every_boundary(depth, reason) -> None:
    assert reason_of(nested(depth)) == reason


def test_whatever_parses_also_serialises_inside_the_output_record() -> None:
    outcome = process_batch([msg(nested(MAX_JSON_DEPTH - 1))], KeywordEnricher(), Limits())[0]
    assert not outcome.dead
    assert orjson.loads(outcome.value)["x"]  # the deep field survived the round trip


def test_value_count_is_bounded() -> None:
    ok = orjson.dumps({"id": 1, "text": "t", "xs": [0] * (MAX_JSON_VALUES - 10)})
    too_many = orjson.dumps({"id": 1, "text": "t", "xs": [0] * MAX_JSON_VALUES})
    assert reason_of(ok) is None
    assert reason_of(too_many) == Reason.TOO_MANY_VALUES


@pytest.mark.parametrize(
    "raw",
    [b'{"id": 9223372036854775808, "text": "t"}', b'{"id": 18446744073709551615, "text": "t"}'],
)
def test_integer_ids_beyond_64_signed_bits_are_invalid(raw: bytes) -> None:
    assert reason_of(raw) == Reason.INVALID_ID


def test_a_utf8_byte_order_mark_is_accepted() -> None:
    feedback = parse_feedback(b'\xef\xbb\xbf{"id": 1, "text": "hello"}', max_text_chars=100)
    assert feedback.id == 1 and feedback.text == "hello"


def test_a_batch_with_a_500_deep_message_publishes_every_neighbour() -> None:
    poison = b'{"id": "poison", "text": "hello", "x": ' + b"[" * 500 + b"]" * 500 + b"}"
    values = [poison] + [orjson.dumps({"id": i, "text": f"good {i}"}) for i in range(20)]
    outcomes = process_batch([msg(v, i) for i, v in enumerate(values)], KeywordEnricher(), Limits())
    assert [o.reason for o in outcomes] == [Reason.TOO_DEEP] + [None] * 20
    assert orjson.loads(outcomes[0].value)["payload"].startswith('{"id": "poison"')


class UnserialisableEnricher(KeywordEnricher):
    """Returns, for texts with 'odd', an enrichment orjson cannot write."""

    def enrich(self, texts):
        results = super().enrich(texts)
        for text, result in zip(texts, results, strict=True):
            if "odd" in text:
                result.entities = [{"text": object()}]
        return results


def test_a_record_that_cannot_be_serialised_dead_letters_only_itself() -> None:
    texts = ["good one", "an odd one", "bad one"]
    messages = [msg(orjson.dumps({"id": i, "text": t}), i) for i, t in enumerate(texts)]
    outcomes = process_batch(messages, UnserialisableEnricher(), Limits())
    assert [o.reason for o in outcomes] == [None, Reason.UNSERIALISABLE, None]
    validator("dead_letter").validate(orjson.loads(outcomes[1].value))


class MiscountingEnricher(KeywordEnricher):
    """A model bug: drops one result when given more than one text."""

    def enrich(self, texts):
        results = super().enrich(texts)
        return results[:-1] if len(texts) > 1 else results


def test_an_unexpected_failure_of_the_batch_falls_back_to_one_message_at_a_time() -> None:
    values = [orjson.dumps({"id": i, "text": "good"}) for i in range(5)] + [b"{bad"]
    outcomes = process_batch(
        [msg(v, i) for i, v in enumerate(values)], MiscountingEnricher(), Limits()
    )
    assert [o.reason for o in outcomes] == [None] * 5 + [Reason.INVALID_JSON]


def _check_outcomes(values: list[bytes | None]) -> list:
    messages = [msg(v, i) for i, v in enumerate(values)]
    outcomes = process_batch(messages, KeywordEnricher(), Limits())
    assert len(outcomes) == len(messages)
    for message, outcome in zip(messages, outcomes, strict=True):
        record = orjson.loads(outcome.value)
        assert position(record)[1] == message.source.offset
        validator("dead_letter" if outcome.dead else "enriched").validate(record)
    return outcomes


int64 = st.integers(-(2**63), 2**63 - 1)
json_scalars = st.none() | st.booleans() | int64 | st.floats() | st.text(max_size=8)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(), children, max_size=3)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.binary(max_size=200) | st.none(), min_size=1, max_size=8))
def test_any_bytes_give_one_schema_valid_outcome_each(values) -> None:
    _check_outcomes(values)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.builds(
            lambda id_, text, extra, depth: (
                b'{"id": '
                + orjson.dumps(id_, option=orjson.OPT_NON_STR_KEYS)
                + b', "text": '
                + orjson.dumps(text)
                + b', "extra": '
                + b"[" * depth
                + orjson.dumps(extra, option=orjson.OPT_NON_STR_KEYS)
                + b"]" * depth
                + b"}"
            ),
            st.one_of(int64, st.text(max_size=5), json_values),
            st.text(max_size=30),
            json_values,
            st.integers(0, 1100),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_any_json_shape_and_depth_gives_one_schema_valid_outcome_each(values) -> None:
    _check_outcomes(values)


def test_the_fuzz_set_gives_the_expected_reason_for_every_kind() -> None:
    """The generated set of the Kafka fuzz test, through `process_batch` alone."""
    cases = fuzz_cases(n_valid=200, n_hostile=len(KINDS) * 20)
    outcomes = _check_outcomes([value for _, value, _ in cases])
    wrong = [
        (kind, expected, outcome.reason)
        for (kind, _, expected), outcome in zip(cases, outcomes, strict=True)
        if expected != ANY and outcome.reason != expected
    ]
    assert not wrong
