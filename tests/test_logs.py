"""Readable logs without a broker: repeats throttled, expected noise lowered, the summaries."""

from __future__ import annotations

import io
import json
import logging
import time
from typing import NamedTuple

import pytest

from stream import logs
from stream.lifecycle import Announcer, package_version
from stream.metrics import Metrics
from stream.settings import Settings


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def record(
    msg: str, *args: object, name: str = "aiokafka", level: int = logging.ERROR
) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, msg, args or None, None)


def handler(clock: Clock, fmt: str = "text", level: int = logging.INFO) -> logs.ReadableHandler:
    out = logs.ReadableHandler(io.StringIO(), interval_s=10, clock=clock)
    out.setFormatter(logs.JsonFormatter() if fmt == "json" else logs.TextFormatter("%(message)s"))
    out.addFilter(logs.ExpectedNoise())
    out.setLevel(level)
    return out


def lines(out: logs.ReadableHandler) -> list[str]:
    return out.stream.getvalue().splitlines()


# --- what counts as the same line ------------------------------------------------------------
def test_a_kind_survives_changing_numbers_and_addresses() -> None:
    same = [
        record('Unable connect to "%s:%s": %s', "127.0.0.1", 29001, "Connect call failed"),
        record('Unable connect to "%s:%s": %s', "10.0.0.7", 9092, "[Errno 111] refused"),
        # Preformatted messages (no arguments): the numbers in the text are blanked.
        record("Connection at 127.0.0.1:29001 closed (node 1)"),
        record("Connection at 10.20.30.40:9092 closed (node 17)"),
        record("[^--Consumer]: member aiokafka-0.14.0-8c5e4f0e left generation 12"),
        record("[^--Consumer]: member aiokafka-0.14.0-0a9b3c2d left generation 13"),
        record("<Task pending coro=<run() at 0x7f3a1c2b>> failed"),
        record("<Task pending coro=<run() at 0x55aa00ff>> failed"),
    ]
    kinds = [logs.kind_of(r) for r in same]
    assert kinds[0] == kinds[1]
    assert kinds[2] == kinds[3]
    assert kinds[4] == kinds[5]
    assert kinds[6] == kinds[7]
    assert len(set(kinds)) == 4


def test_other_logger_level_or_words_make_another_kind() -> None:
    base = record("Failed fetch messages from %s: %s", 1, "timeout")
    others = [
        record("Failed fetch messages from %s: %s", 1, "timeout", name="aiokafka.consumer"),
        record("Failed fetch messages from %s: %s", 1, "timeout", level=logging.WARNING),
        record("Failed fetch offsets from %s: %s", 1, "timeout"),
    ]
    assert all(logs.kind_of(o) != logs.kind_of(base) for o in others)


# --- throttling --------------------------------------------------------------------------------
def test_a_burst_is_one_line_then_one_per_interval_with_the_count() -> None:
    clock = Clock()
    out = handler(clock)
    # 80 errors a second for 25 s, naming changing nodes and addresses.
    for i in range(2000):
        clock.now = 1000 + i / 80
        out.handle(record('Unable connect to "%s:%s": %s', f"10.0.0.{i % 3}", 9092 + i % 2, "x"))
    written = lines(out)
    assert written[0] == 'Unable connect to "10.0.0.0:9092": x'  # the first at once, as is
    assert len(written) == 3  # then one at 10 s and one at 20 s
    assert written[1].endswith("(repeated 800 times in the last 10 s)")
    assert written[2].endswith("(repeated 800 times in the last 10 s)")
    # The 399 after the last line are written when the handler closes (worker stops).
    clock.now += 0.1
    out.close()
    written = lines(out)
    assert len(written) == 4 and written[3].endswith("(repeated 399 times in the last 5 s)")


def test_held_back_count_comes_out_with_the_next_line_of_any_kind() -> None:
    clock = Clock()
    out = handler(clock)
    for i in range(50):  # the broker is away for 5 s ...
        clock.now = 1000 + i * 0.1
        out.handle(record("Unable connect to node with id %s: %s", 1, f"attempt {i}"))
    clock.now = 1030  # ... and back: the next line of another kind brings the count out
    out.handle(record("[^Worker]: Ready", name="faust.worker", level=logging.INFO))
    assert lines(out) == [
        "Unable connect to node with id 1: attempt 0",
        "Unable connect to node with id 1: attempt 49 (repeated 49 times in the last 30 s)",
        "[^Worker]: Ready",
    ]
    clock.now = 1041  # a kind quiet for an interval is new again: written at once
    out.handle(record("Unable connect to node with id %s: %s", 1, "again"))
    assert lines(out)[-1] == "Unable connect to node with id 1: again"


def test_distinct_lines_are_never_held_back() -> None:
    clock = Clock()
    out = handler(clock)
    messages = ["Heartbeat failed", "Unable to update metadata from {1}", "Failed fetch offsets"]
    for message in messages:
        out.handle(record(message))
    assert lines(out) == messages


def test_a_single_held_back_line_is_written_as_it_was() -> None:
    clock = Clock()
    out = handler(clock)
    out.handle(record("Heartbeat failed: %s", "timeout"))
    clock.now += 1
    out.handle(record("Heartbeat failed: %s", "closed"))
    out.close()
    assert lines(out) == ["Heartbeat failed: timeout", "Heartbeat failed: closed"]


def test_info_and_debug_lines_are_not_throttled() -> None:
    clock = Clock()
    out = handler(clock, level=logging.DEBUG)
    for i in range(20):
        out.handle(record("Sending request %s", i, level=logging.DEBUG))
        out.handle(record("[^---Fetcher]: Stopping...", level=logging.INFO))
    assert len(lines(out)) == 40


# --- expected noise ----------------------------------------------------------------------------
COORDINATOR = "aiokafka.consumer.group_coordinator"


def noise_handler(level: int, started: bool) -> logs.ReadableHandler:
    out = logs.ReadableHandler(io.StringIO(), interval_s=10, clock=Clock())
    out.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    out.addFilter(logs.ExpectedNoise(is_started=lambda: started))
    out.setLevel(level)
    return out


def coordinator_noise(out: logs.ReadableHandler) -> None:
    out.handle(
        record(
            "Group Coordinator Request failed: %s",
            "[Error 15] GroupCoordinatorNotAvailableError",
            name=COORDINATOR,
        )
    )
    out.handle(
        record(
            "Marking the coordinator dead (node %s)for group %s.",
            1,
            "feedback-enricher",
            name=COORDINATOR,
            level=logging.WARNING,
        )
    )


def test_coordinator_lines_of_a_first_start_are_debug() -> None:
    quiet = noise_handler(logging.INFO, started=False)
    coordinator_noise(quiet)
    assert lines(quiet) == []
    verbose = noise_handler(logging.DEBUG, started=False)  # LOG_LEVEL=debug still shows them
    coordinator_noise(verbose)
    assert lines(verbose) == [
        "DEBUG Group Coordinator Request failed: [Error 15] GroupCoordinatorNotAvailableError",
        "DEBUG Marking the coordinator dead (node 1)for group feedback-enricher.",
    ]


def test_the_same_lines_are_news_once_the_worker_runs() -> None:
    running = noise_handler(logging.INFO, started=True)
    coordinator_noise(running)
    assert [line.split()[0] for line in lines(running)] == ["ERROR", "WARNING"]


def test_only_the_named_logger_and_message_are_lowered() -> None:
    out = noise_handler(logging.INFO, started=False)
    # The same words from another logger, and another error from the coordinator, are kept.
    out.handle(record("Group Coordinator Request failed: [Error 15] GroupCoordinatorNotAvailable"))
    out.handle(
        record(
            "Group Coordinator Request failed: %s",
            "[Error 29] GroupAuthorizationFailedError",
            name=COORDINATOR,
        )
    )
    assert [line.split()[0] for line in lines(out)] == ["ERROR", "ERROR"]


def test_json_lines_carry_the_count_as_fields() -> None:
    clock = Clock()
    out = handler(clock, fmt="json")
    for i in range(11):
        clock.now = 1000 + i
        out.handle(record("Heartbeat failed: %r", ConnectionError(f"node {i}")))
    first, counted = (json.loads(line) for line in lines(out))
    assert "repeated" not in first
    assert counted["repeated"] == 10 and counted["within_s"] == 10
    assert counted["level"] == "error" and counted["logger"] == "aiokafka"
    assert counted["message"].endswith("(repeated 10 times in the last 10 s)")


def test_configure_installs_the_throttle(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        logs.configure(Settings(_env_file=None, log_format="text", log_level="info"))
        for port in range(30000, 30100):
            logging.getLogger("aiokafka.conn").error("Connect call failed ('127.0.0.1', %d)", port)
        written = capsys.readouterr().err.splitlines()
        assert len(written) == 1 and "Connect call failed ('127.0.0.1', 30000)" in written[0]
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])


# --- the start and stop summaries ------------------------------------------------------------
class TP(NamedTuple):
    topic: str
    partition: int


def summaries(fmt: str, **settings: object) -> tuple[Announcer, logs.ReadableHandler]:
    out = handler(Clock(), fmt=fmt)
    logger = logging.getLogger("stream.lifecycle")
    logger.addHandler(out)
    logger.setLevel(logging.INFO)
    defaults = {
        "input_topic": "feedback",
        "output_topic": "feedback.enriched",
        "dlq_topic": "feedback.dlq",
        "app_id": "feedback-enricher",
        "web_bind": "127.0.0.1",
        "web_port": 6066,
        "dashboard_enabled": True,
    }
    announcer = Announcer(
        Settings(_env_file=None, **{**defaults, **settings}),
        Metrics(),
        serving_version=lambda: "v3",
        up_since=time.time() - 125,
    )
    return announcer, out


@pytest.fixture
def lifecycle_logger():
    logger = logging.getLogger("stream.lifecycle")
    saved = (logger.handlers[:], logger.level, logger.propagate)
    logger.propagate = False
    yield
    logger.handlers[:], level, logger.propagate = saved
    logger.setLevel(level)


def test_start_and_stop_summaries_as_text(lifecycle_logger) -> None:
    announcer, out = summaries("text", web_port=6070, app_id="enricher")
    announcer.assigned({TP("feedback", 2), TP("feedback", 0), TP("feedback.models", 0)})
    announcer.assigned({TP("feedback", 2), TP("feedback", 0)})  # same partitions: no line
    announcer.assigned({TP("feedback", 1)})  # a rebalance: a short line
    metrics = announcer.metrics
    metrics.messages_in.labels("feedback").inc(12)
    metrics.messages_out.inc(10)
    metrics.messages_dlq.labels("invalid_json").inc(1)
    metrics.messages_dlq.labels("missing_text").inc(1)
    announcer.stopping()
    started, moved, stopped = lines(out)
    assert started == (
        f"feedback-stream {package_version()} serving model v3: feedback -> feedback.enriched "
        "(dead letters: feedback.dlq), group enricher, partitions 0,2; "
        "metrics http://127.0.0.1:6070/metrics, dashboard http://127.0.0.1:6070/dashboard"
    )
    assert moved == "now holding partitions 1 of feedback"
    assert stopped == (
        "feedback-stream stopped after 2m 5s: 12 messages in, 10 enriched out, 2 dead-lettered"
    )


def test_start_and_stop_summaries_as_json_fields(lifecycle_logger) -> None:
    announcer, out = summaries(
        "json", web_bind="0.0.0.0", dashboard_enabled=False, input_topic="in", dlq_topic="dead"
    )
    announcer.assigned(set())
    announcer.stopping()
    started, stopped = (json.loads(line) for line in lines(out))
    assert started["event"] == "worker_started" and started["level"] == "info"
    assert started["partitions"] == [] and "partitions none" in started["message"]
    assert started["model_version"] == "v3" and started["version"] == package_version()
    assert (started["input_topic"], started["dlq_topic"], started["group"]) == (
        "in",
        "dead",
        "feedback-enricher",
    )
    assert started["metrics_url"] == "http://localhost:6066/metrics"
    assert started["dashboard_url"] is None and "dashboard off" in started["message"]
    assert stopped["event"] == "worker_stopped"
    assert (stopped["messages_in"], stopped["messages_out"], stopped["messages_dlq"]) == (0, 0, 0)
    assert 124 <= stopped["uptime_s"] <= 130


def test_kinds_of_one_library_are_summed_up_in_one_line() -> None:
    clock = Clock()
    out = handler(clock, fmt="json")
    # The broker goes away: four kinds of aiokafka error, 40 a second, for 25 s.
    kinds = [
        ("aiokafka", "Unable connect to node with id %s: %s", (1, "Connect call failed")),
        ("aiokafka", "Unable to update metadata from %s", ([1],)),
        ("aiokafka.consumer.fetcher", "Failed fetch messages from %s: %s", (1, "NodeNotReady")),
        ("aiokafka.consumer.group_coordinator", "Heartbeat failed: %s", ("NodeNotReady",)),
    ]
    for i in range(1000):
        clock.now = 1000 + i / 40
        name, msg, args = kinds[i % 4] if i < 500 else kinds[i % 2]  # two kinds stop at 12.5 s
        out.handle(record(msg, *args, name=name))
    clock.now = 1030
    out.close()
    entries = [json.loads(line) for line in lines(out)]
    assert [e["message"] for e in entries[:4]] == [
        "Unable connect to node with id 1: Connect call failed",
        "Unable to update metadata from [1]",
        "Failed fetch messages from 1: NodeNotReady",
        "Heartbeat failed: NodeNotReady",
    ]
    summaries = entries[4:]
    assert len(summaries) == 3  # at 10 s, at 20 s, and what was held back when it closed
    first = summaries[0]
    assert first["logger"] == "aiokafka" and first["level"] == "error"
    assert first["message"].startswith(
        "repeated in the last 10 s: 100x Unable connect to node with id 1: Connect call failed; "
    )
    assert [r["count"] for r in first["repeats"]] == [100, 99, 99, 99]
    assert first["repeated"] == 397 and first["within_s"] == 10
    # Only the two kinds that kept failing after 12.5 s are in the last line.
    assert len(summaries[1]["repeats"]) == 4
    assert {r["message"] for r in summaries[2]["repeats"]} == {
        "Unable connect to node with id 1: Connect call failed",
        "Unable to update metadata from [1]",
    }
    assert sum(e.get("repeated", 1) for e in entries) == 1000  # every line counted once


def test_libraries_and_levels_are_summed_up_apart() -> None:
    clock = Clock()
    out = handler(clock)
    for i in range(100):
        clock.now = 1000 + i / 5
        out.handle(record("Unable connect to node with id %s", 1, name="aiokafka"))
        out.handle(record("Marking the coordinator dead", name="aiokafka", level=logging.WARNING))
        out.handle(record("[^--Consumer]: Slow processing", name="faust.consumer"))
    written = lines(out)
    assert len(written) == 3 + 3 * 1  # each first line, then one line per family at 10 s
    assert sorted(written[3:]) == [
        "Marking the coordinator dead (repeated 49 times in the last 10 s)",
        "Unable connect to node with id 1 (repeated 50 times in the last 10 s)",
        "[^--Consumer]: Slow processing (repeated 49 times in the last 10 s)",
    ]
