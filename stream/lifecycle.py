"""The worker's two summary lines: what it serves (at start) and what it did (at stop).

The start line waits for the first partition assignment, because the partitions are
part of what a person wants to know ("is this worker doing anything?"); later
rebalances log a short line of their own. The stop line is written when Faust shuts
the app down, after the consumer stopped, so its counts are final. Both are single
log records: with `LOG_FORMAT=json` their figures are also fields of the object.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Set
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from stream import logs

if TYPE_CHECKING:
    import faust
    from prometheus_client import Counter

    from stream.metrics import Metrics
    from stream.settings import Settings

log = logging.getLogger(__name__)

PACKAGE = "feedback-stream"
#: Bind addresses that mean "every interface": the URLs name the local host instead.
_WILDCARD_BINDS = ("0.0.0.0", "::", "")


def package_version() -> str:
    try:
        return version(PACKAGE)
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def urls(settings: Settings) -> dict[str, str | None]:
    """The worker's metrics and dashboard URLs (the dashboard's is None when it is off)."""
    host = "localhost" if settings.web_bind in _WILDCARD_BINDS else settings.web_bind
    if ":" in host:  # an IPv6 address
        host = f"[{host}]"
    base = f"http://{host}:{settings.web_port}"
    return {
        "metrics_url": f"{base}/metrics",
        "dashboard_url": f"{base}/dashboard" if settings.dashboard_enabled else None,
    }


def start_summary(
    settings: Settings, model_version: str | None, partitions: Iterable[int]
) -> tuple[str, dict[str, Any]]:
    """The start line's message and its fields."""
    fields: dict[str, Any] = {
        "event": "worker_started",
        "version": package_version(),
        "model_version": model_version,
        "input_topic": settings.input_topic,
        "output_topic": settings.output_topic,
        "dlq_topic": settings.dlq_topic,
        "group": settings.app_id,
        "partitions": sorted(partitions),
        **urls(settings),
    }
    dashboard = fields["dashboard_url"] or "off (DASHBOARD_ENABLED=false)"
    message = (
        f"{PACKAGE} {fields['version']} serving model {model_version}: "
        f"{settings.input_topic} -> {settings.output_topic} (dead letters: {settings.dlq_topic}), "
        f"group {settings.app_id}, partitions {_partitions(fields['partitions'])}; "
        f"metrics {fields['metrics_url']}, dashboard {dashboard}"
    )
    return message, fields


def stop_summary(
    messages_in: int, messages_out: int, messages_dlq: int, uptime_s: float
) -> tuple[str, dict[str, Any]]:
    """The stop line's message and its fields."""
    fields = {
        "event": "worker_stopped",
        "messages_in": messages_in,
        "messages_out": messages_out,
        "messages_dlq": messages_dlq,
        "uptime_s": round(uptime_s, 1),
    }
    message = (
        f"{PACKAGE} stopped after {_duration(uptime_s)}: {messages_in} messages in, "
        f"{messages_out} enriched out, {messages_dlq} dead-lettered"
    )
    return message, fields


@dataclass
class Announcer:
    """Writes the summaries of one worker app; `watch(app)` connects it to the app's signals.

    It reads the worker's `metrics` for the stop line's counts, `serving_version()` for the
    model in the start line, and `up_since` (Unix time) for the uptime.
    """

    settings: Settings
    metrics: Metrics
    serving_version: Callable[[], str | None]
    up_since: float = field(default_factory=time.time)
    started: bool = False
    partitions: list[int] = field(default_factory=list)

    def watch(self, app: faust.App) -> None:
        app.on_partitions_assigned.connect(self._assigned, sender=app)
        app.on_before_shutdown.connect(self._stopping, sender=app)

    def assigned(self, assigned: Set[Any]) -> None:
        """Partitions (TopicPartitions) were assigned: the start line, or what changed."""
        partitions = sorted(
            tp.partition for tp in assigned if tp.topic == self.settings.input_topic
        )
        if not self.started:
            self.started = True
            logs.started()  # from now on, the coordinator's start-up lines are news
            message, fields = start_summary(self.settings, self.serving_version(), partitions)
            log.info(message, extra=fields)
        elif partitions != self.partitions:
            log.info(
                "now holding partitions %s of %s",
                _partitions(partitions),
                self.settings.input_topic,
                extra={"event": "partitions_assigned", "partitions": partitions},
            )
        self.partitions = partitions

    def stopping(self) -> None:
        metrics = self.metrics
        message, fields = stop_summary(
            _total(metrics.messages_in),
            _total(metrics.messages_out),
            _total(metrics.messages_dlq),
            time.time() - self.up_since,
        )
        log.info(message, extra=fields)

    async def _assigned(self, app: faust.App, assigned: Set[Any], **_: Any) -> None:
        self.assigned(assigned)

    async def _stopping(self, app: faust.App, **_: Any) -> None:
        self.stopping()


def announce(
    app: faust.App,
    settings: Settings,
    metrics: Metrics,
    serving_version: Callable[[], str | None],
    up_since: float,
) -> Announcer:
    """Log the worker's start and stop summaries (see the module docstring)."""
    announcer = Announcer(settings, metrics, serving_version, up_since)
    announcer.watch(app)
    return announcer


def _total(counter: Counter) -> int:
    """A counter's value summed over all its labels."""
    return int(
        sum(
            sample.value
            for family in counter.collect()
            for sample in family.samples
            if sample.name.endswith("_total")
        )
    )


def _partitions(partitions: list[int]) -> str:
    return ",".join(map(str, partitions)) if partitions else "none"


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes}m {secs}s"
    return f"{minutes}m {secs}s" if minutes else f"{secs}s"
