"""The processing function: one outcome per message, schema-valid, nothing dropped."""

from __future__ import annotations

import orjson

from stream.contracts import Reason, Source, validator
from stream.processing import Limits, Message, process_batch
from tests.conftest import position
from tests.fakes import KeywordEnricher


def msg(value: bytes | None, offset: int, key: bytes | None = None) -> Message:
    return Message(key=key, value=value, source=Source("feedback", 0, offset, 1_700_000_000_000))


def test_every_message_gets_exactly_one_schema_valid_outcome() -> None:
    values = [
        orjson.dumps({"id": 1, "text": "good stuff from Acme", "rating": 5}),
        b"{broken",
        orjson.dumps({"id": "x", "text": "bad"}),
        orjson.dumps({"id": 2, "text": ""}),
        None,
        orjson.dumps({"id": 3, "text": "fine", "unknown": {"deep": [1, {"a": None}]}}),
    ]
    messages = [msg(v, i) for i, v in enumerate(values)]
    outcomes = process_batch(messages, KeywordEnricher(), Limits())
    assert len(outcomes) == len(messages)
    assert [o.dead for o in outcomes] == [False, True, False, True, True, False]
    for message, outcome in zip(messages, outcomes, strict=True):
        record = orjson.loads(outcome.value)
        assert position(record)[1] == message.source.offset
        validator("dead_letter" if outcome.dead else "enriched").validate(record)

    first = orjson.loads(outcomes[0].value)
    assert first["enrichment"]["sentiment"]["label"] == "positive"
    entities = first["enrichment"]["entities"]
    assert entities == [{"text": "Acme", "label": "ORG", "start": 16, "end": 20}]
    assert first["rating"] == 5 and first["enrichment"]["model_version"] == "test-1"
    assert outcomes[0].key == b"1"
    assert orjson.loads(outcomes[5].value)["unknown"] == {"deep": [1, {"a": None}]}
    assert outcomes[1].reason == Reason.INVALID_JSON
    assert outcomes[3].reason == Reason.EMPTY_TEXT


def test_the_model_runs_once_per_batch() -> None:
    enricher = KeywordEnricher()
    messages = [msg(orjson.dumps({"id": i, "text": f"text {i}"}), i) for i in range(50)]
    process_batch(messages, enricher, Limits())
    assert enricher.calls == [50]


def test_a_text_that_breaks_the_model_is_isolated() -> None:
    enricher = KeywordEnricher()
    texts = ["good", "boom", "bad"]
    messages = [msg(orjson.dumps({"id": i, "text": t}), i) for i, t in enumerate(texts)]
    outcomes = process_batch(messages, enricher, Limits())
    assert [o.dead for o in outcomes] == [False, True, False]
    assert outcomes[1].reason == Reason.PROCESSING_ERROR
    assert "exploded" in orjson.loads(outcomes[1].value)["detail"]


def test_truncated_text_is_flagged_and_oversized_records_are_dead_lettered() -> None:
    long = orjson.dumps({"id": 1, "text": "good " * 2000})
    huge_extra = orjson.dumps({"id": 2, "text": "ok", "blob": ["x" * 100] * 20_000})
    limits = Limits(max_text_chars=100, max_record_bytes=100_000, dlq_payload_bytes=1000)
    outcomes = process_batch([msg(long, 0), msg(huge_extra, 1)], KeywordEnricher(), limits)
    record = orjson.loads(outcomes[0].value)
    assert record["enrichment"]["truncated"] is True
    assert record["text"] == "good " * 2000, "the input's own text is kept whole"
    assert record["enrichment"]["text_length"] == 10_000
    assert outcomes[1].dead and outcomes[1].reason == Reason.RECORD_TOO_LARGE
    letter = orjson.loads(outcomes[1].value)
    assert letter["payload_truncated"] and letter["id"] == 2
