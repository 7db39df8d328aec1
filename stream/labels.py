"""`feedback labels import`: publish a file of labels to the labels topic."""

from __future__ import annotations

from pathlib import Path

from stream.contracts import InvalidFeedback, parse_label, record_key
from stream.kafka import ensure_topics, producer
from stream.settings import Settings


async def import_labels(settings: Settings, path: Path) -> tuple[int, list[tuple[int, str]]]:
    """Publish every valid line (keyed by id); returns (published, [(line, why) rejected])."""
    await ensure_topics(settings, [settings.labels_topic])
    prod = producer(settings, linger_ms=20)
    await prod.start()
    sent, rejected = 0, []
    try:
        with path.open("rb") as lines:
            for number, line in enumerate(lines, 1):
                value = line.rstrip(b"\r\n")
                if not value.strip():
                    continue
                try:
                    label = parse_label(value)
                except InvalidFeedback as exc:
                    rejected.append((number, f"{exc.reason}: {exc.detail}"))
                    continue
                await prod.send(settings.labels_topic, value, key=record_key(label.id))
                sent += 1
        await prod.flush()
    finally:
        await prod.stop()
    return sent, rejected
