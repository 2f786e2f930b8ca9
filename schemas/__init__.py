"""The producer ↔ applier contract: column kinds and their Avro types, the change-event
envelope, the schema-change record, and single-object encode/decode. Both sides import this
package; neither imports the other."""

from __future__ import annotations

from binlog_pipeline.schemas.codec import Decoded, DecodeError, SchemaStore, WriterSchema, encode
from binlog_pipeline.schemas.columns import ColumnKind, ColumnSpec
from binlog_pipeline.schemas.envelope import TableSchema

__all__ = [
    "ColumnKind",
    "ColumnSpec",
    "DecodeError",
    "Decoded",
    "SchemaStore",
    "TableSchema",
    "WriterSchema",
    "encode",
]
