"""Prometheus metrics of one worker, served at `/metrics` on its web port (see stream/web.py).

Every metric of the project is named `feedback_*` (`NAMESPACE`), so they stand apart in a
shared Prometheus; the registry also holds prometheus-client's process, platform and GC
collectors (`process_*`, `python_*`). Each app gets its own `CollectorRegistry`
(`Metrics`), so tests can build several apps in one process without "Duplicated
timeseries" errors. The hot path calls `Metrics.batch_done` once per published batch;
consumer lag and the serving model are read at scrape time. The worker's model follower
counts swaps and refusals through `record_model_swap` and `record_model_refusal` of the
`Metrics` it is given (stream/app.py wires them).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily

from stream.processing import Message, Outcome

log = logging.getLogger(__name__)

CONTENT_TYPE = CONTENT_TYPE_LATEST

# No `*_created` series next to every counter and histogram: noise for Prometheus.
disable_created_metrics()

__all__ = ["CONTENT_TYPE", "NAMESPACE", "Metrics"]

#: The prefix of every metric of the project: `feedback_messages_in_total`, ...
NAMESPACE = "feedback"

#: Seconds. Batches take milliseconds to seconds in the model thread.
INFERENCE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
#: Seconds from the producer's timestamp to the broker's acknowledgement of our output.
END_TO_END_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
BATCH_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)

#: Longest `reason` label kept for a refused model (the text after it is dropped).
REASON_LABEL_CHARS = 64


class Metrics:
    """The worker's metrics, in a registry of its own."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        ours: dict[str, Any] = {"namespace": NAMESPACE, "registry": r}
        self.messages_in = Counter(
            "messages_in",
            "Messages consumed from the input topic and handled.",
            ["topic"],
            **ours,
        )
        self.messages_out = Counter(
            "messages_out", "Enriched records published to the output topic.", **ours
        )
        self.messages_dlq = Counter(
            "messages_dlq", "Dead letters published, by reason.", ["reason"], **ours
        )
        self.agent_crashes = Counter(
            "agent_crashes",
            "Times the enrich agent died (the worker then stops; its batch is read again).",
            **ours,
        )
        self.batch_size = Histogram(
            "batch_size",
            "Messages per batch taken from the stream.",
            buckets=BATCH_SIZE_BUCKETS,
            **ours,
        )
        self.inference_seconds = Histogram(
            "inference_seconds",
            "Time one batch spends in the model thread (parse, NLP, serialise).",
            buckets=INFERENCE_BUCKETS,
            **ours,
        )
        self.end_to_end_seconds = Histogram(
            "end_to_end_latency_seconds",
            "From the input message's timestamp to the broker's ack of its outcome.",
            buckets=END_TO_END_BUCKETS,
            **ours,
        )
        self.model_swaps = Counter(
            "model_swaps", "Model versions swapped in while running.", **ours
        )
        self.model_refusals = Counter(
            "model_refusals",
            "Announced model versions refused (kept serving the old one).",
            ["version", "reason"],
            **ours,
        )
        self.serving_model = Gauge(
            "serving_model_info",
            "The model version this worker serves (value 1).",
            ["version"],
            **ours,
        )
        self.last_batch = Gauge(
            "last_batch_timestamp_seconds", "Unix time the last batch was published.", **ours
        )
        self._serving: str | None = None
        #: (topic, partition) -> next offset to process, from the batches this worker published.
        self.next_offsets: dict[tuple[str, int], int] = {}
        self._lag_source: Callable[[], Iterable[tuple[str, str, int, int]]] | None = None
        r.register(_LagCollector(self.lag_rows))
        # process_* (memory, CPU, open files), python_info and python_gc_* of this process.
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        GCCollector(registry=r)

    # --- the hot path -------------------------------------------------------------------
    def batch_done(
        self,
        messages: Sequence[Message],
        outcomes: Sequence[Outcome],
        *,
        inference_s: float,
        published_at: float | None = None,
    ) -> None:
        """Count one published batch (call after the broker acknowledged it)."""
        published_at = time.time() if published_at is None else published_at
        self.batch_size.observe(len(messages))
        self.inference_seconds.observe(inference_s)
        topics: dict[str, int] = {}
        dead: dict[str, int] = {}
        for message, outcome in zip(messages, outcomes, strict=True):
            source = message.source
            topics[source.topic] = topics.get(source.topic, 0) + 1
            key = (source.topic, source.partition)
            if source.offset + 1 > self.next_offsets.get(key, -1):
                self.next_offsets[key] = source.offset + 1
            if outcome.dead:
                reason = str(getattr(outcome.reason, "value", outcome.reason) or "unknown")
                dead[reason] = dead.get(reason, 0) + 1
            if source.timestamp_ms:
                self.end_to_end_seconds.observe(max(0.0, published_at - source.timestamp_ms / 1e3))
        for topic, n in topics.items():
            self.messages_in.labels(topic).inc(n)
        n_dead = sum(dead.values())
        for reason, n in dead.items():
            self.messages_dlq.labels(reason).inc(n)
        self.messages_out.inc(len(outcomes) - n_dead)
        self.last_batch.set(published_at)

    # --- the model ------------------------------------------------------------------------
    def set_serving_model(self, version: str | None) -> None:
        """Make `feedback_serving_model_info{version=...}` show this version alone."""
        if version == self._serving:
            return
        if self._serving is not None:
            self.serving_model.remove(self._serving)
        if version is not None:
            self.serving_model.labels(version).set(1)
        self._serving = version

    @property
    def serving(self) -> str | None:
        return self._serving

    def record_model_swap(self, version: str) -> None:
        """A new model version is serving: count the swap and update the serving model."""
        self.model_swaps.inc()
        self.set_serving_model(version)

    def record_model_refusal(self, version: str, reason: str) -> None:
        """An announced version was refused; `reason` is cut to its first clause for the label."""
        self.model_refusals.labels(version, _reason_label(reason)).inc()

    # --- scraping -------------------------------------------------------------------------
    def lag_from(self, source: Callable[[], Iterable[tuple[str, str, int, int]]]) -> None:
        """Where consumer lag comes from: a callable giving (group, topic, partition, lag) rows."""
        self._lag_source = source

    def lag_rows(self) -> list[tuple[str, str, int, int]]:
        """The consumer lag rows now, sorted; none when there is no source or it fails."""
        if self._lag_source is None:
            return []
        try:
            return sorted(self._lag_source())
        except Exception as exc:  # never fail a scrape: the consumer may be restarting
            log.debug("consumer lag unavailable: %r", exc)
            return []

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)

    def value(self, name: str, **labels: str) -> float | None:
        """One sample's current value, by its full name (for tests and the dashboard)."""
        return self.registry.get_sample_value(name, labels)


class _LagCollector:
    """`feedback_consumer_lag{group,topic,partition}`, computed when Prometheus scrapes."""

    def __init__(self, rows: Callable[[], Iterable[tuple[str, str, int, int]]]) -> None:
        self.rows = rows

    def describe(self) -> list[Any]:
        return [self._family()]

    def collect(self) -> Iterable[Any]:
        family = self._family()
        for group, topic, partition, lag in self.rows():
            family.add_metric([group, topic, str(partition)], lag)
        yield family

    @staticmethod
    def _family() -> GaugeMetricFamily:
        return GaugeMetricFamily(
            f"{NAMESPACE}_consumer_lag",
            "Messages in an assigned partition not processed yet (log end - next offset).",
            labels=["group", "topic", "partition"],
        )


def _reason_label(reason: str) -> str:
    """A refusal reason short enough for a label: its first clause (usually the error class)."""
    head = reason.split(":", 1)[0].strip() or "unknown"
    return head[:REASON_LABEL_CHARS]
