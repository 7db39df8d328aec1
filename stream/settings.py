"""The one settings object, read from the environment (and an optional `.env` file).

Nothing else in the project reads `os.environ` for configuration: the CLI builds a
`Settings` and passes it down. Every field has a default that works on a laptop with
the local broker (`feedback broker start`).
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

#: The port of a bootstrap server given without one (`kafka` means `kafka:9092`).
DEFAULT_KAFKA_PORT = 9092

LOG_LEVELS = ("debug", "info", "warning", "error")


class UserError(Exception):
    """A mistake the user can fix: the CLI prints the message as one line and exits 2.

    The message names the setting or file at fault and says what to do about it.
    """


def _default_home() -> Path:
    return Path.home() / ".cache" / "feedback"


def parse_bootstrap(servers: str) -> list[tuple[str, int]]:
    """`host[:port],...` as (host, port) pairs; a host without a port means 9092.

    Raises ValueError with the fix for lists that cannot be meant: separators other than
    commas, a URL scheme, a port that is not a port, an empty list.
    """
    addresses = []
    for entry in (e.strip() for e in servers.split(",")):
        if not entry:
            continue
        if ";" in entry or any(c.isspace() for c in entry):
            raise ValueError("use commas between brokers (host1:9092,host2:9092)")
        if "://" in entry:
            raise ValueError(f"write {entry!r} as host:port, without a scheme")
        if entry.startswith("["):  # [IPv6]:port
            host, _, rest = entry[1:].partition("]")
            port = rest.removeprefix(":") if rest.startswith(":") else rest or None
        elif entry.count(":") > 1:
            raise ValueError(f"write the IPv6 address {entry!r} as [address]:port")
        else:
            host, sep, port = entry.partition(":")
            port = port if sep else None
        if not host:
            raise ValueError(f"{entry!r} has no host name")
        if port is None:
            addresses.append((host, DEFAULT_KAFKA_PORT))
        elif port.isdigit() and 0 < int(port) < 65536:
            addresses.append((host, int(port)))
        else:
            raise ValueError(f"{entry!r}: the port must be a number from 1 to 65535")
    if not addresses:
        raise ValueError("no broker given: set it to host:port (e.g. 127.0.0.1:9092)")
    return addresses


def bootstrap_list(servers: str) -> list[str]:
    """`host[:port],...` as `host:port` strings (ports filled in); ValueError as above."""
    return [
        f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        for host, port in parse_bootstrap(servers)
    ]


class Settings(BaseSettings):
    """Configuration of the worker, the offline enricher and the demo."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    # --- Kafka connection -------------------------------------------------------------
    kafka_bootstrap_servers: str = Field(
        "127.0.0.1:9092",
        description="Comma-separated host:port list of Kafka brokers (port 9092 if left out).",
    )
    kafka_connect_timeout_s: float = Field(
        10,
        gt=0,
        le=600,
        description="How long commands wait at start for a Kafka broker to answer, in seconds.",
    )
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", description="How clients talk to the brokers."
    )
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = Field(
        "PLAIN", description="SASL mechanism when the protocol is SASL_*."
    )
    kafka_sasl_username: str | None = Field(None, description="SASL user name.")
    kafka_sasl_password: SecretStr | None = Field(None, description="SASL password (secret).")
    kafka_ssl_cafile: Path | None = Field(
        None,
        description="CA bundle (PEM) to verify the brokers; empty: the system trust store.",
    )

    # --- Topics ------------------------------------------------------------------------
    input_topic: str = Field("feedback", description="Raw feedback (JSON objects).")
    output_topic: str = Field("feedback.enriched", description="Enriched records.")
    dlq_topic: str = Field("feedback.dlq", description="Dead letters: bad input with the reason.")
    labels_topic: str = Field("feedback.labels", description="Human labels for retraining.")
    models_topic: str = Field(
        "feedback.models", description="Model announcements (promotions, rollbacks)."
    )
    topic_partitions: int = Field(
        4, ge=1, description="Partitions used when the worker creates missing topics."
    )
    topic_replication: int = Field(
        1, ge=1, description="Replication factor used when the worker creates missing topics."
    )

    # --- Input and output records ---------------------------------------------------------
    text_field: str = Field(
        "text",
        min_length=1,
        description="Where the text is in an input object: a field name or a dotted path "
        "(`review.text`).",
    )
    id_field: str = Field(
        "id", min_length=1, description="Where the id is in an input object (a dotted path)."
    )
    id_from_key: bool = Field(
        True, description="Use the Kafka key (UTF-8) as the id when the input has none."
    )
    enrichment_field: str = Field(
        "enrichment",
        min_length=1,
        description="The output record's key that holds the enrichment, next to the input's "
        "own fields (which are never changed).",
    )

    # --- Worker ------------------------------------------------------------------------
    app_id: str = Field(
        "feedback-enricher", description="Faust app id, which is also the consumer group."
    )
    auto_offset_reset: Literal["earliest", "latest"] = Field(
        "earliest",
        description="Where a consumer group without committed offsets (a new APP_ID) starts: "
        "`earliest` enriches every message still in the topic, `latest` only new ones.",
    )
    batch_max: int = Field(
        256, ge=1, description="Most messages per batch (`stream.take`); tuned by `feedback bench`."
    )
    batch_within_s: float = Field(
        0.01, gt=0, description="Longest wait to fill a batch, in seconds (tuned likewise)."
    )
    max_text_chars: int = Field(
        5000,
        ge=1,
        description="Longer texts are truncated to this (what the model analyses) and "
        "flagged `truncated`.",
    )
    max_record_bytes: int = Field(
        900_000, ge=1024, description="Largest enriched record; bigger ones go to the DLQ."
    )
    dlq_payload_bytes: int = Field(
        65_536, ge=0, description="At most this much of a bad message is copied to the DLQ."
    )
    torch_threads: int = Field(1, ge=1, description="Threads torch and spaCy may use.")
    sentiment_model: Literal["fast", "accurate"] = Field(
        "fast",
        description="Sentiment tier: `fast` (hashed n-grams) or `accurate` (a fine-tuned "
        "MiniLM encoder: slower, more accurate; CUDA when torch sees a GPU). The worker, "
        "`enrich` and the trainer serve and train this tier's promoted model; with none in "
        "the store, its default is trained first. See the README's accuracy/speed table.",
    )
    uncertain_below: float | None = Field(
        None,
        ge=0,
        le=1,
        description="Sentiment below this confidence is flagged `uncertain` (default: the "
        "model's, from its training config's `[inference] uncertain_below`: 0.5 for the "
        "default model).",
    )
    web_port: int = Field(
        6066, ge=1, le=65535, description="Port of the worker's web server (Faust's WEB_PORT)."
    )
    web_bind: str = Field("127.0.0.1", description="Address the web server binds to.")
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "info", description="debug, info, warning or error (any case)."
    )
    log_format: Literal["text", "json"] = Field(
        "text",
        description="Log lines as `text` (for a terminal) or `json` (one object per line); "
        "Faust's own logs follow.",
    )
    dashboard_enabled: bool = Field(
        True,
        description="Serve the live view at `/dashboard` (it shows feedback texts: "
        "mind who can reach WEB_BIND).",
    )
    dashboard_window_s: int = Field(
        300, ge=10, le=3600, description="Sliding window of the live view, in seconds."
    )

    # --- Models ------------------------------------------------------------------------
    feedback_home: Path = Field(
        default_factory=_default_home,
        description="Cache for Kafka jars, broker state and (by default) models.",
    )
    model_store: Path | None = Field(
        None, description="Directory of versioned models (default: FEEDBACK_HOME/models)."
    )
    model_version: str | None = Field(
        None,
        description="Pin the worker to this model version (default: the promoted one, which "
        "follows promotions and rollbacks).",
        validation_alias=AliasChoices("model_version", "feedback_model_version"),
    )

    # --- Trainer -----------------------------------------------------------------------
    retrain_after_labels: int = Field(
        50, ge=1, description="Train a candidate once this many new labels have arrived."
    )
    retrain_interval_s: float = Field(
        0, ge=0, description="Also train on new labels every this many seconds (0: off)."
    )
    promotion_margin: float = Field(
        0.02,
        ge=0,
        le=1,
        description="A candidate is promoted unless a target metric is worse by more than this.",
    )
    promotion_tolerance: float = Field(
        0.05,
        ge=0,
        le=1,
        description="A candidate better on the team holdout by PROMOTION_MARGIN is promoted "
        "unless a target metric on EVAL_DATA is worse by more than this.",
    )
    labels_holdout: float = Field(
        0.2,
        ge=0,
        lt=1,
        description="Share of the labels (by a hash of the id) kept out of training: the team "
        "holdout that the promotion gate compares candidate and serving model on.",
    )
    eval_data: Path | None = Field(
        None, description="Fixed evaluation set (JSONL) for the promotion gate (default: dev set)."
    )
    trainer_config: Path | None = Field(
        None, description="Training config of the trainer's candidates (default: nlp/config.cfg)."
    )
    trainer_epochs: int | None = Field(
        None, ge=1, description="Epochs per retraining (default: the model config's)."
    )

    @field_validator("kafka_bootstrap_servers")
    @classmethod
    def _bootstrap_list(cls, value: str) -> str:
        return ",".join(bootstrap_list(value))

    @field_validator("kafka_ssl_cafile", "model_version", mode="before")
    @classmethod
    def _empty_means_unset(cls, value: object) -> object:
        """An empty KAFKA_SSL_CAFILE means the system's CAs; an empty MODEL_VERSION, none pinned."""
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("log_level", mode="before")
    @classmethod
    def _any_case(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @property
    def bootstrap_addresses(self) -> list[tuple[str, int]]:
        """KAFKA_BOOTSTRAP_SERVERS as (host, port) pairs."""
        return parse_bootstrap(self.kafka_bootstrap_servers)

    @property
    def bootstrap_servers(self) -> list[str]:
        """KAFKA_BOOTSTRAP_SERVERS as `host:port` strings, for the Kafka clients."""
        return bootstrap_list(self.kafka_bootstrap_servers)

    @property
    def model_dir(self) -> Path:
        """The model store actually used."""
        return self.model_store or self.feedback_home / "models"

    def kafka_client_options(self) -> dict[str, object]:
        """Security options in aiokafka's keyword names (empty for PLAINTEXT)."""
        options: dict[str, object] = {"security_protocol": self.kafka_security_protocol}
        if self.kafka_security_protocol.startswith("SASL"):
            options["sasl_mechanism"] = self.kafka_sasl_mechanism
            options["sasl_plain_username"] = self.kafka_sasl_username
            options["sasl_plain_password"] = (
                self.kafka_sasl_password.get_secret_value() if self.kafka_sasl_password else None
            )
        if self.kafka_security_protocol in ("SSL", "SASL_SSL"):
            options["ssl_context"] = self.ssl_context()
        return options

    def ssl_context(self) -> ssl.SSLContext:
        """A TLS context trusting KAFKA_SSL_CAFILE, else the system trust store.

        Raises UserError when the file is missing or holds no PEM certificate.
        """
        cafile = self.kafka_ssl_cafile
        fix = "point it at the brokers' CA bundle (PEM), or leave it empty for the system's CAs"
        if cafile is not None and not cafile.expanduser().is_file():
            raise UserError(f"KAFKA_SSL_CAFILE={cafile} is not a file: {fix}")
        try:
            return ssl.create_default_context(
                ssl.Purpose.SERVER_AUTH, cafile=str(cafile.expanduser()) if cafile else None
            )
        except (ssl.SSLError, OSError) as exc:
            raise UserError(
                f"KAFKA_SSL_CAFILE={cafile} holds no usable PEM certificate "
                f"({getattr(exc, 'reason', None) or exc}): {fix}"
            ) from None

    def masked(self) -> dict[str, object]:
        """The effective configuration as plain values, secrets masked."""
        values = self.model_dump(mode="json")
        values["model_store"] = str(self.model_dir)
        if self.kafka_sasl_password is not None:
            values["kafka_sasl_password"] = "********"
        return values


def settings_table() -> str:
    """The README's configuration table, generated from the fields above."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        if field.default_factory is not None:
            default = "~/.cache/feedback" if name == "feedback_home" else "(computed)"
        else:
            default = "" if field.default is None else str(field.default)
        rows.append(f"| `{name.upper()}` | `{default}` | {field.description} |")
    return "\n".join(rows)
