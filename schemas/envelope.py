"""The per-table change envelope, the key, and the schema-change record.

Value of a table topic message, one of:
- change: ``before``/``after`` rows (union with null), ``op`` (c/u/d/r), ``source`` (server id,
  binlog file/pos, GTID, event time, database, table, row index in the source transaction),
  ``transaction`` (id, order) and ``ts_ms``;
- schema change: a DDL (or, as a table's first record, its definition) with the table's
  ``SHOW CREATE TABLE`` after it and the source session the DDL ran in.
Avro's canonical form drops custom attributes, so each schema's record names carry a digest of
its full JSON: two schemas that differ only in ``mysql.*`` details get different fingerprints.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from binlog_pipeline.schemas.codec import WriterSchema
from binlog_pipeline.schemas.columns import ColumnSpec
from binlog_pipeline.schemas.ddl_session import AVRO_RECORD as DDL_SESSION

OPS = ("c", "u", "d", "r")

SOURCE_FIELDS: list[dict[str, Any]] = [
    {"name": "server_id", "type": "long"},
    {"name": "file", "type": "string"},
    {"name": "pos", "type": "long"},
    {"name": "gtid", "type": ["null", "string"], "default": None},
    {"name": "ts_sec", "type": "long"},
    {"name": "db", "type": "string"},
    {"name": "table", "type": "string"},
    {"name": "row", "type": "long"},
]


def _digest(doc: Any) -> str:
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class TableSchema:
    """A table's columns and primary key at one point of the stream, and its writer schemas."""

    database: str
    table: str
    columns: tuple[ColumnSpec, ...]
    primary_key: tuple[str, ...]

    def field_names(self) -> list[str]:
        return [spec.avro_field(i)["name"] for i, spec in enumerate(self.columns)]

    def value_schema(self) -> WriterSchema:
        row_fields = [spec.avro_field(i) for i, spec in enumerate(self.columns)]
        digest = _digest([self.database, self.table, row_fields, self.primary_key])
        schema = {
            "type": "record",
            "name": "Envelope",
            "namespace": f"binlog_pipeline.change.v{digest}",
            "fields": [
                {
                    "name": "before",
                    "type": ["null", {"type": "record", "name": "Row", "fields": row_fields}],
                    "default": None,
                },
                {"name": "after", "type": ["null", "Row"], "default": None},
                {"name": "op", "type": "string"},
                {"name": "source", "type": {"type": "record", "name": "Source", "fields": SOURCE_FIELDS}},
                {
                    "name": "transaction",
                    "type": {
                        "type": "record",
                        "name": "Transaction",
                        "fields": [{"name": "id", "type": "string"}, {"name": "order", "type": "long"}],
                    },
                },
                {"name": "ts_ms", "type": "long"},
            ],
        }
        return WriterSchema.build(
            schema,
            kind="change",
            database=self.database,
            table=self.table,
            columns=self.columns,
            primary_key=self.primary_key,
        )

    def key_schema(self) -> WriterSchema | None:
        """The key: the primary-key columns; ``None`` for a table without one (messages then
        carry a null key; one partition keeps their order)."""
        if not self.primary_key:
            return None
        positions = {spec.name: i for i, spec in enumerate(self.columns)}
        key_specs = tuple(self.columns[positions[name]] for name in self.primary_key)
        key_fields = [spec.avro_field(positions[spec.name]) for spec in key_specs]
        digest = _digest([self.database, self.table, key_fields])
        schema = {
            "type": "record",
            "name": "Key",
            "namespace": f"binlog_pipeline.key.v{digest}",
            "fields": key_fields,
        }
        return WriterSchema.build(
            schema,
            kind="key",
            database=self.database,
            table=self.table,
            columns=key_specs,
            primary_key=self.primary_key,
        )


SCHEMA_CHANGE = WriterSchema.build(
    {
        "type": "record",
        "name": "SchemaChange",
        # v2 added ``session`` and ``participants``; v1 records still decode with their own writer
        # schema from the schema topic, and a v2 reader schema resolves them (the defaults).
        "namespace": "binlog_pipeline.schema_change.v2",
        "fields": [
            {"name": "database", "type": "string"},
            {"name": "table", "type": "string"},
            # "definition": the table's first record (its CREATE TABLE); "ddl": a statement.
            {"name": "kind", "type": "string"},
            {"name": "statement", "type": "string"},
            {"name": "create_table", "type": ["null", "string"], "default": None},
            {"name": "source", "type": {"type": "record", "name": "Source", "fields": SOURCE_FIELDS}},
            {"name": "ts_ms", "type": "long"},
            # The source session a "ddl" statement ran in (schemas/ddl_session.py).
            {"name": "session", "type": ["null", DDL_SESSION], "default": None},
            # Every table topic that got a record of this statement, with its partition count: a
            # statement that spans several (a multi-table RENAME, a topic with several partitions)
            # is applied once, when each of them has reached its record (applier/ddl_barrier.py).
            {
                "name": "participants",
                "type": {
                    "type": "array",
                    "items": {
                        "type": "record",
                        "name": "Participant",
                        "fields": [
                            {"name": "topic", "type": "string"},
                            {"name": "partitions", "type": "int"},
                        ],
                    },
                },
                "default": [],
            },
        ],
    },
    kind="schema_change",
)
