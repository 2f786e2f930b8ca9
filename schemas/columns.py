"""Column kinds and their lossless Avro representation.

Every value must round-trip exactly (``CHECKSUM TABLE`` equality), including what common CDC
tools lose: zero and partial dates, negative/fractional TIME, BIGINT UNSIGNED max, DECIMAL(65,30),
BINARY trailing zero bytes, empty SETs, BIT(64). Hence:

| kind | Avro | value |
|---|---|---|
| int | long | signed or unsigned up to 32 bits, signed 64 |
| uint64 | bytes/decimal(20,0) | BIGINT UNSIGNED |
| float / double | float / double | FLOAT is float32, kept as float32 |
| decimal | bytes/decimal(p,s) | exact |
| string / enum / set / json | string | SET members comma-joined in definition order; '' is the empty set |
| bytes / binary / bit / geometry | bytes | BINARY(n) padded to n; BIT big-endian; GEOMETRY as stored (SRID + WKB) |
| date / datetime / time | string | exactly as MySQL prints it: '0000-00-00', '2000-01-00 00:00:00.000000', '-838:59:59' |
| timestamp | long | microseconds since the epoch, UTC; 0 is '0000-00-00 00:00:00' |
| year | int | 0 is YEAR 0000 |

Every column is a union with null. The column's MySQL details travel as attributes of the Avro
field (``mysql.*``) so a consumer can rebuild the spec from the writer schema alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class ColumnKind(StrEnum):
    INT = "int"
    UINT64 = "uint64"
    FLOAT = "float"
    DOUBLE = "double"
    DECIMAL = "decimal"
    STRING = "string"
    ENUM = "enum"
    SET = "set"
    JSON = "json"
    BYTES = "bytes"
    BINARY = "binary"
    BIT = "bit"
    GEOMETRY = "geometry"
    DATE = "date"
    DATETIME = "datetime"
    TIME = "time"
    TIMESTAMP = "timestamp"
    YEAR = "year"


_AVRO_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SIMPLE_AVRO: dict[ColumnKind, str] = {
    ColumnKind.INT: "long",
    ColumnKind.FLOAT: "float",
    ColumnKind.DOUBLE: "double",
    ColumnKind.STRING: "string",
    ColumnKind.ENUM: "string",
    ColumnKind.SET: "string",
    ColumnKind.JSON: "string",
    ColumnKind.BYTES: "bytes",
    ColumnKind.BINARY: "bytes",
    ColumnKind.BIT: "bytes",
    ColumnKind.GEOMETRY: "bytes",
    ColumnKind.DATE: "string",
    ColumnKind.DATETIME: "string",
    ColumnKind.TIME: "string",
    ColumnKind.TIMESTAMP: "long",
    ColumnKind.YEAR: "int",
}


@dataclass(frozen=True)
class ColumnSpec:
    """One column as the contract sees it. ``length`` is the padded byte length of BINARY(n);
    ``precision``/``scale`` belong to DECIMAL; ``fsp`` to temporal kinds; ``values`` to
    ENUM/SET."""

    name: str
    kind: ColumnKind
    length: int = 0
    precision: int = 0
    scale: int = 0
    fsp: int = 0
    values: tuple[str, ...] = field(default=())

    def avro_field(self, index: int) -> dict[str, Any]:
        """The Avro field: a union with null, named after the column when that is a valid Avro
        name (else ``_c<index>``), with the MySQL details as ``mysql.*`` attributes."""
        avro_type: Any
        if self.kind is ColumnKind.DECIMAL:
            avro_type = {
                "type": "bytes",
                "logicalType": "decimal",
                "precision": self.precision,
                "scale": self.scale,
            }
        elif self.kind is ColumnKind.UINT64:
            avro_type = {"type": "bytes", "logicalType": "decimal", "precision": 20, "scale": 0}
        else:
            avro_type = _SIMPLE_AVRO[self.kind]
        result: dict[str, Any] = {
            "name": self.name if _AVRO_NAME.match(self.name) else f"_c{index}",
            "type": ["null", avro_type],
            "default": None,
            "mysql.name": self.name,
            "mysql.kind": self.kind.value,
        }
        for attribute in ("length", "precision", "scale", "fsp"):
            if getattr(self, attribute):
                result[f"mysql.{attribute}"] = getattr(self, attribute)
        if self.values:
            result["mysql.values"] = list(self.values)
        return result

    @classmethod
    def from_avro_field(cls, avro_field: dict[str, Any]) -> ColumnSpec:
        return cls(
            name=avro_field["mysql.name"],
            kind=ColumnKind(avro_field["mysql.kind"]),
            length=avro_field.get("mysql.length", 0),
            precision=avro_field.get("mysql.precision", 0),
            scale=avro_field.get("mysql.scale", 0),
            fsp=avro_field.get("mysql.fsp", 0),
            values=tuple(avro_field.get("mysql.values", ())),
        )
