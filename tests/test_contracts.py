"""The input contract: precise reasons for bad input, and agreement with the JSON Schemas."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nlp.schema import SENTIMENT_LABELS
from stream.contracts import (
    SCHEMA_DIR,
    InvalidFeedback,
    Reason,
    Source,
    dead_letter,
    parse_feedback,
    parse_label,
    validator,
)

SOURCE = Source("feedback", 0, 7, 1_700_000_000_000)


def reason_of(value: bytes | None) -> Reason:
    with pytest.raises(InvalidFeedback) as info:
        parse_feedback(value, max_text_chars=100)
    return info.value.reason


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, Reason.EMPTY_MESSAGE),
        (b"", Reason.EMPTY_MESSAGE),
        (b"\xff\xfe{}", Reason.INVALID_UTF8),
        (b'{"id": 1, "text": "caf\xe9"}', Reason.INVALID_UTF8),
        (b"{not json", Reason.INVALID_JSON),
        (b'{"id": 1, "text": "x"} trailing', Reason.INVALID_JSON),
        (b"[" * 5000 + b"]" * 5000, Reason.INVALID_JSON),
        (b'"just a string"', Reason.NOT_AN_OBJECT),
        (b"[1, 2]", Reason.NOT_AN_OBJECT),
        (b"null", Reason.NOT_AN_OBJECT),
        (b'{"text": "hello"}', Reason.MISSING_ID),
        (b'{"id": null, "text": "hello"}', Reason.MISSING_ID),
        (b'{"id": true, "text": "hello"}', Reason.INVALID_ID),
        (b'{"id": 1.5, "text": "hello"}', Reason.INVALID_ID),
        (b'{"id": "", "text": "hello"}', Reason.INVALID_ID),
        (b'{"id": {"a": 1}, "text": "hello"}', Reason.INVALID_ID),
        (b'{"id": 1}', Reason.MISSING_TEXT),
        (b'{"id": 1, "text": null}', Reason.MISSING_TEXT),
        (b'{"id": 1, "text": 42}', Reason.INVALID_TEXT),
        (b'{"id": 1, "text": ["a"]}', Reason.INVALID_TEXT),
        (b'{"id": 1, "text": ""}', Reason.EMPTY_TEXT),
        (b'{"id": 1, "text": " \\n\\t "}', Reason.EMPTY_TEXT),
        (b'{"id": 1, "text": "x", "enrichment": {}}', Reason.RESERVED_FIELD),
    ],
)
def test_bad_input_has_a_precise_reason(value: bytes | None, reason: Reason) -> None:
    assert reason_of(value) == reason


def test_valid_input_keeps_unknown_fields_and_odd_characters() -> None:
    text = "Emoji 😀, RTL שלום, combining é, NUL \x00 and control \x07"
    raw = orjson.dumps({"id": "a-1", "text": text, "extra": {"nested": [1, 2]}, "n": None})
    feedback = parse_feedback(raw, max_text_chars=1000)
    assert feedback.text == text
    assert feedback.record["extra"] == {"nested": [1, 2]}
    assert not feedback.truncated


def test_long_text_is_truncated_and_flagged_not_rejected() -> None:
    raw = orjson.dumps({"id": 1, "text": "é" * 1_000_000})
    feedback = parse_feedback(raw, max_text_chars=5000)
    assert feedback.truncated
    assert len(feedback.text) == 5000
    assert feedback.text_length == 1_000_000


def test_dead_letter_keeps_the_original_bytes_and_validates() -> None:
    value = b"\xff\xfe not utf-8"
    letter = dead_letter(
        value,
        b"\xfa",
        SOURCE,
        reason=Reason.INVALID_UTF8,
        error="UnicodeDecodeError",
        detail="bad",
        max_payload_bytes=1000,
    )
    assert letter["payload"] is None
    import base64

    assert base64.b64decode(letter["payload_base64"]) == value
    assert letter["key"].startswith("base64:")
    assert letter["source"] == SOURCE.to_dict()
    validator("dead_letter").validate(letter)


def test_dead_letter_payload_is_capped() -> None:
    value = b'{"id": 1, "text": ' + b"x" * 10_000
    letter = dead_letter(
        value,
        None,
        SOURCE,
        reason=Reason.INVALID_JSON,
        error="E",
        detail="d",
        max_payload_bytes=100,
    )
    assert letter["payload_truncated"] is True
    assert letter["payload_bytes"] == len(value)
    assert len(letter["payload"]) == 100
    validator("dead_letter").validate(letter)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=10,
)
records = st.dictionaries(
    st.sampled_from(["id", "text", "rating", "lang", "source", "meta"]) | st.text(max_size=5),
    json_values,
    max_size=6,
)


@settings(max_examples=400, deadline=None)
@given(records)
def test_parser_agrees_with_the_input_schema(record: dict) -> None:
    """Whatever the parser accepts the schema accepts, and the other way round."""
    raw = orjson.dumps(record)
    schema_ok = validator("feedback").is_valid(record)
    try:
        parse_feedback(raw, max_text_chars=10_000)
        parsed_ok = True
    except InvalidFeedback:
        parsed_ok = False
    assert parsed_ok == schema_ok


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=300))
def test_parser_never_raises_anything_but_invalid_feedback(raw: bytes) -> None:
    try:
        feedback = parse_feedback(raw, max_text_chars=50)
    except InvalidFeedback as exc:
        assert isinstance(exc.reason, Reason)
        assert exc.detail
    else:
        assert feedback.text.strip()
        assert len(feedback.text) <= 50


def _label_lists(node: object) -> list[list]:
    """Every `enum` and `required` list of a schema that names a sentiment label."""
    if isinstance(node, list):
        return [found for item in node for found in _label_lists(item)]
    if not isinstance(node, dict):
        return []
    found = [
        value
        for key, value in node.items()
        if key in ("enum", "required") and isinstance(value, list) and "positive" in value
    ]
    return found + [f for value in node.values() for f in _label_lists(value)]


def test_the_schemas_and_the_label_check_use_the_models_label_set() -> None:
    """The label set has one home (nlp.schema); the schemas and `parse_label` follow it."""
    lists = [
        found
        for name in ("enriched", "label")
        for found in _label_lists(json.loads((SCHEMA_DIR / f"{name}.schema.json").read_bytes()))
    ]
    assert len(lists) >= 3  # the enriched label and scores, the label message's sentiment
    assert all(sorted(found) == sorted(SENTIMENT_LABELS) for found in lists), lists
    for label in SENTIMENT_LABELS:
        label_message = orjson.dumps({"id": 1, "text": "x", "sentiment": label})
        assert parse_label(label_message).sentiment == label
    with pytest.raises(InvalidFeedback) as info:
        parse_label(orjson.dumps({"id": 1, "text": "x", "sentiment": "great"}))
    assert info.value.reason is Reason.INVALID_LABEL
    assert all(label in info.value.detail for label in SENTIMENT_LABELS)


def test_the_contracts_and_the_model_store_load_without_torch_or_spacy() -> None:
    """`nlp`'s package imports lazily: stream's contracts and the store stay cheap."""
    code = (
        "import sys, stream.contracts, nlp.schema\n"
        "from nlp import SENTIMENT_LABELS, ModelError, ModelStore\n"
        "print(sorted(m for m in ('torch', 'spacy') if m in sys.modules))"
    )
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]", out
