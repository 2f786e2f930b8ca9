"""The prepared Avro reader returns fastavro's record exactly, and leaves all input it refuses
— corrupt, cut short, outside what a writer produces — to fastavro (schemas/avro_reader.py,
schemas/codec.read)."""

from __future__ import annotations

import io
import struct
from decimal import Decimal
from typing import Any

import fastavro
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from binlog_pipeline.schemas.avro_reader import compile_reader, varint
from binlog_pipeline.schemas.avro_writer import NotCompiled
from binlog_pipeline.schemas.codec import MAGIC, DecodeError, SchemaStore, WriterSchema, encode, read
from binlog_pipeline.schemas.columns import ColumnKind, ColumnSpec
from binlog_pipeline.schemas.envelope import SCHEMA_CHANGE, TableSchema
from tests.unit.test_avro_writer import envelope
from tests.unit.test_codec_properties import tables


def fastavro_record(schema: WriterSchema, data: bytes) -> Any:
    return fastavro.schemaless_reader(io.BytesIO(data[10:]), schema.parsed, None)


def same(a: Any, b: Any) -> bool:
    """Equal values of the same types all the way down; a Decimal's exponent and a float's bits
    count (Decimal('1.0') == Decimal('1') and NaN != NaN under ==)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, Decimal):
        return a.as_tuple() == b.as_tuple()
    if isinstance(a, float):
        return struct.pack("<d", a) == struct.pack("<d", b)
    return bool(a == b)


def outcome(fn: Any, *args: Any) -> Any:
    """What ``fn(*args)`` gives: ("value", it) or ("error", the exception's type, its cause's type)."""
    try:
        return ("value", fn(*args))
    except Exception as exc:  # the outcome under test
        return ("error", type(exc), type(exc.__cause__))


def same_outcome(a: Any, b: Any) -> bool:
    return a[0] == b[0] and (same(a[1], b[1]) if a[0] == "value" else a == b)


def change_message(
    table: TableSchema, values: list[Any], row: int, gtid: str | None
) -> tuple[WriterSchema, bytes]:
    schema = table.value_schema()
    image = dict(zip(table.field_names(), values, strict=True))
    return schema, encode(schema, envelope(table, image, image, row, gtid))


@settings(max_examples=400)
@given(tables(), st.integers(0, 2**63 - 1), st.none() | st.text(max_size=30))
def test_change_events_read_as_fastavro_reads_them(
    table_and_values: tuple[TableSchema, list[Any]], row: int, gtid: str | None
) -> None:
    """Any row of any column kinds, with any source coordinates: the prepared reader itself (not
    the fallback) returns fastavro's record, value for value and type for type."""
    table, values = table_and_values
    schema, data = change_message(table, values, row, gtid)
    assert schema.reader is not None, "the change envelope is inside the prepared subset"
    assert same(schema.reader(data, 10), fastavro_record(schema, data))
    for before, after in ((None, None), (None, dict(zip(table.field_names(), values, strict=True)))):
        record = envelope(table, before, after, row, gtid)
        data = encode(schema, record)
        assert same(schema.reader(data, 10), fastavro_record(schema, data))


@settings(max_examples=200)
@given(tables())
def test_keys_read_as_fastavro_reads_them(table_and_values: tuple[TableSchema, list[Any]]) -> None:
    columns, values = table_and_values[0].columns, table_and_values[1]
    table = TableSchema("db", "t", columns, tuple(spec.name for spec in columns))
    schema = table.key_schema()
    assert schema is not None and schema.reader is not None
    data = encode(schema, dict(zip(table.field_names(), values, strict=True)))
    assert same(schema.reader(data, 10), fastavro_record(schema, data))


def key_message(table: TableSchema, values: list[Any]) -> tuple[WriterSchema, bytes]:
    """A key of all the table's columns (a key, unlike the envelope, can end in a string)."""
    key_table = TableSchema("db", "t", table.columns, tuple(spec.name for spec in table.columns))
    schema = key_table.key_schema()
    assert schema is not None
    return schema, encode(schema, dict(zip(key_table.field_names(), values, strict=True)))


@st.composite
def damaged(draw: st.DrawFn) -> tuple[WriterSchema, bytes]:
    """A change message or a key cut short, with bytes changed (a sign or a continuation bit
    among them), inserted or removed anywhere after its header — or a body of random bytes."""
    table, values = draw(tables())
    if draw(st.booleans()):
        schema, data = change_message(table, values, draw(st.integers(0, 2**40)), None)
    else:
        schema, data = key_message(table, values)
    body = bytearray(data[10:])
    for _ in range(draw(st.integers(1, 4))):
        action = draw(st.sampled_from(["cut", "set", "flip", "insert", "delete", "random"]))
        at = draw(st.integers(0, len(body)))
        if action == "cut":
            del body[at:]
        elif action == "set" and at < len(body):
            body[at] = draw(st.integers(0, 255))
        elif action == "flip" and at < len(body):
            body[at] ^= draw(st.sampled_from([1, 2, 0x80]))  # zig-zag sign, union index, continuation
        elif action == "insert":
            body[at:at] = draw(st.binary(min_size=1, max_size=12))
        elif action == "delete":
            del body[at : at + draw(st.integers(1, 8))]
        elif action == "random":
            body = bytearray(draw(st.binary(max_size=300)))
    return schema, data[:10] + bytes(body)


@settings(max_examples=1500)
@given(damaged())
def test_damaged_input_reads_as_fastavro_reads_it(case: tuple[WriterSchema, bytes]) -> None:
    """Whatever the bytes: where the prepared reader returns a record it is fastavro's; where it
    refuses, the codec's answer is fastavro's — the same record, or a DecodeError from the same
    error fastavro raises (the applier turns it into a bad-message error naming the offset)."""
    schema, data = case
    assert schema.reader is not None
    ours = outcome(schema.reader, data, 10)
    theirs = outcome(fastavro_record, schema, data)
    if ours[0] == "value":
        assert theirs[0] == "value" and same(ours[1], theirs[1])
    codec = outcome(read, schema, data)
    if theirs[0] == "value":
        assert same_outcome(codec, theirs)
    else:
        assert codec == ("error", DecodeError, theirs[1])


def test_cut_at_every_byte() -> None:
    """A message cut at any byte is a DecodeError caused by the error fastavro raises there."""
    table = TableSchema(
        "db",
        "t",
        (
            ColumnSpec("id", ColumnKind.INT),
            ColumnSpec("s", ColumnKind.STRING),
            ColumnSpec("d", ColumnKind.DECIMAL, precision=12, scale=2),
            ColumnSpec("f", ColumnKind.FLOAT),
            ColumnSpec("x", ColumnKind.DOUBLE),
            ColumnSpec("b", ColumnKind.BYTES),
        ),
        ("id",),
    )
    schema, data = change_message(
        table, [2**40, "ünïcödé", Decimal("-1234.56"), 1.5, -2.25, b"\x00\xff"], 2**33, "gtid"
    )
    for end in range(10, len(data)):
        theirs = outcome(fastavro_record, schema, data[:end])
        assert theirs[0] == "error", end
        assert outcome(read, schema, data[:end]) == ("error", DecodeError, theirs[1]), end


def value_message(table: TableSchema, after_body: bytes) -> tuple[WriterSchema, bytes]:
    """A change message whose ``after`` row is ``after_body`` (hand-made bytes), no ``before``."""
    schema = table.value_schema()
    tail = encode(schema, envelope(table, None, None))[12:]  # header, before = null, after = null
    return schema, schema.header + b"\x00\x02" + after_body + tail


@pytest.mark.parametrize(
    "body",
    [
        b"\x02\x04\x7f\xff",  # 32767 unscaled: more digits than precision 3 — fastavro rounds
        b"\x02\x00",  # no bytes at all: zero
        b"\x02\x02\x80",  # -128
        b"\x02" + bytes([2 * 30]) + b"\x7f" + b"\xff" * 29,  # 30 bytes, far over the precision
    ],
)
def test_decimals_that_no_writer_wrote_round_as_fastavro_rounds(body: bytes) -> None:
    table = TableSchema("db", "t", (ColumnSpec("d", ColumnKind.DECIMAL, precision=3, scale=2),), ())
    schema, data = value_message(table, body)
    assert schema.reader is not None
    assert same(schema.reader(data, 10), fastavro_record(schema, data))


@pytest.mark.parametrize(
    "kind, body",
    [
        (ColumnKind.FLOAT, b"\x02\x01\x00\x80\x7f"),  # a signalling NaN's bits
        (ColumnKind.FLOAT, b"\x02\xff\xff\xff\xff"),
        (ColumnKind.DOUBLE, b"\x02\x01\x00\x00\x00\x00\x00\xf0\x7f"),
        (ColumnKind.DOUBLE, b"\x02\x00\x00\x00\x00\x00\x00\x00\x80"),  # -0.0
        (ColumnKind.INT, b"\x02\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"),  # the lowest long
        (ColumnKind.INT, b"\x02\xfe\xff\xff\xff\xff\xff\xff\xff\xff\x01"),  # the highest
    ],
)
def test_edge_bits_read_as_fastavro_reads_them(kind: ColumnKind, body: bytes) -> None:
    table = TableSchema("db", "t", (ColumnSpec("v", kind),), ())
    schema, data = value_message(table, body)
    assert schema.reader is not None
    assert same(schema.reader(data, 10), fastavro_record(schema, data))


@pytest.mark.parametrize(
    "kind, body",
    [
        (ColumnKind.INT, b"\x01\x02"),  # union index -1: fastavro takes the last branch
        (ColumnKind.INT, b"\x02\xff\xff\xff\xff\xff\xff\xff\xff\xff\x7f"),  # 70 bits: fastavro drops bits
        (ColumnKind.INT, b"\x02\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"),  # 11 bytes
        (ColumnKind.INT, b"\x04\x02"),  # union index 2: no such branch
        (ColumnKind.STRING, b"\x02\x03abc"),  # length -2
        (ColumnKind.STRING, b"\x02\x81\x01" + b"a" * 70),  # length -65, two bytes
        (ColumnKind.BYTES, b"\x02\x01\x00"),  # length -1
        (ColumnKind.DECIMAL, b"\x02\x05\x01\x02"),  # length -3
        (ColumnKind.STRING, b"\x02\x04\xff\xfe"),  # not UTF-8
        (ColumnKind.DOUBLE, b"\x02\x00\x00"),  # cut short
    ],
)
def test_what_no_writer_writes_is_fastavros_call(kind: ColumnKind, body: bytes) -> None:
    """The prepared reader refuses it; the codec answers as fastavro does (a record or an error)."""
    table = TableSchema("db", "t", (ColumnSpec("v", kind, precision=5, scale=1),), ())
    schema, data = value_message(table, body)
    assert schema.reader is not None
    with pytest.raises(Exception):  # noqa: B017 - any refusal: the type is not part of the contract
        schema.reader(data, 10)
    theirs = outcome(fastavro_record, schema, data)
    codec = outcome(read, schema, data)
    assert same_outcome(codec, theirs) if theirs[0] == "value" else codec == ("error", DecodeError, theirs[1])


@pytest.mark.parametrize("kind", [ColumnKind.STRING, ColumnKind.BYTES, ColumnKind.DECIMAL])
def test_a_key_cut_in_its_last_value(kind: ColumnKind) -> None:
    """A record that ends in a string, bytes or a decimal and is cut inside it: refused (a slice
    past the end is silently short in Python), a DecodeError as in fastavro."""
    table = TableSchema("db", "t", (ColumnSpec("v", kind, precision=20, scale=0),), ("v",))
    schema = table.key_schema()
    assert schema is not None and schema.reader is not None
    value = (
        Decimal(10**19)
        if kind is ColumnKind.DECIMAL
        else "abcdef"
        if kind is ColumnKind.STRING
        else b"abcdef"
    )
    data = encode(schema, {"v": value})[:-1]
    with pytest.raises(Exception):  # noqa: B017 - any refusal
        schema.reader(data, 10)
    theirs = outcome(fastavro_record, schema, data)
    assert theirs[0] == "error" and outcome(read, schema, data) == ("error", DecodeError, theirs[1])


def test_trailing_bytes_are_ignored_as_fastavro_ignores_them() -> None:
    table = TableSchema("db", "t", (ColumnSpec("v", ColumnKind.STRING),), ())
    schema = table.value_schema()
    data = encode(schema, envelope(table, None, {"v": "x"})) + b"\x00garbage"
    assert schema.reader is not None
    assert same(schema.reader(data, 10), fastavro_record(schema, data))


def test_the_schema_change_record_is_read_by_fastavro() -> None:
    """Outside the subset (an array of participants): no prepared reader, fastavro reads it."""
    assert SCHEMA_CHANGE.reader is None
    record = {f["name"]: None for f in SCHEMA_CHANGE.schema_json["fields"]}
    record.update(database="d", table="t", kind="ddl", statement="DROP TABLE t", ts_ms=1, participants=[])
    record["source"] = envelope(TableSchema("d", "t", (), ()), None, None)["source"]
    store = SchemaStore()
    store.add(SCHEMA_CHANGE)
    assert store.decode(encode(SCHEMA_CHANGE, record)).record["statement"] == "DROP TABLE t"


def test_field_names_are_literals_in_the_generated_code() -> None:
    """A field name is data, never code (names reach the reader from the schema topic)."""
    name = "a'\"\n}\\; import os #"
    reader = compile_reader({"type": "record", "name": "R", "fields": [{"name": name, "type": "long"}]})
    assert reader(b"\x04", 0) == {name: 2}


def test_schemas_outside_the_subset_are_not_compiled() -> None:
    for field_type in (
        {"type": "enum", "name": "E", "symbols": ["a"]},
        ["null", "long", "string"],
        ["long", "null"],
        {"type": "array", "items": "long"},
        {"type": "map", "values": "long"},
        {"type": "fixed", "name": "F", "size": 2},
        {"type": "long", "logicalType": "timestamp-micros"},
        "Unknown",
    ):
        with pytest.raises(NotCompiled):
            compile_reader({"type": "record", "name": "R", "fields": [{"name": "f", "type": field_type}]})
    with pytest.raises(NotCompiled):
        compile_reader("long")


@settings(max_examples=300)
@given(st.integers(-(2**63), 2**63 - 1))
def test_varints(value: int) -> None:
    data = MAGIC + bytes(8)  # the prepared reader reads after any prefix
    body = io.BytesIO()
    fastavro.schemaless_writer(body, "long", value)
    assert varint(data + body.getvalue(), 10) == (value, 10 + len(body.getvalue()))
