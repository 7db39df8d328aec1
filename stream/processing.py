"""The processing function: raw Kafka messages in, records to publish out.

Plain Python, no Kafka client and no event loop: the worker calls `process_batch` in a
thread for every batch it takes from the stream, `feedback enrich` calls it for every
chunk of a file, and tests call it directly. Every message yields exactly one outcome:
an enriched record for the output topic or a dead letter with the reason.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from stream.contracts import (
    DEFAULT_FORMAT,
    Feedback,
    InputFormat,
    InvalidFeedback,
    Reason,
    Source,
    dead_letter,
    dumps,
    enriched_record,
    parse_feedback,
    record_key,
)
from stream.settings import Settings

log = logging.getLogger(__name__)


class Enricher(Protocol):
    """What the processing needs of a model: texts in, enrichments out, version attached.

    `nlp.load_enricher` returns one (an `nlp.FeedbackModel`); tests pass small fakes.
    """

    version: str

    def enrich(self, texts: Sequence[str]) -> list[Any]: ...


@dataclass(frozen=True, slots=True)
class Message:
    """One consumed Kafka message, as bytes."""

    key: bytes | None
    value: bytes | None
    source: Source


@dataclass(frozen=True, slots=True)
class Outcome:
    """What to publish for one message: to the output topic, or to the dead-letter topic."""

    dead: bool
    key: bytes | None
    value: bytes
    reason: Reason | None = None
    #: The published record, as a dict: the enriched record or the dead letter.
    record: dict[str, Any] | None = None
    #: For an enriched record: the text that was analysed, and the format that placed it.
    text: str | None = None
    fmt: InputFormat = DEFAULT_FORMAT

    @property
    def enrichment(self) -> dict[str, Any] | None:
        """What the model said about the message (None for a dead letter)."""
        if self.dead or self.record is None:
            return None
        return self.record.get(self.fmt.enrichment_field)


def _default(setting: str) -> Any:
    """The default of a `Settings` field: the one home of every limit's value."""
    return Settings.model_fields[setting].default


@dataclass(frozen=True, slots=True)
class Limits:
    """The rules of `Settings` that the processing needs: sizes and the input's format.

    The defaults are the settings' defaults.
    """

    max_text_chars: int = _default("max_text_chars")
    max_record_bytes: int = _default("max_record_bytes")
    dlq_payload_bytes: int = _default("dlq_payload_bytes")
    fmt: InputFormat = DEFAULT_FORMAT


def process_batch(messages: Sequence[Message], enricher: Enricher, limits: Limits) -> list[Outcome]:
    """Enrich a batch; one outcome per message, in the same order, whatever the bytes.

    Every step that can fail on one message (parsing, the model, building and serialising
    the record) dead-letters that message only. Should anything else fail, the batch is
    processed again message by message, so one message can never take its neighbours down.
    """
    try:
        return _process(messages, enricher, limits)
    except Exception:
        log.exception("batch of %d failed; processing it message by message", len(messages))
    return [_process_alone(message, enricher, limits) for message in messages]


def _process(messages: Sequence[Message], enricher: Enricher, limits: Limits) -> list[Outcome]:
    outcomes: list[Outcome | None] = [None] * len(messages)
    valid: list[tuple[int, Feedback]] = []
    for i, message in enumerate(messages):
        try:
            feedback = parse_feedback(
                message.value, max_text_chars=limits.max_text_chars, key=message.key, fmt=limits.fmt
            )
            valid.append((i, feedback))
        except InvalidFeedback as exc:
            outcomes[i] = _dead(
                message, limits, exc.reason, exc.error, exc.detail, record_id=exc.record_id
            )

    for (i, feedback), enrichment in zip(valid, _enrich(enricher, valid, messages), strict=True):
        if isinstance(enrichment, Exception):
            outcomes[i] = _dead(
                messages[i],
                limits,
                Reason.PROCESSING_ERROR,
                type(enrichment).__name__,
                f"the model failed on this text: {enrichment}",
                record_id=feedback.id,
            )
        else:
            outcomes[i] = _publishable(messages[i], feedback, enrichment, enricher.version, limits)
    return outcomes  # type: ignore[return-value]


def _publishable(
    message: Message,
    feedback: Feedback,
    enrichment: dict[str, Any],
    model_version: str,
    limits: Limits,
) -> Outcome:
    """The enriched record as bytes, or a dead letter if it cannot be serialised or is too big."""
    record = enriched_record(feedback, enrichment, model_version, message.source, limits.fmt)
    try:
        value = dumps(record)
    except (TypeError, ValueError) as exc:  # orjson.JSONEncodeError is a TypeError
        return _dead(
            message,
            limits,
            Reason.UNSERIALISABLE,
            type(exc).__name__,
            f"the enriched record cannot be written as JSON: {exc}",
            record_id=feedback.id,
        )
    if len(value) > limits.max_record_bytes:
        return _dead(
            message,
            limits,
            Reason.RECORD_TOO_LARGE,
            "RecordTooLarge",
            f"the enriched record has {len(value)} bytes, more than MAX_RECORD_BYTES="
            f"{limits.max_record_bytes}",
            record_id=feedback.id,
        )
    return Outcome(
        False, record_key(feedback.id), value, record=record, text=feedback.text, fmt=limits.fmt
    )


def _process_alone(message: Message, enricher: Enricher, limits: Limits) -> Outcome:
    """One message on its own; any failure becomes its dead letter."""
    try:
        return _process([message], enricher, limits)[0]
    except Exception as exc:
        log.exception("message at %s failed", message.source)
        return _dead(
            message,
            limits,
            Reason.PROCESSING_ERROR,
            type(exc).__name__,
            f"processing failed on this message: {exc}",
        )


def _enrich(
    enricher: Enricher, valid: list[tuple[int, Feedback]], messages: Sequence[Message]
) -> list[dict[str, Any] | Exception]:
    """Enrich the batch in one call; if that fails, one by one to isolate the culprit."""
    if not valid:
        return []
    texts = [feedback.text for _, feedback in valid]
    try:
        return [e.to_dict() for e in enricher.enrich(texts)]
    except Exception:
        log.exception("batch of %d failed in the model; retrying one by one", len(texts))
    results: list[dict[str, Any] | Exception] = []
    for (i, _), text in zip(valid, texts, strict=True):
        try:
            results.append(enricher.enrich([text])[0].to_dict())
        except Exception as exc:
            log.error("model failed on %s: %r", messages[i].source, exc)
            results.append(exc)
    return results


def _dead(
    message: Message,
    limits: Limits,
    reason: Reason,
    error: str,
    detail: str,
    *,
    record_id: Any = None,
) -> Outcome:
    letter = dead_letter(
        message.value,
        message.key,
        message.source,
        reason=reason,
        error=error,
        detail=detail,
        max_payload_bytes=limits.dlq_payload_bytes,
        record_id=record_id,
    )
    try:
        value = dumps(letter)
    except (TypeError, ValueError):  # only the input's id can be unserialisable: leave it out
        letter.pop("id", None)
        value = dumps(letter)
    return Outcome(True, message.key, value, reason=reason, record=letter)
