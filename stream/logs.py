"""Logging: one JSON object per line for machines, or a human line for the terminal.

`LOG_FORMAT=json|text` picks the format, `LOG_LEVEL` the level. `configure(settings)`
sets up the root logger at once (the CLI calls it first thing) and returns the same
configuration as a `logging.config.dictConfig` dict, which the worker hands to Faust
(`faust.Worker(..., logging_config=...)`): Faust (mode) clears the root handlers when the
worker starts and applies that dict, so its own log lines follow the switch too.

Secrets never reach the output: every formatter masks the values of the settings'
secret fields (`SecretStr`, e.g. `KAFKA_SASL_PASSWORD`) and anything that looks like
`password=...` / `"sasl_plain_password": "..."`, in messages, extra fields and tracebacks.
"""

from __future__ import annotations

import logging
import logging.config
import re
import threading
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from stream.settings import Settings

MASK = "********"
FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"

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
    return redact(repr(value))


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
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "formatter": "feedback",
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
