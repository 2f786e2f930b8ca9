"""Turns reader items into encoded Kafka messages. Per-table work (writer schemas, topic, field
names, key positions) is done once per compiled table, never per row."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from producer.position import BinlogPosition
from producer.row_events import CapturedTable, RowChange
from schemas.codec import WriterSchema, encode
from schemas.envelope import SCHEMA_CHANGE, TableSchema
from schemas.topics import TopicNames


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


class EventBuilder:
    def __init__(self, topics: TopicNames, server_id: int) -> None:
        self._topics = topics
        self._server_id = server_id
        self._plans: dict[TableSchema, TablePlan] = {}

    def plan(self, table: CapturedTable) -> TablePlan:
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
        return plan

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
        if plan.key_schema is not None:
            image = change.after if change.after is not None else change.before
            assert image is not None
            key = encode(
                plan.key_schema,
                {n: image[i] for n, i in zip(plan.key_names, plan.key_positions, strict=True)},
            )
        return Message(plan.topic, key, encode(plan.value_schema, record), plan.schemas)

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
    ) -> tuple[Message, Message]:
        """The record for the table's own topic and its copy for the schema-change history."""
        record = {
            "database": database,
            "table": table,
            "kind": kind,
            "statement": statement,
            "create_table": create_table,
            "source": self._source(position, gtid, ts, database, table, 0),
            "ts_ms": int(time.time() * 1000),
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


def _row_type(value_schema: WriterSchema) -> str:
    before = next(f for f in value_schema.parsed["fields"] if f["name"] == "before")
    return str(next(branch["name"] for branch in before["type"] if isinstance(branch, dict)))
