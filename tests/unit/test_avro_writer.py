"""The prepared Avro writer writes fastavro's bytes exactly, and leaves every value it does not
take to fastavro (schemas/avro_writer.py, schemas/codec.encode)."""

from __future__ import annotations

import io
import math
from decimal import Decimal
from typing import Any

import fastavro
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from binlog_pipeline.schemas.avro_writer import NotCompiled, compile_writer
from binlog_pipeline.schemas.codec import MAGIC, WriterSchema, encode
from binlog_pipeline.schemas.columns import ColumnKind, ColumnSpec
from binlog_pipeline.schemas.envelope import SCHEMA_CHANGE, TableSchema
from tests.unit.test_codec_properties import tables


def fastavro_bytes(schema: WriterSchema, record: Any) -> bytes:
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, schema.parsed, record)
    return buffer.getvalue()


def envelope(
    table: TableSchema, before: Any, after: Any, row: int = 0, gtid: str | None = None
) -> dict[str, Any]:
    row_type = next(
        branch["name"]
        for branch in table.value_schema().parsed["fields"][0]["type"]
        if isinstance(branch, dict)
    )
    return {
        "before": None if before is None else (row_type, before),
        "after": None if after is None else (row_type, after),
        "op": "u",
        "source": {
            "server_id": 4294967295,
            "file": "mysql-bin.000001",
            "pos": 2**40,
            "gtid": gtid,
            "ts_sec": 1_700_000_000,
            "db": table.database,
            "table": table.table,
            "row": row,
        },
        "transaction": {"id": gtid or "mysql-bin.000001:4", "order": row},
        "ts_ms": 1_700_000_000_123,
    }


@settings(max_examples=400, deadline=None)
@given(tables(), tables(), st.integers(0, 2**31), st.none() | st.text(max_size=30))
def test_change_events_are_fastavros_bytes(
    first: tuple[TableSchema, list[Any]], second: tuple[TableSchema, list[Any]], row: int, gtid: str | None
) -> None:
    """Any row of any column kinds — as before and after image, or either alone — writes the
    bytes fastavro writes, through the compiled path (not its fallback)."""
    table, values = first
    schema = table.value_schema()
    assert schema.writer is not None, "the change envelope is inside the prepared subset"
    image = dict(zip(table.field_names(), values, strict=True))
    for before, after in ((image, image), (None, image), (image, None)):
        record = envelope(table, before, after, row, gtid)
        assert schema.writer(record) == fastavro_bytes(schema, record)
        assert encode(schema, record) == MAGIC + schema.fingerprint + fastavro_bytes(schema, record)
    key_table = TableSchema("db", "t", second[0].columns, tuple(spec.name for spec in second[0].columns))
    key_schema = key_table.key_schema()
    assert key_schema is not None and key_schema.writer is not None
    key = {name: value for name, value in zip(key_table.field_names(), second[1], strict=True)}
    assert key_schema.writer(key) == fastavro_bytes(key_schema, key)


@settings(max_examples=300, deadline=None)
@given(st.integers(-(2**70), 2**70))
def test_longs_of_any_size(value: int) -> None:
    """Inside the long range: fastavro's zig-zag varint; outside: whatever fastavro does."""
    table = TableSchema("db", "t", (ColumnSpec("n", ColumnKind.INT),), ())
    schema = table.value_schema()
    record = envelope(table, None, {"n": value})
    assert_same_outcome(schema, record)


@pytest.mark.parametrize(
    "kind, value",
    [
        (ColumnKind.INT, "12"),  # a string where a long belongs
        (ColumnKind.INT, 1.5),
        (ColumnKind.INT, True),
        (ColumnKind.STRING, b"bytes"),
        (ColumnKind.STRING, "\ud800"),  # a lone surrogate: not encodable as UTF-8
        (ColumnKind.BYTES, "text"),
        (ColumnKind.BYTES, bytearray(b"ab")),
        (ColumnKind.DOUBLE, math.nan),
        (ColumnKind.DOUBLE, math.inf),
        (ColumnKind.DOUBLE, 3),
        (ColumnKind.FLOAT, 1e300),
        (ColumnKind.YEAR, 2**40),
        (ColumnKind.TIMESTAMP, -1),
        (ColumnKind.UINT64, Decimal(2**64 - 1)),
        (ColumnKind.UINT64, b"\x01"),
    ],
)
def test_values_it_refuses_go_to_fastavro(kind: ColumnKind, value: Any) -> None:
    """A value of another type or range: encode() gives fastavro's bytes or raises its error."""
    table = TableSchema("db", "t", (ColumnSpec("v", kind),), ())
    assert_same_outcome(table.value_schema(), envelope(table, {"v": value}, None))


@pytest.mark.parametrize(
    "value",
    [
        Decimal("1.5"),
        Decimal("-0.00"),
        Decimal("99999.99"),
        Decimal("123456.7"),  # precision 7 > 7? no: 7 digits, fits
        Decimal("1234567.8"),  # 8 digits: more than the precision
        Decimal("1.234"),  # more scale than the schema's
        Decimal("1E+3"),
        Decimal("NaN"),
        Decimal("-Infinity"),
    ],
)
def test_decimals_match_fastavro(value: Decimal) -> None:
    table = TableSchema("db", "t", (ColumnSpec("d", ColumnKind.DECIMAL, precision=7, scale=2),), ())
    assert_same_outcome(table.value_schema(), envelope(table, None, {"d": value}))


def test_a_missing_field_is_fastavros_call() -> None:
    """fastavro writes a missing nullable field as null; the prepared writer leaves it to it."""
    table = TableSchema("db", "t", (ColumnSpec("a", ColumnKind.INT), ColumnSpec("b", ColumnKind.STRING)), ())
    assert_same_outcome(table.value_schema(), envelope(table, {"a": 1}, None))


def test_a_wrong_union_branch_name_is_fastavros_call() -> None:
    table = TableSchema("db", "t", (ColumnSpec("a", ColumnKind.INT),), ())
    record = envelope(table, None, {"a": 1})
    record["after"] = ("no.such.Row", {"a": 1})
    assert_same_outcome(table.value_schema(), record)


def test_the_schema_change_record_matches_fastavro() -> None:
    """Whatever the prepared writer makes of the schema-change schema, encode() is fastavro's."""
    record = {name["name"]: None for name in SCHEMA_CHANGE.schema_json["fields"]}
    assert_same_outcome(SCHEMA_CHANGE, record)


def test_schemas_outside_the_subset_are_not_compiled() -> None:
    for schema in (
        {"type": "enum", "name": "E", "symbols": ["a"]},
        ["null", "long", "string"],
        {"type": "array", "items": "long"},
        {"type": "long", "logicalType": "timestamp-micros"},
    ):
        with pytest.raises(NotCompiled):
            compile_writer(schema)


def assert_same_outcome(schema: WriterSchema, record: Any) -> None:
    """encode() and fastavro agree: the same bytes, or the same exception type."""
    try:
        expected: Any = MAGIC + schema.fingerprint + fastavro_bytes(schema, record)
    except Exception as exc:  # the outcome under test is fastavro's refusal
        expected = type(exc)
    try:
        got: Any = encode(schema, record)
    except Exception as exc:
        got = type(exc)
    assert got == expected


def record_schema(field_type: Any) -> WriterSchema:
    return WriterSchema.build(
        {"type": "record", "name": "R", "namespace": "t", "fields": [{"name": "f", "type": field_type}]},
        kind="change",
    )


def test_a_decimal_wider_than_the_writers_exact_context_is_fastavros() -> None:
    """Beyond 200 digits scaleb() would round: such a schema is not compiled, fastavro writes it."""
    schema = record_schema({"type": "bytes", "logicalType": "decimal", "precision": 300, "scale": 0})
    assert schema.writer is None
    assert_same_outcome(schema, {"f": Decimal("9" * 250)})


def test_a_schema_the_writer_cannot_prepare_is_fastavros() -> None:
    """A decimal without a precision (fastavro takes the schema): encode() neither raises nor differs."""
    schema = record_schema({"type": "bytes", "logicalType": "decimal"})
    assert schema.writer is None
    assert_same_outcome(schema, {"f": b"\x01"})


def test_the_union_notation_takes_the_full_name_only() -> None:
    """fastavro refuses ("Row", …) where the branch's full name is namespace.Row: so does encode()."""
    table = TableSchema("db", "t", (ColumnSpec("a", ColumnKind.INT),), ())
    record = envelope(table, None, {"a": 1})
    record["after"] = ("Row", {"a": 1})
    assert_same_outcome(table.value_schema(), record)
