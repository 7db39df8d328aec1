"""The worker's web pages, served by Faust's own web server on `WEB_PORT`.

- `/metrics`: Prometheus exposition (stream/metrics.py), text or OpenMetrics by `Accept`;
  the consumer lag in it comes from `ConsumerLag`, which asks the brokers for the input
  partitions' offsets on each assignment and every `LAG_REFRESH_S`.
- `/healthz`: liveness. 200 while the process and its app run; 503 once the app crashed.
- `/readyz`: readiness. 200 when connected to Kafka, holding input partitions and serving a
  model; else 503. The JSON body says which check failed.
- `/dashboard`: a live view (stream/static/), polling `/dashboard/data`: messages per
  second, sentiment mix, most mentioned ORG/PRODUCT entities with their sentiment, the
  latest negative feedback, over a sliding window of this worker's own outcomes.

`install(app, job, settings)` registers the pages and returns the `Ops` object that the
hot path feeds (`EnrichJob.ops.batch_done(...)` after each published batch).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import Counter, deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client.exposition import choose_encoder

from stream.contracts import SENTIMENT_LABELS
from stream.metrics import NAMESPACE, Metrics, activate
from stream.processing import Message, Outcome

if TYPE_CHECKING:
    import faust
    from faust.types import TP

    from stream.settings import Settings

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
#: Paths this module serves (the Kubernetes manifest test checks the probes against them).
PATHS = ("/metrics", "/healthz", "/readyz", "/dashboard", "/dashboard/data")
DASHBOARD_ASSETS = {
    "/dashboard": ("dashboard.html", "text/html"),
    "/dashboard/app.js": ("dashboard.js", "application/javascript"),
    "/dashboard/app.css": ("dashboard.css", "text/css"),
}
#: Entity labels the dashboard ranks.
ENTITY_LABELS = ("ORG", "PRODUCT")
#: Longest feedback text shown on the dashboard.
SHOWN_TEXT_CHARS = 280
#: Seconds between two reads of the input partitions' offsets from the brokers.
LAG_REFRESH_S = 5.0


# --- the live view --------------------------------------------------------------------------
@dataclass
class _Second:
    """What this worker published in one wall-clock second."""

    at: int
    messages: int = 0
    dead: int = 0
    sentiment: Counter = field(default_factory=Counter)
    #: (label, casefolded text) -> Counter of sentiment labels
    entities: dict[tuple[str, str], Counter] = field(default_factory=dict)
    #: (label, casefolded text) -> the surface form last seen
    names: dict[tuple[str, str], str] = field(default_factory=dict)


class LiveView:
    """A sliding window over this worker's outcomes, for the dashboard."""

    def __init__(self, window_s: int = 300, *, negatives: int = 10, top: int = 10) -> None:
        self.window_s = window_s
        self.top = top
        self._seconds: deque[_Second] = deque()
        self._negatives: deque[dict[str, Any]] = deque(maxlen=negatives)

    def add(self, outcomes: Sequence[Outcome], now: float | None = None) -> None:
        now = time.time() if now is None else now
        second = self._second(int(now))
        for outcome in outcomes:
            second.messages += 1
            record = outcome.enrichment
            if record is None:
                second.dead += 1
                continue
            sentiment = record.get("sentiment") or {}
            label = sentiment.get("label")
            if label not in SENTIMENT_LABELS:
                continue
            second.sentiment[label] += 1
            mentioned = []
            for entity in record.get("entities") or ():
                if entity.get("label") in ENTITY_LABELS and entity.get("text"):
                    key = (entity["label"], " ".join(entity["text"].split()).casefold())
                    second.entities.setdefault(key, Counter())[label] += 1
                    second.names[key] = entity["text"]
                    mentioned.append({"text": entity["text"], "label": entity["label"]})
            if label == "negative":
                text = outcome.text or ""
                self._negatives.append(
                    {
                        "id": record.get("id"),
                        "text": text[:SHOWN_TEXT_CHARS]
                        + ("…" if len(text) > SHOWN_TEXT_CHARS else ""),
                        "score": (sentiment.get("scores") or {}).get("negative"),
                        "entities": mentioned,
                        "processed_at": record.get("processed_at"),
                        "at": now,
                    }
                )

    def _second(self, at: int) -> _Second:
        if not self._seconds or self._seconds[-1].at < at:
            self._seconds.append(_Second(at))
        elif self._seconds[-1].at > at:  # the clock went back: count it in the newest second
            return self._seconds[-1]
        self._prune(at)
        return self._seconds[-1]

    def _prune(self, now: float) -> None:
        horizon = now - self.window_s
        while self._seconds and self._seconds[0].at <= horizon:
            self._seconds.popleft()

    def snapshot(self, now: float | None = None) -> dict[str, Any]:
        """The window, aggregated: what `/dashboard/data` returns."""
        now = time.time() if now is None else now
        self._prune(now)
        end = int(now)
        per_second = [0] * self.window_s
        messages = dead = 0
        sentiment: Counter = Counter()
        entities: dict[tuple[str, str], Counter] = {}
        names: dict[tuple[str, str], str] = {}
        for second in self._seconds:
            index = self.window_s - 1 - (end - second.at)
            if 0 <= index < self.window_s:
                per_second[index] += second.messages
            messages += second.messages
            dead += second.dead
            sentiment.update(second.sentiment)
            for key, counts in second.entities.items():
                entities.setdefault(key, Counter()).update(counts)
            names.update(second.names)
        ranked = sorted(entities.items(), key=lambda kv: (-kv[1].total(), kv[0]))[: self.top]
        recent = per_second[-10:]
        return {
            "window_s": self.window_s,
            "now": datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds"),
            "messages": messages,
            "enriched": messages - dead,
            "dead": dead,
            "rate": {
                "now": round(sum(recent) / len(recent), 2),
                "window": round(messages / self.window_s, 2),
                "per_second": per_second,
            },
            "sentiment": {label: sentiment.get(label, 0) for label in SENTIMENT_LABELS},
            "entities": [
                {
                    "text": names[key],
                    "label": key[0],
                    "mentions": counts.total(),
                    "sentiment": {label: counts.get(label, 0) for label in SENTIMENT_LABELS},
                }
                for key, counts in ranked
            ],
            "negative": [
                {k: v for k, v in item.items() if k != "at"}
                for item in reversed(self._negatives)
                if item["at"] > now - self.window_s
            ],
        }


# --- consumer lag ---------------------------------------------------------------------------
@dataclass
class PartitionOffsets:
    """What the brokers said about one assigned input partition at the last refresh."""

    end: int  # the log end offset (high watermark)
    committed: int | None  # the group's committed offset; None before the group's first commit
    start: int  # where a consumer without a commit begins (log start or end, by offset reset)


class ConsumerLag:
    """How many messages of each assigned input partition this worker has not processed yet.

    Lag = log end offset - the next offset to process: the later of the group's committed
    offset and the batches this worker published since; with neither (a new group), where
    the consumer starts (the log start for `earliest`, the end for `latest`). The brokers
    are asked on each assignment and every LAG_REFRESH_S, so every assigned partition has a
    row from the start, idle or not; a scrape reads their last answer, never waiting on them.
    """

    def __init__(self, app: faust.App, settings: Settings, metrics: Metrics) -> None:
        self.app = app
        self.settings = settings
        self.metrics = metrics
        self.group = app.conf.id  # Faust's consumer group is the app id
        self.offsets: dict[tuple[str, int], PartitionOffsets] = {}
        self._assigned = asyncio.Event()
        self._admin: AIOKafkaAdminClient | None = None

    def on_assigned(self, sender: Any, assigned: set[TP], **kwargs: Any) -> None:
        """A rebalance gave this worker `assigned`: read their offsets now."""
        kept = {(tp.topic, tp.partition) for tp in assigned}
        for key in set(self.metrics.next_offsets) - kept:
            del self.metrics.next_offsets[key]
        self._assigned.set()

    async def run(self) -> None:
        """Refresh the offsets on each assignment and every LAG_REFRESH_S until stopped."""
        try:
            while True:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._assigned.wait(), LAG_REFRESH_S)
                self._assigned.clear()
                try:
                    await self.refresh()
                except Exception as exc:  # the brokers may be away: keep the last answer
                    log.debug("could not read the input partitions' offsets: %r", exc)
        finally:
            if self._admin is not None:
                await self._admin.close()

    async def refresh(self) -> None:
        """Ask the brokers for the log end, committed and start offsets of the assignment."""
        tps = self._input_partitions()
        if not tps:
            self.offsets = {}
            return
        consumer = self.app.consumer
        ends = await consumer.highwaters(*tps)
        committed = await self._committed(tps)
        if self.app.conf.consumer_auto_offset_reset == "latest":
            starts = ends
        else:
            starts = await consumer.earliest_offsets(*tps)
        self.offsets = {
            (tp.topic, tp.partition): PartitionOffsets(
                ends[tp], committed.get((tp.topic, tp.partition)), starts[tp]
            )
            for tp in tps
        }

    def rows(self) -> Iterator[tuple[str, str, int, int]]:
        """(group, topic, partition, lag) for each assigned input partition."""
        assigned = {(tp.topic, tp.partition): tp for tp in self._input_partitions()}
        for key, offsets in sorted(self.offsets.items()):
            if key not in assigned:  # revoked since the last refresh
                continue
            done = self.metrics.next_offsets.get(key)
            known = [o for o in (done, offsets.committed) if o is not None]
            next_offset = max(known) if known else offsets.start
            end = max(offsets.end, self._highwater(assigned[key]))
            yield self.group, key[0], key[1], max(0, end - next_offset)

    def _input_partitions(self) -> list[TP]:
        try:
            assignment = self.app.consumer.assignment()
        except Exception:  # the consumer is not started yet
            return []
        return sorted(tp for tp in assignment if tp.topic == self.settings.input_topic)

    def _highwater(self, tp: TP) -> int:
        """The log end seen in the consumer's last fetch (fresher than the last refresh)."""
        try:
            return self.app.consumer.highwater(tp) or 0
        except Exception:
            return 0

    async def _committed(self, tps: list[TP]) -> dict[tuple[str, int], int]:
        if self._admin is None:
            admin = AIOKafkaAdminClient(
                bootstrap_servers=self.settings.kafka_bootstrap_servers,
                **self.settings.kafka_client_options(),
            )
            try:
                await admin.start()
            except BaseException:
                await admin.close()
                raise
            self._admin = admin
        answer = await self._admin.list_consumer_group_offsets(
            self.group, partitions=[TopicPartition(tp.topic, tp.partition) for tp in tps]
        )
        return {
            (tp.topic, tp.partition): meta.offset for tp, meta in answer.items() if meta.offset >= 0
        }


# --- what the pages report ------------------------------------------------------------------
class Ops:
    """The worker's observability: metrics, health, readiness and the live view."""

    def __init__(self, app: faust.App, job: Any, settings: Settings) -> None:
        self.app = app
        self.job = job
        self.settings = settings
        self.metrics = activate(Metrics())
        self.live = LiveView(settings.dashboard_window_s) if settings.dashboard_enabled else None
        self.started = time.time()
        self.agent_crash: BaseException | None = None
        self.consumer_lag = ConsumerLag(app, settings, self.metrics)
        self.metrics.lag_from(self.consumer_lag.rows)
        self.metrics.set_serving_model(self.model_version())

    def batch_done(
        self, messages: Sequence[Message], outcomes: Sequence[Outcome], *, inference_s: float
    ) -> None:
        """Count a batch the broker acknowledged. Never raises: it must not stop the stream."""
        try:
            self.metrics.batch_done(messages, outcomes, inference_s=inference_s)
            self.metrics.set_serving_model(self.model_version())
            if self.live is not None:
                self.live.add(outcomes)
        except Exception:
            log.exception("could not record the metrics of a batch")

    def model_version(self) -> str | None:
        enricher = getattr(self.job, "enricher", None)
        return getattr(enricher, "version", None)

    def assigned(self) -> list[int]:
        """Input partitions assigned to this worker."""
        try:
            assignment = self.app.consumer.assignment()
        except Exception:  # the consumer is not started yet
            return []
        return sorted(tp.partition for tp in assignment if tp.topic == self.settings.input_topic)

    def connected(self) -> bool:
        """The consumer knows its group coordinator and has a live broker connection."""
        try:
            client_consumer = self.app.consumer._thread._consumer
            if client_consumer is None or client_consumer._coordinator.coordinator_id is None:
                return False
            return any(conn.connected() for conn in list(client_consumer._client._conns.values()))
        except Exception:
            return False

    def agent_crashed(self, exc: BaseException) -> None:
        """The enrich agent died (the worker is stopping): count it, fail both probes."""
        self.agent_crash = exc
        self.metrics.agent_crashes.inc()

    def health(self) -> tuple[bool, dict[str, Any]]:
        crashed = bool(getattr(self.app, "crashed", False)) or self.agent_crash is not None
        body: dict[str, Any] = {
            "status": "crashed" if crashed else "alive",
            "uptime_s": round(time.time() - self.started, 1),
        }
        if self.agent_crash is not None:
            body["agent_crash"] = repr(self.agent_crash)
        return not crashed, body

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        partitions = self.assigned()
        checks = {
            "connected": self.connected(),
            "assigned": bool(partitions),
            "model_loaded": self.model_version() is not None,
            "agent_running": self.agent_crash is None,
        }
        ready = all(checks.values())
        return ready, {
            "status": "ready" if ready else "not ready",
            "checks": checks,
            "partitions": partitions,
            "model_version": self.model_version(),
        }

    def dashboard(self) -> dict[str, Any]:
        data = self.live.snapshot() if self.live is not None else {}
        data["worker"] = {
            "app_id": self.settings.app_id,
            "topic": self.settings.input_topic,
            "partitions": self.assigned(),
            "model_version": self.model_version(),
            "lag": sum(lag for *_, lag in _safe(self.consumer_lag.rows)),
        }
        data["totals"] = {
            "in": _sum_samples(self.metrics, f"{NAMESPACE}_messages_in"),
            "out": _sum_samples(self.metrics, f"{NAMESPACE}_messages_out"),
            "dlq": _sum_samples(self.metrics, f"{NAMESPACE}_messages_dlq"),
        }
        return data


def _safe(rows: Any) -> list[tuple[str, str, int, int]]:
    try:
        return list(rows())
    except Exception:
        return []


def _sum_samples(metrics: Metrics, name: str) -> float:
    total = 0.0
    for family in metrics.registry.collect():
        if family.name == name:
            total += sum(s.value for s in family.samples if s.name == f"{name}_total")
    return total if not math.isnan(total) else 0.0


# --- the pages ------------------------------------------------------------------------------
def install(app: faust.App, job: Any, settings: Settings) -> Ops:
    """Register the pages on the app's web server; the returned `Ops` is fed by the hot path."""
    from faust import web

    ops = Ops(app, job, settings)
    app.ops = ops
    app.on_partitions_assigned.connect(ops.consumer_lag.on_assigned)
    app.task(ops.consumer_lag.run)

    @app.page("/metrics", name="metrics")
    async def metrics(self: web.View, request: web.Request) -> web.Response:
        ops.metrics.set_serving_model(ops.model_version())  # a swap may precede any batch
        encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
        body = encoder(ops.metrics.registry)
        return self.bytes(body, headers={"Content-Type": content_type})

    @app.page("/healthz", name="healthz")
    async def healthz(self: web.View, request: web.Request) -> web.Response:
        ok, body = ops.health()
        return self.json(body, status=200 if ok else 503)

    @app.page("/readyz", name="readyz")
    async def readyz(self: web.View, request: web.Request) -> web.Response:
        ok, body = ops.readiness()
        return self.json(body, status=200 if ok else 503)

    if ops.live is None:
        return ops

    @app.page("/dashboard/data", name="dashboard_data")
    async def dashboard_data(self: web.View, request: web.Request) -> web.Response:
        return self.json(ops.dashboard(), headers={"Cache-Control": "no-store"})

    for path, (filename, content_type) in DASHBOARD_ASSETS.items():
        app.page(path, name=f"dashboard_{filename.replace('.', '_')}")(
            _asset_view(filename, content_type)
        )
    return ops


def _asset_view(filename: str, content_type: str) -> Any:
    body = (STATIC / filename).read_bytes()
    headers = {
        "Content-Type": f"{content_type}; charset=utf-8",
        "Cache-Control": "no-cache",
        # Self-contained: the page loads nothing from anywhere else.
        "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
        "style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'",
        "X-Content-Type-Options": "nosniff",
    }

    async def asset(self: Any, request: Any) -> Any:
        return self.bytes(body, headers=headers)

    asset.__name__ = f"asset_{filename.replace('.', '_')}"
    return asset
