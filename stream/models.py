"""Model versions on the stream: announcing them, and following announcements in a worker.

The trainer (and `feedback models promote|rollback`) promote a version in the model store
and announce it on the models topic. Every worker follows that topic: it loads and verifies
the announced version off the event loop (checksum, label set, a smoke prediction) and swaps
it in between two batches. A version that fails is refused, counted and logged, and the
worker keeps serving the one it has.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import orjson

from stream.contracts import SENTIMENT_LABELS, dumps, now_iso, validator
from stream.kafka import consumer, producer
from stream.processing import Enricher
from stream.settings import Settings

log = logging.getLogger(__name__)

SMOKE_TEXTS = ["The new Galaxy Tab S9 from Samsung is great.", "Refund please, it broke."]


class ModelRefused(RuntimeError):
    """An announced model version failed to load or verify."""


def card_checksum(store: Path, version: str) -> str:
    """sha256 of the version's model card (which lists the sha256 of every file)."""
    from nlp.store import CARD, ModelStore

    return hashlib.sha256((ModelStore(store).path(version) / CARD).read_bytes()).hexdigest()


def announcement(
    store: Path, version: str, *, action: str = "promote", previous: str | None = None
) -> dict[str, Any]:
    """The models-topic record for `version`, as written in the store."""
    from nlp import ModelStore

    card = ModelStore(store).read_card(version)
    record = {
        "version": version,
        "checksum": card_checksum(store, version),
        "location": str(ModelStore(store).path(version)),
        "metrics": card.get("metrics", {}),
        "action": action,
        "previous": previous,
        "announced_at": now_iso(),
    }
    validator("model_announcement").validate(record)
    return record


async def announce(settings: Settings, record: dict[str, Any]) -> None:
    """Publish a model announcement and wait for the broker's acknowledgement."""
    prod = producer(settings)
    await prod.start()
    try:
        await prod.send_and_wait(
            settings.models_topic, dumps(record), key=record["version"].encode()
        )
    finally:
        await prod.stop()


def promote(settings: Settings, version: str, *, action: str = "promote") -> dict[str, Any]:
    """Make `version` the store's promoted version and announce it to the workers."""
    from nlp import ModelStore

    store = ModelStore(settings.model_dir)
    store.verify(version)
    previous = store.promoted(store.tier(version))
    store.promote(version)
    record = announcement(settings.model_dir, version, action=action, previous=previous)
    asyncio.run(announce(settings, record))
    return record


async def history(settings: Settings) -> list[dict[str, Any]]:
    """Every valid announcement on the models topic, oldest first."""
    from aiokafka import TopicPartition

    cons = consumer(settings)
    await cons.start()
    try:
        tp = TopicPartition(settings.models_topic, 0)
        cons.assign([tp])
        end = (await cons.end_offsets([tp]))[tp]
        await cons.seek_to_beginning(tp)
        records = []
        while await cons.position(tp) < end:
            for rec in (await cons.getmany(tp, timeout_ms=1000)).get(tp, []):
                try:
                    record = orjson.loads(rec.value)
                    validator("model_announcement").validate(record)
                except Exception:
                    continue
                records.append(record)
        return records
    finally:
        await cons.stop()


def rollback(settings: Settings) -> dict[str, Any]:
    """Announce the version that was serving before the latest announcement of the
    SENTIMENT_MODEL tier."""
    announced = [
        record
        for record in asyncio.run(history(settings))
        if stored_tier(settings, record["version"]) == settings.sentiment_model
    ]
    if not announced or not announced[-1].get("previous"):
        raise ModelRefused("nothing to roll back to: no announcement names a previous version")
    return promote(settings, announced[-1]["previous"], action="rollback")


def stored_tier(settings: Settings, version: str) -> str | None:
    """The sentiment tier of a stored version (None when it is not in the store)."""
    from nlp import ModelError, ModelStore

    try:
        return ModelStore(settings.model_dir).tier(version)
    except ModelError:
        return None


def verify_enricher(enricher: Enricher) -> None:
    """A smoke prediction: sane probabilities and entity offsets, or `ModelRefused`."""
    for text, result in zip(SMOKE_TEXTS, enricher.enrich(SMOKE_TEXTS), strict=True):
        data = result.to_dict()
        scores = data["sentiment"]["scores"]
        if set(scores) != set(SENTIMENT_LABELS) or not math.isclose(
            sum(scores.values()), 1.0, abs_tol=1e-3
        ):
            raise ModelRefused(f"smoke prediction has bad sentiment scores {scores}")
        for entity in data["entities"]:
            if text[entity["start"] : entity["end"]] != entity["text"]:
                raise ModelRefused(f"smoke prediction has a bad entity span {entity}")


class ModelFollower:
    """Follows the models topic for one worker and swaps its model between batches."""

    def __init__(
        self,
        settings: Settings,
        load: Callable[[str], Enricher],
        swap: Callable[[Enricher], None],
        current: Callable[[], str],
        *,
        on_swap: Callable[[str], None] = lambda version: None,
        on_refusal: Callable[[str, str], None] = lambda version, reason: None,
    ) -> None:
        self.settings = settings
        self.load = load
        self.swap = swap
        self.current = current
        self.on_swap = on_swap
        self.on_refusal = on_refusal
        self.refused: dict[str, str] = {}
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="model-loader")

    async def run(self) -> None:
        """Read announcements from the start of the topic, act on the newest, forever."""
        cons = consumer(self.settings, self.settings.models_topic)
        await cons.start()
        try:
            while True:
                batches = await cons.getmany(timeout_ms=1000)
                newest = None
                for records in batches.values():
                    for rec in records:
                        newest = self._parse(rec.value) or newest
                if newest is not None:
                    await self.consider(newest)
        finally:
            await cons.stop()

    async def consider(self, record: dict[str, Any]) -> bool:
        """Load, verify and swap in the announced version; True if it is now serving."""
        version = record["version"]
        if version == self.current() or version in self.refused:
            return version == self.current()
        tier = stored_tier(self.settings, version)
        if tier is not None and tier != self.settings.sentiment_model:
            log.info("model %s announced for the %s tier; this worker serves the %s tier",
                     version, tier, self.settings.sentiment_model)  # fmt: skip
            return False
        log.info("model %s announced (%s); loading it", version, record.get("action"))
        loop = asyncio.get_running_loop()
        try:
            enricher = await loop.run_in_executor(self._executor, self._load_verified, record)
        except Exception as exc:  # any failure: refuse and keep serving the current model
            reason = f"{type(exc).__name__}: {exc}"
            self.refused[version] = reason
            self.on_refusal(version, reason)
            log.error("refused model %s, still serving %s: %s", version, self.current(), reason)
            return False
        previous = self.current()
        self.swap(enricher)
        self.on_swap(enricher.version)
        log.info("now serving model %s (was %s)", version, previous)
        return True

    def _load_verified(self, record: dict[str, Any]) -> Enricher:
        version = record["version"]
        checksum = card_checksum(self.settings.model_dir, version)
        if checksum != record["checksum"]:
            raise ModelRefused(
                f"model card checksum {checksum[:12]} != announced {record['checksum'][:12]}"
            )
        enricher = self.load(version)
        verify_enricher(enricher)
        return enricher

    def _parse(self, value: bytes | None) -> dict[str, Any] | None:
        try:
            record = orjson.loads(value or b"")
            validator("model_announcement").validate(record)
        except Exception as exc:  # a bad announcement must not stop the worker
            log.error("ignoring an invalid model announcement: %s", exc)
            return None
        return record
