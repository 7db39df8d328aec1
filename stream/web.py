"""The worker's web pages, served by Faust's own web server on `WEB_PORT`.

- `/metrics`: Prometheus exposition (stream/metrics.py), text or OpenMetrics by `Accept`;
  the consumer lag in it comes from `ConsumerLag`, which asks the brokers for the input
  partitions' offsets on each assignment and every `LAG_REFRESH_S`.
- `/healthz`: liveness. 200 while the process and its app run; 503 once the app crashed.
- `/readyz`: readiness. 200 when connected to Kafka, holding input partitions and serving a
  model; else 503. The JSON body says which check failed.
- `/dashboard`: a live view (stream/static/), polling `/dashboard/data`: messages per
  second, sentiment mix, most mentioned ORG/PRODUCT entities with their sentiment, the
  latest negative feedback, over a sliding window of this worker's own outcomes
  (stream/live_view.py).

`Ops` answers what the pages report; the hot path feeds it (`Ops.batch_done(...)` after
each published batch). `install(app, ops)` registers the pages on the app's web server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiokafka import TopicPartition
from prometheus_client.exposition import choose_encoder

from stream import client_internals, kafka
from stream.live_view import LiveView
from stream.metrics import NAMESPACE, Metrics
from stream.processing import Message, Outcome

if TYPE_CHECKING:
    import faust
    from aiokafka.admin import AIOKafkaAdminClient
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
#: Seconds between two reads of the input partitions' offsets from the brokers.
LAG_REFRESH_S = 5.0


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
            self._admin = await kafka.start_admin(self.settings)
        answer = await self._admin.list_consumer_group_offsets(
            self.group, partitions=[TopicPartition(tp.topic, tp.partition) for tp in tps]
        )
        return {
            (tp.topic, tp.partition): meta.offset for tp, meta in answer.items() if meta.offset >= 0
        }


# --- what the pages report ------------------------------------------------------------------
class Ops:
    """The worker's observability: metrics, health, readiness and the live view.

    `serving_version` answers which model version the worker serves now (None before
    one is loaded); `metrics` are the worker's own.
    """

    def __init__(
        self,
        app: faust.App,
        settings: Settings,
        metrics: Metrics,
        serving_version: Callable[[], str | None],
    ) -> None:
        self.app = app
        self.settings = settings
        self.metrics = metrics
        self.serving_version = serving_version
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
        return self.serving_version()

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
            return client_internals.group_consumer_connected(self.app.consumer)
        except Exception:  # the consumer is not created or not started yet
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
            "lag": sum(lag for *_, lag in self.metrics.lag_rows()),
        }
        data["totals"] = {
            "in": _sum_samples(self.metrics, f"{NAMESPACE}_messages_in"),
            "out": _sum_samples(self.metrics, f"{NAMESPACE}_messages_out"),
            "dlq": _sum_samples(self.metrics, f"{NAMESPACE}_messages_dlq"),
        }
        return data


def _sum_samples(metrics: Metrics, name: str) -> float:
    total = 0.0
    for family in metrics.registry.collect():
        if family.name == name:
            total += sum(s.value for s in family.samples if s.name == f"{name}_total")
    return total if not math.isnan(total) else 0.0


# --- the pages ------------------------------------------------------------------------------
def install(app: faust.App, ops: Ops) -> None:
    """Register the pages of `ops` on the app's web server, and its consumer-lag reader."""
    from faust import web

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
        return

    @app.page("/dashboard/data", name="dashboard_data")
    async def dashboard_data(self: web.View, request: web.Request) -> web.Response:
        return self.json(ops.dashboard(), headers={"Cache-Control": "no-store"})

    for path, (filename, content_type) in DASHBOARD_ASSETS.items():
        app.page(path, name=f"dashboard_{filename.replace('.', '_')}")(
            _asset_view(filename, content_type)
        )


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
