"""Logging: one JSON object per line for machines, or a human line for the terminal.

`LOG_FORMAT=json|text` picks the format, `LOG_LEVEL` the level. `configure(settings)`
sets up the root logger at once (the CLI calls it first thing) and returns the same
configuration as a `logging.config.dictConfig` dict, which the worker hands to Faust
(`faust.Worker(..., logging_config=...)`): Faust (mode) clears the root handlers when the
worker starts and applies that dict, so its own log lines follow the switch too.

Secrets never reach the output: every formatter masks the values of the settings'
secret fields (`SecretStr`, e.g. `KAFKA_SASL_PASSWORD`) and anything that looks like
`password=...` / `"sasl_plain_password": "..."`, in messages, extra fields and tracebacks.

The module is a little over 400 lines because `configure` installs everything a log line
passes through (masking, the formats, the throttle for repeated lines, the filter for known
noise) and each of those is read once, top to bottom, here.

A person must be able to read the log, so the one handler does two more things:

- Expected noise is lowered to DEBUG (`EXPECTED_NOISE`: exact logger plus message
  pattern, each with the reason it is harmless), e.g. the group coordinator that a new
  broker has not loaded yet when the worker first starts.
- Repeated warnings and errors are throttled (`Throttle`): the first line of a kind goes
  out at once, then at most one line per `REPEAT_INTERVAL_S` carrying the count, e.g.
  `Unable connect to node with id 1: ... (repeated 812 times in the last 10 s)`, or for
  several kinds of one library at once `repeated in the last 10 s: 370x Unable connect
  ...; 181x Unable to update metadata ...`. A kind is the logger, the level and the
  message with its numbers blanked, whichever address or node id it names: a broker that
  is away makes a few lines a minute instead of dozens a second.
"""

from __future__ import annotations

import logging
import logging.config
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from stream.settings import Settings

MASK = "********"
FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
#: Seconds between two lines of the same kind (the lines in between are counted).
REPEAT_INTERVAL_S = 10.0

#: key=value / "key": "value" pairs whose value is a secret, whatever the secret is.
_SECRET_PAIR = re.compile(
    r"""(?ix)
    (?P<key>["']?[\w.-]*(?:password|passwd|secret|token|api[_-]?key|credentials?)["']?)
    (?P<sep>\s*[:=]\s*(?:SecretStr\()?["']?)
    (?P<value>(?!\*{8})[^"'\s,;)}&]+)
    """
)

#: LogRecord attributes that are not "extra" fields.
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}

_secrets: set[str] = set()
_secrets_lock = threading.Lock()


def register_secret(value: str | None) -> None:
    """Mask this value wherever it would be logged."""
    if value:
        with _secrets_lock:
            _secrets.add(value)


def redact(text: str) -> str:
    """`text` with every registered secret and every `password=...`-like value masked."""
    for secret in sorted(_secrets, key=len, reverse=True):  # longest first: no partial leaks
        if secret in text:
            text = text.replace(secret, MASK)
    if _SECRET_PAIR.search(text):
        text = _SECRET_PAIR.sub(lambda m: f"{m['key']}{m['sep']}{MASK}", text)
    return text


class TextFormatter(logging.Formatter):
    """`2026-11-25 09:00:00,123 INFO    stream.app: message`, secrets masked."""

    def __init__(self, fmt: str = TEXT_FORMAT, **kwargs: Any) -> None:
        super().__init__(fmt, **kwargs)

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message, extras, exception; secrets masked."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact(_message(record)),
            "pid": record.process,
        }
        if record.threadName and record.threadName != "MainThread":
            entry["thread"] = record.threadName
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_") and key not in entry:
                entry[key] = _clean(value)
        if record.exc_info:
            entry["exc"] = redact(self.formatException(record.exc_info))
        if record.stack_info:
            entry["stack"] = redact(self.formatStack(record.stack_info))
        return orjson.dumps(entry, default=lambda v: redact(repr(v))).decode()


def _message(record: logging.LogRecord) -> str:
    try:
        return record.getMessage()
    except Exception:  # a bad format string must not lose the line
        return f"{record.msg!r} % {record.args!r}"


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    return redact(repr(value))


# --- expected noise -------------------------------------------------------------------------
@dataclass(frozen=True)
class Noise:
    """A line that is expected and harmless: lowered to DEBUG.

    With `starting`, only while the process starts (until `started()` is called): after
    that the same line is news.
    """

    logger: str
    pattern: re.Pattern[str]
    why: str
    starting: bool = False


#: Exact logger name and message pattern of each known harmless line, and why it is harmless.
EXPECTED_NOISE: tuple[Noise, ...] = (
    Noise(
        "aiokafka.consumer.group_coordinator",
        re.compile(r"^Group Coordinator Request failed: \[Error 15\] GroupCoordinatorNotAvailable"),
        "A new broker creates its __consumer_offsets topic when the first consumer group "
        "asks for a coordinator; the client asks again until the topic is ready (seconds).",
        starting=True,
    ),
    Noise(
        "aiokafka.consumer.group_coordinator",
        re.compile(r"^Marking the coordinator dead \(node \d+\) ?for group "),
        "The same wait, seen from JoinGroup: the coordinator answers 'not available' until "
        "its __consumer_offsets partition is loaded, and the client looks it up again.",
        starting=True,
    ),
)

_started = threading.Event()


def started() -> None:
    """The process is up (the worker holds its partitions): start-up noise is news from now."""
    _started.set()


class ExpectedNoise(logging.Filter):
    """Lowers the lines of `EXPECTED_NOISE` to DEBUG (`ReadableHandler` then drops them)."""

    def __init__(
        self,
        noise: tuple[Noise, ...] = EXPECTED_NOISE,
        is_started: Callable[[], bool] = _started.is_set,
    ) -> None:
        super().__init__()
        self.noise = noise
        self.is_started = is_started

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.DEBUG and self._expected(record):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return True

    def _expected(self, record: logging.LogRecord) -> bool:
        for noise in self.noise:
            if noise.logger == record.name and noise.pattern.search(_message(record)):
                return not (noise.starting and self.is_started())
        return False


# --- repeats ---------------------------------------------------------------------------------
#: What varies between lines of one kind: hex numbers, ids with digits, any run of digits.
_VARIABLE = re.compile(r"(?i)0x[0-9a-f]+|[0-9a-f]*\d[0-9a-f]*")
#: A kind is told apart by this many characters of its message at most.
_KIND_CHARS = 200


def kind_of(record: logging.LogRecord) -> tuple[str, int, str]:
    """What makes two records "the same line": logger, level and message, numbers blanked.

    The message template is used when the record has arguments (`"Unable connect to node
    with id %s: %s"`), else the message itself; either way with its numbers, addresses
    and ids blanked.
    """
    text = record.msg if isinstance(record.msg, str) and record.args else _message(record)
    return record.name, record.levelno, _VARIABLE.sub("#", text[: _KIND_CHARS * 2])[:_KIND_CHARS]


@dataclass
class _Seen:
    """One kind of line: when it was last written and what was held back since."""

    shown_at: float
    family: tuple[str, int]
    held: int = 0
    last: logging.LogRecord | None = None


class Throttle:
    """Lets the first record of a kind through, then at most one line per interval, with counts.

    `admit(record, now)` says which records to write now. A record whose kind was not seen
    in the last `interval_s` is written at once. Others are held back and counted; once a
    kind's interval is over, the lines held back of its whole family (the same library,
    e.g. `aiokafka.*`, at the same level) are summed up in one line: the broker going away
    makes several kinds of client error at once, and they are one story. Records below
    `min_level` always pass: a repeated INFO line is rare and usually means something.
    """

    #: Seconds between two looks for held-back lines whose interval is over.
    SWEEP_S = 1.0
    #: Characters of each held-back message quoted in a family's summary.
    QUOTED_CHARS = 160

    def __init__(
        self, interval_s: float = REPEAT_INTERVAL_S, *, min_level: int = logging.WARNING
    ) -> None:
        self.interval_s = interval_s
        self.min_level = min_level
        self._kinds: dict[tuple[str, int, str], _Seen] = {}
        self._swept_at = float("-inf")
        self._lock = threading.Lock()

    def admit(self, record: logging.LogRecord, now: float) -> list[logging.LogRecord]:
        with self._lock:
            if record.levelno < self.min_level:
                return [*self._sweep(now), record]
            kind = kind_of(record)
            seen = self._kinds.get(kind)
            if seen is None or (not seen.held and now - seen.shown_at >= self.interval_s):
                self._kinds[kind] = _Seen(now, _family(record))
                return [*self._sweep(now), record]
            seen.held += 1
            seen.last = record
            return self._sweep(now, force=now - seen.shown_at >= self.interval_s)

    def drain(self, now: float) -> list[logging.LogRecord]:
        """Every line still held back, summed up (at shutdown); forgets every kind."""
        with self._lock:
            families = {seen.family for seen in self._kinds.values() if seen.held}
            held = [self._summary(family, now) for family in sorted(families)]
            self._kinds.clear()
            return held

    def _sweep(self, now: float, *, force: bool = False) -> list[logging.LogRecord]:
        """Summaries of the families with a kind whose interval is over; quiet kinds forgotten."""
        if not force and now - self._swept_at < self.SWEEP_S:
            return []
        self._swept_at = now
        due = set()
        for kind, seen in list(self._kinds.items()):
            if now - seen.shown_at < self.interval_s:
                continue
            if seen.held:
                due.add(seen.family)
            else:
                del self._kinds[kind]
        return [self._summary(family, now) for family in sorted(due)]

    def _summary(self, family: tuple[str, int], now: float) -> logging.LogRecord:
        """One line for the lines of `family` held back; their kinds start a new interval."""
        members = sorted(
            (seen for seen in self._kinds.values() if seen.family == family and seen.held),
            key=lambda seen: -seen.held,
        )
        within = max(1, round(now - min(seen.shown_at for seen in members)))
        if len(members) == 1:
            [seen] = members
            summary = _counted(seen.last, seen.held, within)
        else:
            latest = max((seen.last for seen in members), key=lambda r: r.created)
            repeats = [
                {"count": seen.held, "message": _message(seen.last)[: self.QUOTED_CHARS]}
                for seen in members
            ]
            summary = logging.makeLogRecord(latest.__dict__)
            summary.name = family[0]
            summary.msg = f"repeated in the last {within} s: " + "; ".join(
                f"{r['count']}x {r['message']}" for r in repeats
            )
            summary.args = None
            summary.exc_info = summary.exc_text = summary.stack_info = None
            summary.repeated = sum(seen.held for seen in members)
            summary.within_s = within
            summary.repeats = repeats
        for seen in members:
            seen.shown_at, seen.held, seen.last = now, 0, None
        return summary


def _family(record: logging.LogRecord) -> tuple[str, int]:
    """The library a record comes from (its logger's first name) and its level."""
    return record.name.split(".", 1)[0], record.levelno


def _counted(record: logging.LogRecord, times: int, within_s: float) -> logging.LogRecord:
    """A copy of `record` saying how often its kind occurred (fields `repeated`, `within_s`)."""
    if times == 1:  # one line held back: it is written as it was, only later
        return record
    within = max(1, round(within_s))
    copy = logging.makeLogRecord(record.__dict__)
    copy.msg = f"{_message(record)} (repeated {times} times in the last {within} s)"
    copy.args = None
    copy.repeated = times
    copy.within_s = within
    return copy


class ReadableHandler(logging.StreamHandler):
    """The one log handler: its filters may lower a record's level (checked after them), and
    repeated lines are throttled (`Throttle`); counts still held back are written on close."""

    def __init__(
        self,
        stream: Any = None,
        interval_s: float = REPEAT_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(stream)
        self.throttle = Throttle(interval_s)
        self.clock = clock

    def handle(self, record: logging.LogRecord) -> bool:
        if not self.filter(record) or record.levelno < self.level:
            return False
        for admitted in self.throttle.admit(record, self.clock()):
            self._emit(admitted)
        return True

    def close(self) -> None:
        for held in self.throttle.drain(self.clock()):
            self._emit(held)
        super().close()

    def _emit(self, record: logging.LogRecord) -> None:
        with self.lock:
            self.emit(record)


def dict_config(settings: Settings) -> dict[str, Any]:
    """The logging configuration for these settings, as a `dictConfig` dict."""
    fmt = settings.log_format
    if fmt not in FORMATS:
        raise ValueError(f"LOG_FORMAT must be one of {FORMATS}, not {fmt!r}")
    level = settings.log_level.upper()
    formatter = JsonFormatter if fmt == "json" else TextFormatter
    return {
        "version": 1,
        # Loggers created at import time (stream.*, faust.*, aiokafka) must keep logging.
        "disable_existing_loggers": False,
        "formatters": {"feedback": {"()": f"{formatter.__module__}.{formatter.__qualname__}"}},
        "filters": {"expected_noise": {"()": f"{__name__}.{ExpectedNoise.__qualname__}"}},
        "handlers": {
            "default": {
                "class": f"{__name__}.{ReadableHandler.__qualname__}",
                "formatter": "feedback",
                "filters": ["expected_noise"],
                "stream": "ext://sys.stderr",
                "level": level,
            }
        },
        "root": {"level": level, "handlers": ["default"]},
    }


def secrets_of(settings: Settings) -> list[str]:
    """The values of the settings' secret fields."""
    values = []
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if hasattr(value, "get_secret_value"):
            values.append(value.get_secret_value())
    return [v for v in values if v]


def configure(settings: Settings) -> dict[str, Any]:
    """Set up the root logger for these settings; return the config for `faust.Worker`."""
    for secret in secrets_of(settings):
        register_secret(secret)
    logging.root.handlers.clear()
    logging.config.dictConfig(dict_config(settings))
    logging.captureWarnings(True)
    return dict_config(settings)  # a fresh copy: dictConfig consumes parts of the one it gets
