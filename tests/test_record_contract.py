"""Record contract v2: data as it comes (nested fields, ids in keys, common field names),
the input's fields unchanged next to the enrichment, a version in every record and schema."""

from __future__ import annotations

import json

import orjson
import pytest

from stream.contracts import (
    SCHEMA_DIR,
    SCHEMA_VERSION,
    InputFormat,
    InvalidFeedback,
    Reason,
    Source,
    parse_feedback,
    validator,
)
from stream.processing import Limits, Message, process_batch
from tests.fakes import KeywordEnricher

SOURCE = Source("feedback", 3, 42, 1_700_000_000_000)


def outcome_of(value: bytes, key: bytes | None = None, **fmt: object):
    limits = Limits(fmt=InputFormat(**fmt))
    (outcome,) = process_batch([Message(key, value, SOURCE)], KeywordEnricher(), limits)
    return outcome


def test_common_field_names_of_the_input_survive_unchanged() -> None:
    record = {
        "id": "t-1",
        "text": "good phone from Acme",
        "source": "twitter",
        "sentiment": 4,
        "entities": ["mine"],
        "language": "en",
        "rating": 5,
        "channel": "app",
    }
    outcome = outcome_of(orjson.dumps(record))
    assert not outcome.dead
    out = orjson.loads(outcome.value)
    assert {k: out[k] for k in record} == record, "every input field is kept as it was"
    enrichment = out["enrichment"]
    assert enrichment["schema_version"] == SCHEMA_VERSION
    assert enrichment["id"] == "t-1" and enrichment["sentiment"]["label"] == "positive"
    assert enrichment["source"] == SOURCE.to_dict()
    assert record["text"][16:20] == "Acme" == enrichment["entities"][0]["text"]
    validator("enriched").validate(out)


def test_text_and_id_at_dotted_paths() -> None:
    value = orjson.dumps({"meta": {"ticket": 991}, "review": {"text": "bad service", "stars": 1}})
    out = orjson.loads(outcome_of(value, text_field="review.text", id_field="meta.ticket").value)
    assert out["enrichment"]["id"] == 991
    assert out["enrichment"]["sentiment"]["label"] == "negative"
    assert out["review"] == {"text": "bad service", "stars": 1}


def test_the_id_comes_from_the_kafka_key_when_the_value_has_none() -> None:
    outcome = outcome_of(orjson.dumps({"body": "good"}), key=b"k-7", text_field="body")
    assert outcome.key == b"k-7"
    assert orjson.loads(outcome.value)["enrichment"]["id"] == "k-7"


@pytest.mark.parametrize(
    ("key", "fmt", "reason"),
    [
        (None, {}, Reason.MISSING_ID),
        (b"k-1", {"id_from_key": False}, Reason.MISSING_ID),
        (b"\xff\xfe", {}, Reason.INVALID_ID),
    ],
)
def test_no_usable_id_is_a_dead_letter(key, fmt, reason) -> None:
    with pytest.raises(InvalidFeedback) as info:
        parse_feedback(b'{"text": "hi"}', max_text_chars=100, key=key, fmt=InputFormat(**fmt))
    assert info.value.reason == reason


def test_only_the_enrichment_field_is_reserved_and_it_can_be_moved() -> None:
    value = orjson.dumps({"id": 1, "text": "good", "enrichment": "mine"})
    assert outcome_of(value).reason == Reason.RESERVED_FIELD
    out = orjson.loads(outcome_of(value, enrichment_field="_feedback").value)
    assert out["enrichment"] == "mine" and out["_feedback"]["sentiment"]["label"] == "positive"


def test_a_missing_text_names_the_configured_field() -> None:
    with pytest.raises(InvalidFeedback) as info:
        parse_feedback(b'{"id": 1}', max_text_chars=100, fmt=InputFormat(text_field="review.text"))
    assert info.value.reason == Reason.MISSING_TEXT and "'review.text'" in info.value.detail


def test_every_schema_and_every_record_carry_the_contract_version() -> None:
    for path in sorted(SCHEMA_DIR.glob("*.schema.json")):
        assert json.loads(path.read_text())["x-schema-version"] == SCHEMA_VERSION, path.name
    dead = orjson.loads(outcome_of(b"{broken").value)
    assert dead["schema_version"] == SCHEMA_VERSION
    validator("dead_letter").validate(dead)
