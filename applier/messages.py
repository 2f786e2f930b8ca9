"""What the applier consumes: decoded table-topic messages with their Kafka coordinates."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

from binlog_pipeline.schemas.codec import Decoded, DecodeError
from binlog_pipeline.schemas.columns import ColumnSpec
from binlog_pipeline.schemas.ddl_session import DdlSession


class Coordinates(NamedTuple):
    """Where a message is. A named tuple, not a frozen dataclass: one is made per message, and a
    frozen dataclass's ``__init__`` costs twice as much."""

    topic: str
    partition: int
    offset: int

    def __str__(self) -> str:
        return f"{self.topic}[{self.partition}]@{self.offset}"

    def log_fields(self) -> dict[str, Any]:
        """``extra=`` for a log line about this message: separate fields in JSON logs."""
        return {"topic": self.topic, "partition": self.partition, "offset": self.offset}


@dataclass(slots=True)
class RowChange:
    """One row change. Never changed once decoded — but not a frozen dataclass: one is made per
    message, and a frozen ``__init__`` (an ``object.__setattr__`` per field) cost ~1.2 µs of it."""

    where: Coordinates
    database: str
    table: str
    op: str  # c / u / d / r
    before: dict[str, Any] | None  # original column names → Avro values
    after: dict[str, Any] | None
    columns: tuple[ColumnSpec, ...]
    primary_key: tuple[str, ...]
    size: int
    raw: bytes = field(default=b"", repr=False, compare=False)
    source_ts: int = 0  # source event time, whole seconds

    def key(self, image: dict[str, Any] | None = None) -> tuple[Any, ...]:
        row = image if image is not None else (self.after if self.after is not None else self.before)
        assert row is not None
        if self.primary_key:
            if len(self.primary_key) == 1:  # the usual case, on the per-row path (coalesce)
                return (row[self.primary_key[0]],)
            return tuple([row[name] for name in self.primary_key])
        return tuple([row[spec.name] for spec in self.columns])

    def describe_key(self) -> str:
        row = self.after if self.after is not None else self.before
        names = self.primary_key or tuple(spec.name for spec in self.columns)
        return ", ".join(f"{name}={row[name]!r}" for name in names) if row else "?"


@dataclass(frozen=True)
class SchemaChange:
    where: Coordinates
    database: str
    table: str
    kind: str  # "definition" | "ddl"
    statement: str
    create_table: str | None
    size: int
    raw: bytes = field(default=b"", repr=False, compare=False)
    session: DdlSession | None = None  # None in records written before sessions were recorded
    # every (table topic, partitions) with a record of this statement; () in older records
    participants: tuple[tuple[str, int], ...] = ()
    source_position: str = ""  # server_id:file:pos after the statement

    @property
    def statement_id(self) -> str:
        """Names the statement across the topics that carry it: its source position (plus the
        statement's digest: a snapshot's TRUNCATE can share a position with a real DDL)."""
        digest = hashlib.sha1(self.statement.encode()).hexdigest()[:12]
        return f"{self.source_position}:{digest}"


Message = RowChange | SchemaChange


class BadMessage(Exception):
    """A message that can never be applied as it is (undecodable, unknown kind)."""

    def __init__(self, where: Coordinates, reason: str) -> None:
        super().__init__(f"{where}: {reason}")
        self.where = where


class SchemaLookup(Protocol):
    """What decoding needs of a schema store (:class:`schemas.codec.SchemaStore` and its kin)."""

    def decode(self, data: bytes) -> Decoded: ...


def decode(store: SchemaLookup, where: Coordinates, value: bytes | None) -> Message:
    if value is None:
        raise BadMessage(where, "empty message value (tombstone) in a table topic")
    try:
        schema, record = store.decode(value)
    except DecodeError as exc:
        raise BadMessage(where, str(exc)) from exc
    if schema.kind == "change":  # the usual case first: this runs per message
        names = schema.renamed_columns
        source = record["source"]
        return RowChange(
            where,
            source["db"],
            source["table"],
            record["op"],
            record["before"] if names is None else _rename(record["before"], names),
            record["after"] if names is None else _rename(record["after"], names),
            schema.columns,
            schema.primary_key,
            len(value),
            value,
            int(source["ts_sec"]),
        )
    if schema.kind == "schema_change":
        return SchemaChange(
            where,
            record["database"],
            record["table"],
            record["kind"],
            record["statement"],
            record["create_table"],
            len(value),
            value,
            DdlSession.from_record(record.get("session")),
            tuple((p["topic"], int(p["partitions"])) for p in record.get("participants") or ()),
            f"{record['source']['server_id']}:{record['source']['file']}:{record['source']['pos']}",
        )
    raise BadMessage(where, f"unexpected record kind {schema.kind!r} in a table topic")


def _rename(image: dict[str, Any] | None, names: dict[str, str] | None) -> dict[str, Any] | None:
    """Avro field names back to column names; ``names`` is None when they are all the same."""
    if image is None or names is None:
        return image
    return {names[k]: v for k, v in image.items()}
