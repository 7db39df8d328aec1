"""Message contracts: the one home of what goes in and out of the topics.

The JSON Schema files in `stream/schemas/` are the documentation users read; this module
holds the code that enforces them on the hot path (hand-written checks that give a precise
reason, much faster than a schema validator) and the schema validators that tests use to
prove the two agree. It is longer than most modules on purpose: every message shape (input,
enriched record, dead letter, label) and its limits live here together, so that one file
answers "what may go in, what comes out".
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any

import orjson
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

# The sentiment labels records and labels carry are the model's: one home, in nlp.
from nlp.schema import SENTIMENT_LABELS

SCHEMA_DIR = Path(__file__).parent / "schemas"
#: Version of the record contract (the schemas' `version`, `schema_version` in every record).
SCHEMA_VERSION = 2
MAX_ID_CHARS = 512
#: Integer ids must fit the serialiser (and most consumers): signed 64 bits.
ID_INT_RANGE = (-(2**63), 2**63 - 1)
#: Deepest nesting of objects and arrays an input may have. orjson parses 1,024 levels but
#: serialises at most 254; the output record wraps the input, so the limit sits well below.
MAX_JSON_DEPTH = 64
#: Most JSON values (objects, arrays, strings, numbers, ...) an input may hold: bounds the
#: work and memory one message can cost, whatever its size in bytes.
MAX_JSON_VALUES = 100_000


class Reason(StrEnum):
    """Why a message went to the dead-letter topic."""

    EMPTY_MESSAGE = "empty_message"
    INVALID_UTF8 = "invalid_utf8"
    INVALID_JSON = "invalid_json"
    NOT_AN_OBJECT = "not_an_object"
    MISSING_ID = "missing_id"
    INVALID_ID = "invalid_id"
    MISSING_TEXT = "missing_text"
    INVALID_TEXT = "invalid_text"
    EMPTY_TEXT = "empty_text"
    RESERVED_FIELD = "reserved_field"
    TOO_DEEP = "too_deep"
    TOO_MANY_VALUES = "too_many_values"
    UNSERIALISABLE = "unserialisable"
    RECORD_TOO_LARGE = "record_too_large"
    PROCESSING_ERROR = "processing_error"
    INVALID_LABEL = "invalid_label"


class InvalidFeedback(ValueError):
    """Raised by `parse_feedback`: the message breaks the input contract."""

    def __init__(self, reason: Reason, detail: str, error: str | None = None, record_id=None):
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.error = error or type(self).__name__
        self.record_id = record_id


@dataclass(frozen=True, slots=True)
class Source:
    """Where a message was read: enough to find it again in Kafka."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "topic": self.topic,
            "partition": self.partition,
            "offset": self.offset,
            "timestamp_ms": self.timestamp_ms,
        }


@dataclass(frozen=True, slots=True)
class InputFormat:
    """Where an input message keeps its id and text, and where the enrichment is written.

    Fields are dotted paths into nested objects (`review.text`). The input's own fields are
    never changed: the enrichment goes under one key of its own, next to them.
    """

    text_field: str = "text"
    id_field: str = "id"
    #: Take the id from the Kafka key when the value has none.
    id_from_key: bool = True
    enrichment_field: str = "enrichment"


DEFAULT_FORMAT = InputFormat()


@dataclass(frozen=True, slots=True)
class Feedback:
    """A valid input message, its text already capped at the configured length."""

    record: dict[str, Any]
    id: str | int
    text: str
    truncated: bool
    text_length: int


def now_iso() -> str:
    """UTC timestamp in ISO 8601 with milliseconds and a Z."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_feedback(
    value: bytes | None,
    *,
    max_text_chars: int,
    key: bytes | None = None,
    fmt: InputFormat = DEFAULT_FORMAT,
) -> Feedback:
    """Decode and check one input message, or raise `InvalidFeedback` with the reason."""
    if not value:
        raise InvalidFeedback(Reason.EMPTY_MESSAGE, "the message has no value")
    try:
        decoded = value.decode("utf-8-sig")  # a UTF-8 byte order mark is accepted and dropped
    except UnicodeDecodeError as exc:
        raise InvalidFeedback(
            Reason.INVALID_UTF8,
            f"not UTF-8: {exc.reason} at byte {exc.start}",
            "UnicodeDecodeError",
        ) from None
    try:
        record = orjson.loads(decoded)
    except orjson.JSONDecodeError as exc:
        raise InvalidFeedback(Reason.INVALID_JSON, f"not JSON: {exc}", "JSONDecodeError") from None
    if not isinstance(record, dict):
        kind = type(record).__name__
        raise InvalidFeedback(Reason.NOT_AN_OBJECT, f"expected a JSON object, got {kind}")
    try:
        check_shape(record)
    except InvalidFeedback as exc:
        with contextlib.suppress(InvalidFeedback):
            exc.record_id = _id_of(record, key, fmt)  # the dead letter names it when it can
        raise

    record_id = _id_of(record, key, fmt)
    text = field_at(record, fmt.text_field)
    if text is None:
        raise InvalidFeedback(
            Reason.MISSING_TEXT, f"the object has no '{fmt.text_field}'", record_id=record_id
        )
    if not isinstance(text, str):
        kind = type(text).__name__
        raise InvalidFeedback(
            Reason.INVALID_TEXT,
            f"'{fmt.text_field}' must be a string, got {kind}",
            record_id=record_id,
        )
    if not text.strip():
        raise InvalidFeedback(
            Reason.EMPTY_TEXT,
            f"'{fmt.text_field}' is empty or only whitespace",
            record_id=record_id,
        )
    if fmt.enrichment_field in record:
        raise InvalidFeedback(
            Reason.RESERVED_FIELD,
            f"the input has a field '{fmt.enrichment_field}', where the enrichment is written: "
            "rename it, or set ENRICHMENT_FIELD to another name",
            record_id=record_id,
        )

    truncated = len(text) > max_text_chars
    return Feedback(
        record=record,
        id=record_id,
        text=text[:max_text_chars] if truncated else text,
        truncated=truncated,
        text_length=len(text),
    )


def field_at(record: dict[str, Any], path: str) -> Any:
    """The value at a dotted path (`review.text`), or None where the path leads nowhere."""
    node: Any = record
    for name in path.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(name)
    return node


def _id_of(record: dict[str, Any], key: bytes | None, fmt: InputFormat) -> str | int:
    record_id = field_at(record, fmt.id_field)
    if record_id is None and fmt.id_from_key and key:
        try:
            record_id = key.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidFeedback(
                Reason.INVALID_ID, "the message has no id and its key is not UTF-8"
            ) from None
    if record_id is None:
        where = " and no key" if fmt.id_from_key else ""
        raise InvalidFeedback(Reason.MISSING_ID, f"the object has no '{fmt.id_field}'{where}")
    if isinstance(record_id, bool) or not isinstance(record_id, str | int):
        kind = type(record_id).__name__
        raise InvalidFeedback(
            Reason.INVALID_ID, f"'{fmt.id_field}' must be a string or an integer, got {kind}"
        )
    if isinstance(record_id, str) and not 0 < len(record_id) <= MAX_ID_CHARS:
        raise InvalidFeedback(
            Reason.INVALID_ID, f"'{fmt.id_field}' must have 1 to {MAX_ID_CHARS} characters"
        )
    if isinstance(record_id, int) and not ID_INT_RANGE[0] <= record_id <= ID_INT_RANGE[1]:
        raise InvalidFeedback(
            Reason.INVALID_ID, f"an integer '{fmt.id_field}' must fit in 64 bits (signed)"
        )
    return record_id


def check_shape(value: Any) -> None:
    """Raise `InvalidFeedback` if parsed JSON nests deeper or holds more values than allowed.

    Iterative, so a hostile input cannot exhaust the stack; it stops at the first excess.
    """
    values = 0
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        node, depth = pending.pop()
        values += 1
        if values > MAX_JSON_VALUES:
            raise InvalidFeedback(
                Reason.TOO_MANY_VALUES,
                f"the message holds more than {MAX_JSON_VALUES} JSON values",
                "TooManyValues",
            )
        if isinstance(node, dict):
            children = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth >= MAX_JSON_DEPTH and children:
            raise InvalidFeedback(
                Reason.TOO_DEEP,
                f"objects and arrays nest deeper than {MAX_JSON_DEPTH} levels",
                "TooDeep",
            )
        pending.extend((child, depth + 1) for child in children)


@dataclass(frozen=True, slots=True)
class Label:
    """A valid human label: the sentiment, the entity spans, or both."""

    id: str | int
    text: str
    sentiment: str | None
    entities: tuple[tuple[int, int, str], ...] | None

    def to_training_record(self) -> dict[str, Any]:
        """The `{"text", "sentiment", "entities"}` form that nlp training reads."""
        record: dict[str, Any] = {"id": self.id, "text": self.text, "source": "labels-topic"}
        if self.sentiment is not None:
            record["sentiment"] = self.sentiment
        if self.entities is not None:
            record["entities"] = [
                {"start": s, "end": e, "label": lab} for s, e, lab in self.entities
            ]
        return record


def parse_label(value: bytes | None, *, max_text_chars: int = 5000) -> Label:
    """Decode and check one label message, or raise `InvalidFeedback` (reason invalid_label)."""
    record = parse_feedback(value, max_text_chars=10**9).record

    def invalid(detail: str) -> InvalidFeedback:
        return InvalidFeedback(Reason.INVALID_LABEL, detail, record_id=record.get("id"))

    text = record["text"]
    if len(text) > max_text_chars:
        raise invalid(f"'text' is longer than {max_text_chars} characters")
    sentiment = record.get("sentiment")
    entities = record.get("entities")
    if sentiment is None and entities is None:
        raise invalid("a label needs 'sentiment', 'entities' or both")
    if sentiment is not None and sentiment not in SENTIMENT_LABELS:
        raise invalid(f"'sentiment' must be one of {', '.join(SENTIMENT_LABELS)}")
    spans: list[tuple[int, int, str]] = []
    if entities is not None:
        if not isinstance(entities, list):
            raise invalid("'entities' must be a list")
        for entity in entities:
            if not isinstance(entity, dict):
                raise invalid("each entity must be an object with start, end and label")
            start, end, label = entity.get("start"), entity.get("end"), entity.get("label")
            if not (type(start) is int and type(end) is int and 0 <= start < end <= len(text)):
                raise invalid(f"entity span {start!r}..{end!r} is not inside the text")
            if not isinstance(label, str) or not re.fullmatch(r"[A-Z][A-Z0-9_]*", label):
                raise invalid(f"entity label {label!r} must be upper-case like ORG or PRODUCT")
            if not text[start:end].strip() or text[start:end] != text[start:end].strip():
                raise invalid(f"entity span {start}..{end} starts or ends with whitespace")
            spans.append((start, end, label))
        spans.sort()
        if any(a[1] > b[0] for a, b in zip(spans, spans[1:], strict=False)):
            raise invalid("entity spans overlap")
    return Label(record["id"], text, sentiment, tuple(spans) if entities is not None else None)


def enriched_record(
    feedback: Feedback,
    enrichment: dict[str, Any],
    model_version: str,
    source: Source,
    fmt: InputFormat = DEFAULT_FORMAT,
) -> dict[str, Any]:
    """The output record: the input's fields unchanged, the enrichment under its own key.

    Entity offsets refer to the input's text (its first MAX_TEXT_CHARS characters when
    `truncated`).
    """
    return {
        **feedback.record,
        fmt.enrichment_field: {
            "schema_version": SCHEMA_VERSION,
            "id": feedback.id,
            "sentiment": enrichment["sentiment"],
            "entities": enrichment["entities"],
            "model_version": model_version,
            "processed_at": now_iso(),
            "truncated": feedback.truncated,
            "text_length": feedback.text_length,
            "source": source.to_dict(),
        },
    }


def dead_letter(
    value: bytes | None,
    key: bytes | None,
    source: Source,
    *,
    reason: Reason,
    error: str,
    detail: str,
    max_payload_bytes: int,
    record_id: Any = None,
) -> dict[str, Any]:
    """The DLQ record for a message that could not be enriched."""
    payload = payload_b64 = None
    size = len(value) if value else 0
    kept = value[:max_payload_bytes] if value else b""
    if value is not None:
        try:
            payload = kept.decode("utf-8")
        except UnicodeDecodeError:
            # A cut can split a character: keep the bytes exactly, in base64.
            payload_b64 = base64.b64encode(kept).decode("ascii")
    letter: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "reason": str(reason),
        "error": error,
        "detail": detail,
        "payload": payload,
        "payload_base64": payload_b64,
        "payload_bytes": size,
        "payload_truncated": size > len(kept),
        "key": _key_text(key),
        "source": source.to_dict(),
        "failed_at": now_iso(),
    }
    if record_id is not None:
        letter["id"] = record_id
    return letter


def _key_text(key: bytes | None) -> str | None:
    if key is None:
        return None
    try:
        return key.decode("utf-8")
    except UnicodeDecodeError:
        return "base64:" + base64.b64encode(key).decode("ascii")


def dumps(record: dict[str, Any]) -> bytes:
    """Serialise a record for Kafka (orjson: compact UTF-8 JSON)."""
    return orjson.dumps(record)


def record_key(record_id: str | int) -> bytes:
    """The Kafka key of an enriched record: its id as UTF-8."""
    return str(record_id).encode("utf-8")


# --- Schema validators (used by tests and by `feedback enrich --validate`) -----------------


@cache
def _registry() -> Registry:
    resources = []
    for path in sorted(SCHEMA_DIR.glob("*.schema.json")):
        schema = json.loads(path.read_text())
        resource = Resource.from_contents(schema)
        resources += [(schema["$id"], resource), (path.name, resource)]
    return Registry().with_resources(resources)


@cache
def validator(name: str) -> Draft202012Validator:
    """A JSON Schema validator for `feedback`, `enriched` or `dead_letter`."""
    schema = json.loads((SCHEMA_DIR / f"{name}.schema.json").read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(
        schema, registry=_registry(), format_checker=Draft202012Validator.FORMAT_CHECKER
    )
