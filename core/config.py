"""One configuration model for ``binlog-producer``, ``binlog-applier`` and ``binlog-pipeline``.

Values are layered: defaults < TOML file (``--config``) < environment ``BINLOG_PIPELINE_<KEY>`` <
command-line flags. The result is a frozen, typed :class:`Settings`; unknown keys are errors, and
every error names the key, where its value came from and what is expected — never a secret.
"""

from __future__ import annotations

import difflib
import logging
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator

from binlog_pipeline.core.dburl import DatabaseUrl
from binlog_pipeline.core.errors import ConfigError

ENV_PREFIX = "BINLOG_PIPELINE_"
# Variables under this prefix belong to the local stack / tests, not to the processes' settings.
ENV_IGNORED_PREFIXES = (ENV_PREFIX + "STACK_",)
ENV_CONFIG_FILE = ENV_PREFIX + "CONFIG"
# 119 at most: prefix.db.table of two 64-character MySQL names then fits Kafka's 249.
_TOPIC_PREFIX_RE = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,118}$")


def _split_list(value: Any) -> Any:
    """Lists arrive as TOML arrays or as comma-separated strings (env, flags)."""
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


def _parse_url(value: Any) -> Any:
    if isinstance(value, str):
        return DatabaseUrl.parse(value)
    return value


def _parse_mapping(value: Any) -> Any:
    """Mappings arrive as TOML tables or as ``a=b,c=d`` strings (env, flags)."""
    if isinstance(value, str):
        pairs = [item.strip() for item in value.split(",") if item.strip()]
        result = {}
        for pair in pairs:
            key, sep, val = pair.partition("=")
            if not sep:
                raise ValueError(f"expected key=value pairs separated by commas, got {pair!r}")
            result[key.strip()] = val.strip()
        return result
    return value


UrlSetting = Annotated[DatabaseUrl | None, BeforeValidator(_parse_url)]
PatternList = Annotated[list[str], BeforeValidator(_split_list)]
StringMap = Annotated[dict[str, str], BeforeValidator(_parse_mapping)]


KAFKA_LOG = logging.getLogger("librdkafka")


class Settings(BaseModel):
    """Every setting, its default and its meaning. docs/configuration.md mirrors this list."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    # --- connections -------------------------------------------------------------------------
    source_url: UrlSetting = Field(None, description="Source MySQL/MariaDB (producer).")
    target_url: UrlSetting = Field(None, description="Target MySQL/MariaDB (applier).")
    bootstrap_servers: str = Field("127.0.0.1:9092", description="Kafka bootstrap servers.")
    kafka: StringMap = Field(
        default_factory=dict,
        description="Extra librdkafka settings passed through to every Kafka client "
        "(e.g. security.protocol, sasl.mechanism). The applier refuses group.instance.id.",
    )
    kafka_consumer: StringMap = Field(
        default_factory=dict,
        description="librdkafka settings for the applier's group consumer only "
        "(e.g. session.timeout.ms); on top of kafka.",
    )
    kafka_producer: StringMap = Field(
        default_factory=dict,
        description="librdkafka settings for producers only (the producer's transactional producer, "
        "the applier's dead-letter producer; e.g. linger.ms); on top of kafka.",
    )
    kafka_timeout_s: float = Field(
        30.0, gt=0, description="How long a Kafka metadata, admin or offset request waits for the broker."
    )
    # --- topics --------------------------------------------------------------------------------
    topic_prefix: str = Field(
        "binlog", description="Topics are {topic_prefix}.{db}.{table}; at most 119 characters."
    )
    topic_partitions: int = Field(
        1,
        ge=1,
        description="Partitions of new table topics. Above 1, rows are spread by primary key (a key "
        "change becomes a delete plus a create); rows of tables without a primary key or with a unique "
        "secondary key stay on partition 0; schema records go to every partition and DDL is applied "
        "once, when all have reached it.",
    )
    topic_replication_factor: int | None = Field(
        None, ge=1, description="Replication factor of new topics (unset: the broker's default)."
    )
    # --- producer ------------------------------------------------------------------------------
    server_id: int = Field(
        5301, ge=1, le=4294967295, description="Replica server id; unique among the source's replicas."
    )
    transactional_id: str | None = Field(
        None, description="Kafka transactional.id (unset: binlog-producer.{topic_prefix})."
    )
    start_position: str = Field(
        "end",
        description="Where a producer without a checkpoint starts: end | earliest | FILE:POS | gtid:SET "
        "(after the given GTID set; MariaDB 0-1-42 or MySQL uuid:1-42 form).",
    )
    include_tables: PatternList = Field(
        default_factory=list, description="db.table glob patterns to capture (empty: all)."
    )
    exclude_tables: PatternList = Field(
        default_factory=list, description="db.table glob patterns never captured."
    )
    exclude_columns: PatternList = Field(
        default_factory=list, description="db.table.column glob patterns left out of events."
    )
    snapshot_mode: Literal["initial", "never", "when_needed", "only"] = Field(
        "initial",
        description="initial: a producer without a checkpoint snapshots the captured tables, then streams; "
        "never: stream only; when_needed: like initial, and also when the checkpoint's binlog file is "
        "gone from the source; only: snapshot, then exit.",
    )
    snapshot_chunk_rows: int = Field(
        10_000, ge=1, description="Rows per snapshot chunk (one consistent read, one Kafka transaction)."
    )
    txn_max_rows: int = Field(5000, ge=1, description="Rows per Kafka transaction (soft bound).")
    txn_max_ms: int = Field(200, ge=1, description="Max time a Kafka transaction stays open.")
    heartbeat_interval_ms: int = Field(
        5000, ge=100, description="Checkpoint heartbeat while captured tables are idle."
    )
    # --- applier -------------------------------------------------------------------------------
    group_id: str = Field("binlog-applier", description="Applier consumer group.")
    batch_max_rows: int = Field(5000, ge=1, description="Rows per target transaction.")
    batch_max_bytes: int = Field(16 * 1024 * 1024, ge=1024, description="Bytes per batch.")
    batch_max_ms: int = Field(200, ge=1, description="Max time spent filling one batch.")
    checkpoint_table: str = Field(
        "binlog_pipeline.applier_checkpoint",
        description="db.table on the target holding (group, topic, partition, next_offset).",
    )
    create_missing_tables: bool = Field(
        True, description="Create a missing target table from the producer's CREATE TABLE."
    )
    routes: StringMap = Field(
        default_factory=dict,
        description="Rename on apply: 'srcdb=dstdb' or 'srcdb.table=dstdb.table' pairs.",
    )
    dead_letter_topic: str | None = Field(
        None, description="Permanent-error messages go here instead of stopping the applier."
    )
    # --- retries, observability ----------------------------------------------------------------
    retry_initial_backoff_ms: int = Field(200, ge=1, description="First retry delay.")
    retry_max_backoff_ms: int = Field(10_000, ge=1, description="Cap on one retry delay.")
    retry_deadline_s: float = Field(
        600.0, gt=0, description="Give up (exit non-zero) after retrying this long."
    )
    metrics_port: int | None = Field(
        None,
        ge=0,
        le=65535,
        description="Serve Prometheus /metrics, /healthz, /readyz on this port (unset: off; 0: any free port, logged).",
    )
    metrics_host: str = Field("0.0.0.0", description="Address the metrics/health endpoints listen on.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO")
    log_format: Literal["text", "json"] = Field("text")

    @field_validator("topic_prefix")
    @classmethod
    def _topic_prefix_is_a_topic_name(cls, value: str) -> str:
        if not _TOPIC_PREFIX_RE.match(value):
            raise ValueError(
                "expected letters, digits, '.', '_' or '-', at most 119 of them (a Kafka topic name "
                "with room for .database.table)"
            )
        return value

    @field_validator("checkpoint_table")
    @classmethod
    def _checkpoint_table_is_qualified(cls, value: str) -> str:
        if value.count(".") != 1 or not all(value.split(".")):
            raise ValueError("expected database.table")
        return value

    @field_validator("start_position")
    @classmethod
    def _start_position_is_known(cls, value: str) -> str:
        if value in ("end", "earliest") or re.fullmatch(r"[^:\s]+:\d+", value):
            return value
        if value.startswith("gtid:") and len(value) > 5:
            return value
        raise ValueError("expected 'end', 'earliest', FILE:POS such as mysql-bin.000003:4, or gtid:SET")

    def effective_transactional_id(self) -> str:
        return self.transactional_id or f"binlog-producer.{self.topic_prefix}"

    def require(self, *keys: str) -> None:
        """Raise a :class:`ConfigError` for the first of ``keys`` that is unset."""
        for key in keys:
            if getattr(self, key) is None:
                raise ConfigError(
                    f"{key} is required: set it in the config file, as "
                    f"{env_var(key)} or with --{key.replace('_', '-')}"
                )

    def librdkafka(self, **overrides: Any) -> dict[str, Any]:
        """The one conversion into librdkafka settings: bootstrap servers, user pass-through
        (``kafka`` table), then the caller's settings, which the pipeline's guarantees need."""
        # librdkafka's own log lines go through Python logging (text or JSON like ours), not raw stderr.
        conf: dict[str, Any] = {"bootstrap.servers": self.bootstrap_servers, "logger": KAFKA_LOG}
        conf.update(self.kafka)
        conf.update(overrides)
        return conf

    def consumer_librdkafka(self, **overrides: Any) -> dict[str, Any]:
        """For the applier's group consumer: ``kafka`` plus ``kafka_consumer``. Consumer-only
        settings kept out of producers, which would warn (CONFWARN) about each on every start."""
        return self.librdkafka(**{**self.kafka_consumer, **overrides})

    def producer_librdkafka(self, **overrides: Any) -> dict[str, Any]:
        """For producers: ``kafka`` plus ``kafka_producer``."""
        return self.librdkafka(**{**self.kafka_producer, **overrides})


FIELDS = tuple(Settings.model_fields)
# BINLOG_PIPELINE_<KEY>_FILE=/run/secrets/x reads <key>'s value from that file: secrets stay out
# of argv, the environment listing and the config file.
SECRET_FILE_SUFFIX = "_file"
# Pass-through maps merge entry by entry across file, environment and flags (others: later wins).
MERGED_MAPPINGS = ("kafka", "kafka_consumer", "kafka_producer")


def env_var(key: str) -> str:
    return ENV_PREFIX + key.upper()


def flag_name(key: str) -> str:
    return "--" + key.replace("_", "-")


def load_settings(
    config_file: Path | None = None,
    env: Mapping[str, str] | None = None,
    flags: Mapping[str, Any] | None = None,
) -> Settings:
    """Build the frozen settings from file, environment and flags (later wins).

    ``flags`` holds only flags the user gave (``None`` values are ignored). Raises
    :class:`ConfigError` naming the key, the origin of its value and what is expected.
    """
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    origins: dict[str, str] = {}

    def put(key: str, value: Any, origin: str) -> None:
        if key in MERGED_MAPPINGS and key in values:
            try:  # per entry: a secret file's sasl.password joins the config file's [kafka] table
                value = {**_parse_mapping(values[key]), **_parse_mapping(value)}
                origin = f"{origins[key]} and {origin}"
            except ValueError:
                pass  # left as given: validation names the bad value's origin
        values[key] = value
        origins[key] = origin

    if config_file is None and env.get(ENV_CONFIG_FILE):
        config_file = Path(env[ENV_CONFIG_FILE])
    if config_file is not None:
        for key, value in _read_toml(config_file).items():
            put(key, value, f"config file {config_file}")

    for name, value in env.items():
        if not name.startswith(ENV_PREFIX) or name == ENV_CONFIG_FILE:
            continue
        if name.startswith(ENV_IGNORED_PREFIXES):
            continue
        key = name[len(ENV_PREFIX) :].lower()
        if (
            key not in FIELDS
            and key.endswith(SECRET_FILE_SUFFIX)
            and key.removesuffix(SECRET_FILE_SUFFIX) in FIELDS
        ):
            key = key.removesuffix(SECRET_FILE_SUFFIX)
            if env_var(key) in env:
                raise ConfigError(f"set {env_var(key)} or {name}, not both")
            put(key, _read_secret(name, value), f"file {value} (from {name})")
            continue
        if key not in FIELDS:
            raise ConfigError(f"unknown environment variable {name}{_did_you_mean(key, env_var)}")
        put(key, value, f"environment variable {name}")

    for key, value in (flags or {}).items():
        if value is None:
            continue
        put(key, value, f"flag {flag_name(key)}")

    try:
        return Settings(**values)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, origins)) from None


def _read_secret(variable: str, path: str) -> str:
    """A value kept in a file (a Docker or Kubernetes secret): its text, without the trailing
    newline editors and ``echo`` add."""
    try:
        return Path(path).read_text().rstrip("\r\n")
    except OSError as exc:
        raise ConfigError(f"{variable}: cannot read {path}: {exc.strerror}") from None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc.strerror}") from None


def _did_you_mean(key: str, render: Any) -> str:
    close = difflib.get_close_matches(key, FIELDS, n=1)
    return f" (did you mean {render(close[0])}?)" if close else ""


def _describe(exc: ValidationError, origins: Mapping[str, str]) -> str:
    lines = []
    for error in exc.errors(include_url=False, include_input=False):
        key = str(error["loc"][0]) if error["loc"] else "?"
        origin = origins.get(key, "default")
        if error["type"] == "extra_forbidden":
            lines.append(f"unknown setting {key!r} in {origin}{_did_you_mean(key, repr)}")
            continue
        message = str(error["msg"]).removeprefix("Value error, ")
        # Values are never echoed: the origin says where to look, and a value may be a secret.
        lines.append(f"invalid {key} (from {origin}): {message}")
    return "; ".join(lines)
