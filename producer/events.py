"""Turns reader items into encoded Kafka messages. Per-table work (writer schemas, topic, field
names, key positions) is done once per compiled table, never per row."""

from __future__ import annotations

import io
import time
from dataclasses import dataclass, replace
from enum import Enum
from typing import Any

import fastavro

from binlog_pipeline.core.errors import PermanentError
from binlog_pipeline.producer.position import BinlogPosition
from binlog_pipeline.producer.row_events import CapturedTable, RowChange
from binlog_pipeline.schemas.codec import WriterSchema, encode
from binlog_pipeline.schemas.ddl_session import DdlSession
from binlog_pipeline.schemas.envelope import SCHEMA_CHANGE, TableSchema
from binlog_pipeline.schemas.topics import TopicNames


@dataclass(frozen=True)
class TablePlan:
    topic: str
    value_schema: WriterSchema
    key_schema: WriterSchema | None
    field_names: tuple[str, ...]
    key_positions: tuple[int, ...]
    key_names: tuple[str, ...]
    row_type: str  # the row record's full name: images are written as (name, image)

    @property
    def schemas(self) -> tuple[WriterSchema, ...]:
        return (self.value_schema,) if self.key_schema is None else (self.value_schema, self.key_schema)


@dataclass(frozen=True)
class Message:
    topic: str
    key: bytes | None
    value: bytes
    schemas: tuple[WriterSchema, ...]
    partition: int | None = None  # None: by key (librdkafka's partitioner)


class Spread(Enum):
    """How a table's rows are spread over its topic's partitions."""

    ONE = "one"  # the topic has one partition
    FIRST = "first"  # several, but order must hold across all rows: every row to partition 0
    BY_KEY = "by_key"  # several, by primary key: a key change is a delete plus a create


_MAX_KNOWN_TABLES = 8192


class EventBuilder:
    def __init__(self, topics: TopicNames, server_id: int) -> None:
        self._topics = topics
        self._server_id = server_id
        self._plans: dict[TableSchema, TablePlan] = {}
        # By the compiled table's identity: hashing its schema per row was a measurable cost.
        self._by_table: dict[int, tuple[CapturedTable, TablePlan]] = {}

    def plan(self, table: CapturedTable) -> TablePlan:
        known = self._by_table.get(id(table))
        if known is not None and known[0] is table:
            return known[1]
        plan = self._plans.get(table.schema)
        if plan is None:
            schema = table.schema
            names = tuple(schema.field_names())
            positions = {spec.name: i for i, spec in enumerate(schema.columns)}
            key_positions = tuple(positions[name] for name in schema.primary_key)
            value_schema = schema.value_schema()
            plan = TablePlan(
                topic=self._topics.table(schema.database, schema.table),
                value_schema=value_schema,
                key_schema=schema.key_schema(),
                field_names=names,
                key_positions=key_positions,
                key_names=tuple(names[i] for i in key_positions),
                row_type=_row_type(value_schema),
            )
            self._plans[table.schema] = plan
        if len(self._by_table) >= _MAX_KNOWN_TABLES:
            self._by_table.clear()
        self._by_table[id(table)] = (table, plan)
        return plan

    def row_messages(
        self, change: RowChange, boundary: BinlogPosition, gtid: str | None, spread: Spread = Spread.ONE
    ) -> list[Message]:
        """The change's messages: one, or — spread by key over several partitions — a primary-key
        change as a delete of the old key and a create of the new one, so that each key's history
        stays in its own partition (the new key may hash to another one)."""
        if spread is Spread.FIRST:
            return [replace(self.row_message(change, boundary, gtid), partition=0)]
        if spread is Spread.BY_KEY and change.op == "u" and self._key_changed(change):
            old = RowChange(change.table, "d", change.before, None, change.ts, change.row)
            new = RowChange(change.table, "c", None, change.after, change.ts, change.row)
            return [self.row_message(old, boundary, gtid), self.row_message(new, boundary, gtid)]
        return [self.row_message(change, boundary, gtid)]

    def _key_changed(self, change: RowChange) -> bool:
        positions = self.plan(change.table).key_positions
        assert change.before is not None and change.after is not None
        return any(change.before[i] != change.after[i] for i in positions)

    def row_message(self, change: RowChange, boundary: BinlogPosition, gtid: str | None) -> Message:
        plan = self.plan(change.table)
        names = plan.field_names
        # (type name, value) picks the union branch directly; fastavro would otherwise validate the
        # whole image against each branch to find it (measured: a quarter of the encode time).
        before = (
            (plan.row_type, dict(zip(names, change.before, strict=True)))
            if change.before is not None
            else None
        )
        after = (
            (plan.row_type, dict(zip(names, change.after, strict=True))) if change.after is not None else None
        )
        schema = change.table.schema
        record = {
            "before": before,
            "after": after,
            "op": change.op,
            "source": self._source(boundary, gtid, change.ts, schema.database, schema.table, change.row),
            "transaction": {"id": gtid or str(boundary), "order": change.row},
            "ts_ms": int(time.time() * 1000),
        }
        key = None
        try:
            if plan.key_schema is not None:
                image = change.after if change.after is not None else change.before
                assert image is not None
                key = encode(
                    plan.key_schema,
                    {n: image[i] for n, i in zip(plan.key_names, plan.key_positions, strict=True)},
                )
            value = encode(plan.value_schema, record)
        except (ValueError, TypeError, OverflowError) as exc:  # fastavro's refusals of a value
            raise unencodable(change, boundary, exc) from exc
        return Message(plan.topic, key, value, plan.schemas)

    def schema_change(
        self,
        database: str,
        table: str,
        kind: str,
        statement: str,
        create_table: str | None,
        position: BinlogPosition,
        gtid: str | None,
        ts: int,
        session: DdlSession | None = None,
        participants: tuple[tuple[str, int], ...] = (),
    ) -> tuple[Message, Message]:
        """The record for the table's own topic and its copy for the schema-change history;
        ``participants``: every (table topic, partitions) that gets a record of this statement."""
        record = {
            "database": database,
            "table": table,
            "kind": kind,
            "statement": statement,
            "create_table": create_table,
            "source": self._source(position, gtid, ts, database, table, 0),
            "ts_ms": int(time.time() * 1000),
            "session": None if session is None else session.to_record(),
            "participants": [{"topic": t, "partitions": n} for t, n in participants],
        }
        value = encode(SCHEMA_CHANGE, record)
        own = Message(self._topics.table(database, table), None, value, (SCHEMA_CHANGE,))
        history = Message(
            self._topics.schema_changes, f"{database}.{table}".encode(), value, (SCHEMA_CHANGE,)
        )
        return own, history

    def _source(
        self, position: BinlogPosition, gtid: str | None, ts: int, db: str, table: str, row: int
    ) -> dict[str, Any]:
        return {
            "server_id": self._server_id,
            "file": position.file,
            "pos": position.pos,
            "gtid": gtid,
            "ts_sec": ts,
            "db": db,
            "table": table,
            "row": row,
        }


def unencodable(change: RowChange, at: BinlogPosition, exc: Exception) -> PermanentError:
    """The error for a decoded value the contract's schema refuses (a decoder bug: a value must
    always fit its column's Avro type), naming the change, the column and the value."""
    schema = change.table.schema
    image = change.after if change.after is not None else change.before
    assert image is not None
    values = dict(zip((spec.name for spec in schema.columns), image, strict=True))
    key = ", ".join(f"{k}={values[k]!r}" for k in schema.primary_key) or "none (no primary key)"
    column, value = _refused(change)
    return PermanentError(
        f"{schema.database}.{schema.table}: cannot encode the change (op {change.op}, source transaction "
        f"at {at}, row {change.row}, key {key}): column {column} value {value:.200} does not fit its Avro "
        f"type: {exc}. This is a producer bug (please report it with the column's definition); the "
        f"stream stops here so nothing is skipped. To pass it, leave the column out (exclude_columns = "
        f'["{schema.database}.{schema.table}.{column}"]) and restart'
    )


def _refused(change: RowChange) -> tuple[str, str]:
    """(column, value repr) of the first value its column's Avro type refuses."""
    for i, spec in enumerate(change.table.schema.columns):
        avro_type = fastavro.parse_schema(spec.avro_field(i)["type"][1])
        for image in (change.before, change.after):
            if image is not None and image[i] is not None:
                try:
                    fastavro.schemaless_writer(io.BytesIO(), avro_type, image[i])
                except (ValueError, TypeError, OverflowError):
                    return spec.name, repr(image[i])
    return "?", "?"


def _row_type(value_schema: WriterSchema) -> str:
    before = next(f for f in value_schema.parsed["fields"] if f["name"] == "before")
    return str(next(branch["name"] for branch in before["type"] if isinstance(branch, dict)))
