"""Property-based tests of the contract's codec and of the hardest row-image decoder."""

from __future__ import annotations

import io
from decimal import Decimal
from typing import Any

import fastavro
from hypothesis import given, settings
from hypothesis import strategies as st

from binlog_pipeline.producer.row_decoder import _decimal
from binlog_pipeline.schemas.codec import SchemaStore, WriterSchema, encode
from binlog_pipeline.schemas.columns import ColumnKind, ColumnSpec
from binlog_pipeline.schemas.envelope import TableSchema

TEXT_KINDS = [
    ColumnKind.STRING,
    ColumnKind.ENUM,
    ColumnKind.SET,
    ColumnKind.JSON,
    ColumnKind.DATE,
    ColumnKind.DATETIME,
    ColumnKind.TIME,
]
BYTES_KINDS = [ColumnKind.BYTES, ColumnKind.BINARY, ColumnKind.BIT, ColumnKind.GEOMETRY]


@st.composite
def decimals(draw: st.DrawFn, precision: int, scale: int) -> Decimal:
    digits = draw(st.integers(-(10**precision) + 1, 10**precision - 1))
    return Decimal(f"{digits}E-{scale}")  # exact: scaleb() would round to the 28-digit context


@st.composite
def column_and_value(draw: st.DrawFn, index: int) -> tuple[ColumnSpec, Any]:
    kind = draw(st.sampled_from(list(ColumnKind)))
    name = draw(st.sampled_from([f"c{index}", f"col {index}", f"ü{index}", f"`{index}`"]))
    spec = ColumnSpec(name, kind)
    value: Any
    if kind is ColumnKind.DECIMAL:
        precision = draw(st.integers(1, 65))
        scale = draw(st.integers(0, min(30, precision)))
        spec = ColumnSpec(name, kind, precision=precision, scale=scale)
        value = draw(decimals(precision, scale))
    elif kind is ColumnKind.UINT64:
        value = Decimal(draw(st.integers(0, 2**64 - 1)))
    elif kind is ColumnKind.INT:
        value = draw(st.integers(-(2**63), 2**63 - 1))
    elif kind is ColumnKind.FLOAT:
        value = draw(st.floats(width=32, allow_nan=False, allow_infinity=False))
    elif kind is ColumnKind.DOUBLE:
        value = draw(st.floats(allow_nan=False, allow_infinity=False))
    elif kind in TEXT_KINDS:
        value = draw(st.text())
    elif kind in BYTES_KINDS:
        value = draw(st.binary())
    elif kind is ColumnKind.TIMESTAMP:
        value = draw(st.integers(0, 2**63 - 1))
    else:  # YEAR
        value = draw(st.integers(0, 2155))
    return spec, draw(st.none() | st.just(value))


@st.composite
def tables(draw: st.DrawFn) -> tuple[TableSchema, list[Any]]:
    pairs = [draw(column_and_value(i)) for i in range(draw(st.integers(1, 12)))]
    specs = tuple(spec for spec, _ in pairs)
    return TableSchema("db", draw(st.text(min_size=1, max_size=20)), specs, ()), [v for _, v in pairs]


@settings(max_examples=300, deadline=None)
@given(tables())
def test_change_events_round_trip(table_and_row: tuple[TableSchema, list[Any]]) -> None:
    """Any row of any column kinds encodes and decodes to the same values, through a schema that
    itself went through the schema topic's JSON form."""
    table, row = table_and_row
    schema = table.value_schema()
    names = table.field_names()
    image = dict(zip(names, row, strict=True))
    record = {
        "before": None,
        "after": image,
        "op": "c",
        "source": {
            "server_id": 1,
            "file": "f",
            "pos": 4,
            "gtid": None,
            "ts_sec": 0,
            "db": "db",
            "table": table.table,
            "row": 0,
        },
        "transaction": {"id": "x", "order": 0},
        "ts_ms": 0,
    }
    store = SchemaStore()
    store.add(WriterSchema.from_json(schema.to_json()))
    decoded = store.decode(encode(schema, record))
    assert decoded.record["after"] == image
    assert decoded.schema.columns == table.columns
    assert decoded.schema.fingerprint == schema.fingerprint


@settings(max_examples=100, deadline=None)
@given(tables(), tables())
def test_different_tables_have_different_fingerprints(
    a: tuple[TableSchema, list[Any]], b: tuple[TableSchema, list[Any]]
) -> None:
    """Schemas that differ in any MySQL detail never share a fingerprint (Avro's canonical form
    alone would drop those attributes)."""
    if a[0] != b[0]:
        assert a[0].value_schema().fingerprint != b[0].value_schema().fingerprint


_DIG2BYTES = (0, 1, 1, 2, 2, 3, 3, 4, 4, 4)


def mysql_decimal_binary(value: Decimal, precision: int, scale: int) -> bytes:
    """Reference encoder of MySQL's binary DECIMAL (decimal2bin): 9-digit groups in 4 bytes,
    partial groups in the fewest bytes, sign in the first bit, negatives inverted."""
    intg = precision - scale
    text = format(value.copy_abs(), "f")  # exact; abs() would round to the 28-digit context
    int_part, _, frac_part = text.partition(".")
    int_part = int_part.zfill(intg)[-intg:] if intg else ""
    intg0, intg0x = divmod(intg, 9)
    frac0, frac0x = divmod(scale, 9)
    out = bytearray()
    if intg0x:
        out += int(int_part[:intg0x]).to_bytes(_DIG2BYTES[intg0x], "big")
    for i in range(intg0):
        start = intg0x + 9 * i
        out += int(int_part[start : start + 9]).to_bytes(4, "big")
    for i in range(frac0):
        out += int(frac_part[9 * i : 9 * i + 9]).to_bytes(4, "big")
    if frac0x:
        out += int(frac_part[9 * frac0 :]).to_bytes(_DIG2BYTES[frac0x], "big")
    out[0] ^= 0x80
    if value < 0:
        out = bytearray(b ^ 0xFF for b in out)
    return bytes(out)


@st.composite
def decimal_cases(draw: st.DrawFn) -> tuple[int, int, Decimal]:
    precision = draw(st.integers(1, 65))
    scale = draw(st.integers(0, min(30, precision)))
    return precision, scale, draw(decimals(precision, scale))


@settings(max_examples=500, deadline=None)
@given(decimal_cases())
def test_binary_decimal_decoder(case: tuple[int, int, Decimal]) -> None:
    """The row decoder reads every DECIMAL(p,s) value exactly — with exactly ``s`` fraction digits,
    which Avro's decimal(p,s) requires — consuming exactly its bytes."""
    precision, scale, value = case
    data = mysql_decimal_binary(value, precision, scale)
    decoded, end = _decimal(precision, scale)(data + b"\xaa", 0)
    # Decimal equality ignores the exponent (1.0 == 1): compare sign, digits and exponent.
    assert decoded.as_tuple() == value.as_tuple() and end == len(data)
    spec = ColumnSpec("d", ColumnKind.DECIMAL, precision=precision, scale=scale)
    fastavro.schemaless_writer(io.BytesIO(), fastavro.parse_schema(spec.avro_field(0)["type"][1]), decoded)
