"""A reader prepared once per writer schema for the Avro subset the contract uses: records,
unions of null and one type, the primitives, and decimal on bytes — the counterpart of
:mod:`binlog_pipeline.schemas.avro_writer`.

fastavro's ``schemaless_reader`` walks the schema for every message: per field a dispatch on the
type name, a logical-type lookup and an options lookup, and a file-object ``read`` call per byte
of a varint. That was ~12 µs per change, the applier's largest cost (py-spy, bench/results/NOTES.md).
Here each record type of the schema becomes one Python function, generated once from the schema,
that reads its fields straight from the message's bytes with the position in a local variable:
per message the interpreter runs only the reading itself. On the bench's bulk change messages
(CPU time, one process): fastavro ~10 µs, nested closures as the writer uses them ~8-9 µs (a call
and a tuple per field), this ~6 µs.

The generated source is built from this module's templates only: field names enter it as string
literals (``repr``), everything else a schema holds (decimal precision and scale, named types)
as objects in the functions' namespace or as integers.

What a reader returns is exactly what ``fastavro.schemaless_reader(BytesIO(data), parsed, None)``
returns for the same bytes (property-tested in tests/unit/test_avro_reader.py, corrupt input
included). It does not imitate fastavro's answers to input that no writer produces — a union
index that is not 0 or 1, a negative length, a varint over 64 bits, a value cut off by the end of
the message, invalid UTF-8: it raises there (:class:`Refused`, or the IndexError, struct.error or
UnicodeDecodeError that reading past the end or decoding gives), and
:meth:`binlog_pipeline.schemas.codec.SchemaStore.decode` hands the message to fastavro, whose
record or error is then the answer — as the writer leaves every value it does not take to fastavro.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from decimal import Context
from typing import Any

from binlog_pipeline.schemas.avro_writer import NotCompiled

_FLOAT = struct.Struct("<f").unpack_from
_DOUBLE = struct.Struct("<d").unpack_from
_PRIMITIVES = frozenset({"long", "int", "string", "bytes", "float", "double", "boolean"})


class Refused(Exception):
    """Input no writer produces (or that is cut short): fastavro decides what it is."""


def varint(data: bytes, pos: int) -> tuple[int, int]:
    """The zig-zag varint at ``pos`` and the offset after it (one-byte varints are read inline by
    the generated code; this is the rest). fastavro reads into a C uint64 and drops higher bits:
    no writer writes such a varint, so it is refused."""
    n = 0
    shift = 0
    while True:
        b = data[pos]  # IndexError past the end
        pos += 1
        n |= (b & 0x7F) << shift
        if b < 0x80:
            break
        shift += 7
    if n >> 64:
        raise Refused("varint longer than 64 bits")
    return (n >> 1) ^ -(n & 1), pos


def compile_reader(schema: Any) -> Callable[[bytes, int], Any]:
    """The reader of ``schema`` (a record, as Avro JSON): ``reader(data, start)`` is the record
    encoded at ``data[start:]`` (bytes after it are ignored, as fastavro ignores them), or raises
    where fastavro must decide (see the module docstring). :class:`NotCompiled` for a schema
    outside the subset."""
    if not (isinstance(schema, dict) and schema.get("type") == "record"):
        raise NotCompiled(f"top-level schema {schema!r} is not a record")
    generator = _Generator()
    top = generator.record(schema, "")
    lines = [
        "def decode(data, start):",
        f"    record, end = {top}(data, start)",
        "    if end > len(data):",
        "        raise Refused(f'the record ends at {end}, past the end of the data ({len(data)})')",
        "    return record",
        *generator.lines,
    ]
    source = "\n".join(lines) + "\n"
    namespace: dict[str, Any] = {
        "Refused": Refused,
        "varint": varint,
        "unpack_float": _FLOAT,
        "unpack_double": _DOUBLE,
        "from_bytes": int.from_bytes,
        **generator.objects,
    }
    exec(compile(source, f"<avro reader {schema.get('name')!r}>", "exec"), namespace)
    decode: Callable[[bytes, int], Any] = namespace["decode"]
    return decode


class _Generator:
    """Emits one function per record type. Inside one, ``data`` is the message, ``pos`` the
    offset of the next value; a value is read into a local ``v<n>``. Lengths are checked only for
    being negative: a value cut off by the end of the data ends at an offset past it, and the
    record's end (checked once, in ``decode``) can only be at or after every value's end."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.objects: dict[str, Any] = {}  # name in the generated code → object
        self._records: dict[str, str] = {}  # full name → its function's name

    def record(self, schema: dict[str, Any], namespace: str) -> str:
        name = schema["name"]
        own_namespace = schema.get("namespace", namespace)
        full = name if "." in name else f"{own_namespace}.{name}" if own_namespace else name
        function = f"record_{len(self._records)}"
        self._records[full] = function  # before the fields: a field may refer to its own record
        inner_namespace = full.rpartition(".")[0]
        body: list[str] = []
        keys: list[str] = []
        for index, field in enumerate(schema["fields"]):
            if not isinstance(field["name"], str):
                raise NotCompiled(f"field name {field['name']!r}")
            body += self._value(field["type"], f"v{index}", inner_namespace)
            keys.append(f"{field['name']!r}: v{index}")
        self.lines += [
            "",
            f"def {function}(data, pos):",
            *("    " + line for line in body),
            "    return {" + ", ".join(keys) + "}, pos",
        ]
        return function

    def _value(self, schema: Any, var: str, namespace: str) -> list[str]:
        """Lines that read one value of ``schema`` into ``var`` and move ``pos`` past it."""
        if isinstance(schema, list):
            return self._union(schema, var, namespace)
        if isinstance(schema, dict):
            kind = schema.get("type")
            if kind == "record":
                return [f"{var}, pos = {self.record(schema, namespace)}(data, pos)"]
            if kind == "bytes" and schema.get("logicalType") == "decimal":
                return self._decimal(schema, var)
            if isinstance(kind, str) and kind in _PRIMITIVES and "logicalType" not in schema:
                return _PRIMITIVE_LINES[kind](var)
            raise NotCompiled(f"type {kind!r}")
        if schema == "null":
            return [f"{var} = None"]
        if isinstance(schema, str) and schema in _PRIMITIVES:
            return _PRIMITIVE_LINES[schema](var)
        if isinstance(schema, str):
            full = schema if "." in schema else f"{namespace}.{schema}" if namespace else schema
            if full not in self._records:
                raise NotCompiled(f"unknown named type {schema!r}")
            return [f"{var}, pos = {self._records[full]}(data, pos)"]
        raise NotCompiled(f"schema {schema!r}")

    def _union(self, branches: list[Any], var: str, namespace: str) -> list[str]:
        """Only [null, T]: index 0 (byte 0x00) is None, index 1 (0x02) is T's value. fastavro
        indexes its branch list with any long, so -1 (0x01) would read T: refused."""
        if len(branches) != 2 or branches[0] != "null":
            raise NotCompiled(f"union {branches!r}")
        return [
            "branch = data[pos]",
            "pos += 1",
            "if branch == 2:",
            *("    " + line for line in self._value(branches[1], var, namespace)),
            "elif branch == 0:",
            f"    {var} = None",
            "else:",
            "    raise Refused(f'union index byte {branch} at {pos - 1}')",
        ]

    def _decimal(self, schema: dict[str, Any], var: str) -> list[str]:
        """fastavro's bytes-decimal reader (``read_decimal``), step for step: the unscaled
        integer, made a Decimal in a context of the schema's precision (so rounded to it), then
        scaled in that context."""
        try:
            context = Context(prec=int(schema["precision"]))
            scale = int(schema.get("scale", 0))
        except (KeyError, TypeError, ValueError) as exc:
            raise NotCompiled(f"decimal {schema!r}") from exc
        name = f"decimal_{len(self.objects)}"
        self.objects[name] = context
        return [
            *_length("size"),
            f"{var} = {name}.create_decimal(from_bytes(data[pos:pos + size], 'big', signed=True))"
            f".scaleb({-scale}, {name})",
            "pos += size",
        ]


def _length(var: str) -> list[str]:
    """Lines that read a length (a long that must not be negative) into ``var``."""
    return [
        f"{var} = data[pos]",
        f"if {var} & 129:  # not a one-byte length (a longer or a negative one)",
        f"    {var}, pos = varint(data, pos)",
        f"    if {var} < 0:",
        f"        raise Refused(f'negative length {{{var}}} at {{pos}}')",
        "else:",
        f"    {var} >>= 1",
        "    pos += 1",
    ]


def _long(var: str) -> list[str]:
    # fastavro reads an int as a long, without a range check: so does this
    return [
        f"{var} = data[pos]",
        "pos += 1",
        f"if {var} > 127:",
        f"    {var} &= 127",
        "    shift = 7",
        "    while True:",
        "        byte = data[pos]",
        "        pos += 1",
        f"        {var} |= (byte & 127) << shift",
        "        if byte < 128:",
        "            break",
        "        shift += 7",
        f"    if {var} >> 64:",
        "        raise Refused('varint longer than 64 bits')",
        f"{var} = ({var} >> 1) ^ -({var} & 1)",
    ]


def _bytes(var: str) -> list[str]:
    return [*_length("size"), f"{var} = data[pos:pos + size]", "pos += size"]


def _string(var: str) -> list[str]:
    # fastavro decodes strictly too: invalid UTF-8 raises UnicodeDecodeError here, and there
    return [*_length("size"), f"{var} = data[pos:pos + size].decode()", "pos += size"]


_PRIMITIVE_LINES: dict[str, Callable[[str], list[str]]] = {
    "long": _long,
    "int": _long,
    "string": _string,
    "bytes": _bytes,
    # struct.error when fewer than 4 or 8 bytes are left
    "float": lambda var: [f"{var} = unpack_float(data, pos)[0]", "pos += 4"],
    "double": lambda var: [f"{var} = unpack_double(data, pos)[0]", "pos += 8"],
    # fastavro: any byte but 0 is true
    "boolean": lambda var: [f"{var} = data[pos] != 0", "pos += 1"],
}
