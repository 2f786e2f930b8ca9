"""A writer prepared once per schema for the Avro subset the contract uses: records, unions of
null and one type, the primitives, and decimal on bytes.

fastavro's ``schemaless_writer`` walks the schema for every record and pays a call, a buffer and
per-field dispatch each time; on small OLTP changes that was the producer's largest cost after
parsing (py-spy, bench/results/NOTES.md). Here the schema is compiled into nested closures once,
so writing a record is one closure per field appending to a bytearray. The output is byte for byte
fastavro's (property-tested against it in tests/unit/test_avro_writer.py); a value this writer
does not take (a wrong type, out of range) raises, and :func:`binlog_pipeline.schemas.codec.encode`
then hands the record to fastavro, whose answer (bytes or its error) is the contract's.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from decimal import Context, Decimal
from typing import Any

# Appends the encoding of one value to the buffer.
Write = Callable[[Any, bytearray], None]

_FLOAT = struct.Struct("<f").pack
_DOUBLE = struct.Struct("<d").pack
_LONG_MIN, _LONG_MAX = -(1 << 63), (1 << 63) - 1
_INT_MIN, _INT_MAX = -(1 << 31), (1 << 31) - 1
# Room for any DECIMAL's digits (at most 65): scaleb() under it never rounds.
_EXACT = Context(prec=200)
# Zig-zag varints of 0..63 (one byte each): union indexes, small lengths and numbers.
_SMALL = [bytes([n << 1]) for n in range(64)]


class NotCompiled(Exception):
    """The schema uses something outside the subset: encode it with fastavro."""


# Each writer takes exactly its Python type (not bool for a long, not int for a double, not
# bytearray for bytes): anything else raises, and fastavro's own rules then apply.
def write_long(value: int, out: bytearray) -> None:
    if type(value) is not int:
        raise TypeError(f"{value!r} is not an int")
    if 0 <= value < 64:
        out += _SMALL[value]
        return
    if not _LONG_MIN <= value <= _LONG_MAX:
        raise OverflowError(f"{value} does not fit an Avro long")
    n = (value << 1) ^ (value >> 63)
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)


def _write_int(value: int, out: bytearray) -> None:
    if type(value) is int and not _INT_MIN <= value <= _INT_MAX:
        raise OverflowError(f"{value} does not fit an Avro int")
    write_long(value, out)


def _write_string(value: str, out: bytearray) -> None:
    if type(value) is not str:
        raise TypeError(f"{value!r} is not a str")
    data = value.encode()
    write_long(len(data), out)
    out += data


def _write_bytes(value: bytes, out: bytearray) -> None:
    if type(value) is not bytes:
        raise TypeError(f"{value!r} is not bytes")
    write_long(len(value), out)
    out += value


def _write_float(value: float, out: bytearray) -> None:
    if type(value) is not float:
        raise TypeError(f"{value!r} is not a float")
    out += _FLOAT(value)


def _write_double(value: float, out: bytearray) -> None:
    if type(value) is not float:
        raise TypeError(f"{value!r} is not a float")
    out += _DOUBLE(value)


def _write_boolean(value: bool, out: bytearray) -> None:
    if type(value) is not bool:
        raise TypeError(f"{value!r} is not a bool")
    out.append(1 if value else 0)


def _decimal_writer(precision: int, scale: int) -> Write:
    """fastavro's bytes-decimal conversion (``prepare_bytes_decimal``), step for step."""

    def write(value: Any, out: bytearray) -> None:
        if not isinstance(value, Decimal):
            _write_bytes(value, out)
            return
        _sign, digits, exp = value.as_tuple()
        if not isinstance(exp, int):
            raise ValueError(f"{value} is not a finite decimal")
        if len(digits) > precision:
            raise ValueError("The decimal precision is bigger than allowed by schema")
        delta = exp + scale
        if delta < 0:
            raise ValueError("Scale provided in schema does not match the decimal")
        unscaled = int(value.scaleb(scale, _EXACT))  # exact: the digits were counted above
        size = (abs(unscaled).bit_length() + 8) // 8
        _write_bytes(unscaled.to_bytes(size, "big", signed=True), out)

    return write


_PRIMITIVES: dict[str, Write] = {
    "long": write_long,
    "int": _write_int,
    "string": _write_string,
    "bytes": _write_bytes,
    "float": _write_float,
    "double": _write_double,
    "boolean": _write_boolean,
}


def _write_null(value: None, out: bytearray) -> None:
    if value is not None:
        raise TypeError(f"{value!r} is not null")


def compile_writer(schema: Any) -> Callable[[Any], bytes]:
    """The writer of ``schema`` (Avro JSON as the contract builds it), or :class:`NotCompiled`."""
    write = _Compiler().compile(schema, "")

    def encode(record: Any) -> bytes:
        out = bytearray()
        write(record, out)
        return bytes(out)

    return encode


def _record_writer(leaves: list[tuple[str, Write | None]], writers: list[Write]) -> Write:
    """One function writing the record's fields in order, generated once per record schema (as
    dataclasses generates ``__init__``): per field a dict lookup and, for a nullable column, the
    null test and the value's writer inline — no loop, no closure per union. Field names enter
    the source only as repr() string literals."""
    lines = ["def write(record, out):"]
    names: dict[str, Any] = {}
    for i, (field_name, leaf) in enumerate(leaves):
        lines.append(f"    v = record[{field_name!r}]")
        if leaf is None:
            names[f"w{i}"] = writers[i]
            lines.append(f"    w{i}(v, out)")
        else:
            names[f"w{i}"] = leaf
            lines += [
                "    if v is None:",
                "        out.append(0)",
                "    else:",
                "        out.append(2)",
                f"        w{i}(v, out)",
            ]
    if not leaves:
        lines.append("    pass")
    exec("\n".join(lines), names)  # the source is built above from repr() literals
    return names["write"]  # type: ignore[no-any-return]


class _Compiler:
    def __init__(self) -> None:
        self._named: dict[str, tuple[str, list[Write]]] = {}  # name → (full name, its writer, once built)

    def compile(self, schema: Any, namespace: str) -> Write:
        if isinstance(schema, str):
            if schema == "null":
                return _write_null
            if schema in _PRIMITIVES:
                return _PRIMITIVES[schema]
            return self._reference(schema, namespace)
        if isinstance(schema, list):
            return self._union(schema, namespace)
        if not isinstance(schema, dict):
            raise NotCompiled(f"schema {schema!r}")
        kind = schema.get("type")
        if kind == "record":
            return self._record(schema, namespace)
        if kind == "bytes" and schema.get("logicalType") == "decimal":
            precision = int(schema.get("precision", 0))
            if not 0 < precision <= _EXACT.prec:  # beyond it scaleb() would round
                raise NotCompiled(f"decimal precision {precision}")
            return _decimal_writer(precision, int(schema.get("scale", 0)))
        if isinstance(kind, str) and kind in _PRIMITIVES and "logicalType" not in schema:
            return _PRIMITIVES[kind]
        raise NotCompiled(f"type {kind!r}")

    def _reference(self, name: str, namespace: str) -> Write:
        full = name if "." in name else f"{namespace}.{name}" if namespace else name
        if full not in self._named:
            raise NotCompiled(f"unknown named type {name!r}")
        cell = self._named[full][1]
        return lambda value, out: cell[0](value, out)

    def _record(self, schema: dict[str, Any], namespace: str) -> Write:
        name = schema["name"]
        if "." in name:
            full = name
        else:
            full = (
                f"{schema.get('namespace', namespace)}.{name}" if schema.get("namespace", namespace) else name
            )
        inner_namespace = full.rpartition(".")[0]
        cell: list[Write] = []
        self._named[full] = (full, cell)
        fields = [(f["name"], f["type"]) for f in schema["fields"]]
        write = _record_writer(
            [
                (field_name, self._nullable_leaf(avro_type, inner_namespace))
                for field_name, avro_type in fields
            ],
            [self.compile(avro_type, inner_namespace) for _, avro_type in fields],
        )
        cell.append(write)
        return write

    def _nullable_leaf(self, avro_type: Any, namespace: str) -> Write | None:
        """The branch writer of a [null, T] union whose T is not named (a primitive or a decimal):
        such fields — every column of a row — are written inline by :func:`_record_writer`."""
        if isinstance(avro_type, list) and len(avro_type) == 2 and avro_type[0] == "null":
            branch = avro_type[1]
            if (isinstance(branch, str) and branch in _PRIMITIVES) or (
                isinstance(branch, dict) and branch.get("type") != "record"
            ):
                return self.compile(branch, namespace)
        return None

    def _union(self, branches: list[Any], namespace: str) -> Write:
        """Only [null, T]: None → index 0; T's value (or fastavro's (name, value) notation for a
        named T) → index 1."""
        if len(branches) != 2 or branches[0] != "null":
            raise NotCompiled(f"union {branches!r}")
        branch = branches[1]
        write_branch = self.compile(branch, namespace)
        names = self._branch_names(branch, namespace)

        def write(value: Any, out: bytearray) -> None:
            if value is None:
                out.append(0)
                return
            if type(value) is tuple:
                if value[0] not in names:
                    raise TypeError(f"union branch {value[0]!r} is not one of {sorted(names)}")
                value = value[1]
            out.append(2)
            write_branch(value, out)

        return write

    def _branch_names(self, branch: Any, namespace: str) -> frozenset[str]:
        """The name fastavro's (name, value) notation must use for ``branch``: its full name."""
        if isinstance(branch, dict) and branch.get("type") == "record":
            name = branch["name"]
            return frozenset(
                {name if "." in name else f"{branch.get('namespace', namespace)}.{name}".lstrip(".")}
            )
        if isinstance(branch, str) and branch not in _PRIMITIVES:
            return frozenset({branch if "." in branch else f"{namespace}.{branch}".lstrip(".")})
        return frozenset()
