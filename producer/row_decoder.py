"""Our own decoder of binlog row images, lossless where python-mysql-replication is not.

The library handles the replication protocol, events and table maps; for row events we read the
raw row bytes ourselves because the library turns zero dates, YEAR 0000 and the empty SET into
``None``/1900, strips BINARY padding, and hands back BIT as digit strings. Decoders are built
once per table map (a list of small closures), so the per-row loop does no type dispatch.
Values come out in the Avro form of :mod:`schemas.columns`; text (and ENUM/SET member names)
decodes as the source server maps its charset (:mod:`producer.charsets`).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from pymysqlreplication.constants import FIELD_TYPE

from binlog_pipeline.producer.charsets import (
    InvalidText,
    TextDecoder,
    TextDecoders,
    UnsupportedCharset,
    charset_of_collation,
)
from binlog_pipeline.producer.legacy_temporal import datetime_hires, time_hires, timestamp_hires
from binlog_pipeline.schemas.columns import ColumnKind, ColumnSpec

# A decoder reads one non-NULL value at ``offset`` and returns (value, new offset).
Decoder = Callable[[bytes, int], tuple[Any, int]]

_DIG2BYTES = (0, 1, 1, 2, 2, 3, 3, 4, 4, 4)
_U16 = struct.Struct("<H").unpack_from
_U32 = struct.Struct("<I").unpack_from
_FLOAT = struct.Struct("<f").unpack_from
_DOUBLE = struct.Struct("<d").unpack_from


class UnsupportedColumn(Exception):
    pass


class RowDecodeError(Exception):
    """A value of a row image could not be decoded: which column, and the values read before it
    (the key, when it comes first)."""

    def __init__(self, column: int, values: list[Any], cause: Exception) -> None:
        super().__init__(str(cause))
        self.column = column
        self.values = values
        self.cause = cause


def _int_decoder(size: int, signed: bool) -> Decoder:
    def decode(buf: bytes, pos: int) -> tuple[Any, int]:
        end = pos + size
        return int.from_bytes(buf[pos:end], "little", signed=signed), end

    return decode


def _uint64(buf: bytes, pos: int) -> tuple[Any, int]:
    return Decimal(int.from_bytes(buf[pos : pos + 8], "little")), pos + 8


def _float(buf: bytes, pos: int) -> tuple[Any, int]:
    return _FLOAT(buf, pos)[0], pos + 4


def _double(buf: bytes, pos: int) -> tuple[Any, int]:
    return _DOUBLE(buf, pos)[0], pos + 8


def _length_prefixed(size: int) -> Callable[[bytes, int], tuple[bytes, int]]:
    def read(buf: bytes, pos: int) -> tuple[bytes, int]:
        length = int.from_bytes(buf[pos : pos + size], "little")
        start = pos + size
        return buf[start : start + length], start + length

    return read


def _text(size: int, text: TextDecoder) -> Decoder:
    read = _length_prefixed(size)

    def decode(buf: bytes, pos: int) -> tuple[Any, int]:
        raw, end = read(buf, pos)
        return text(raw), end

    return decode


def _raw(size: int) -> Decoder:
    return _length_prefixed(size)


def _padded_binary(size: int, length: int) -> Decoder:
    # The binlog strips BINARY(n)'s trailing 0x00 bytes; the column value always has n bytes.
    read = _length_prefixed(size)

    def decode(buf: bytes, pos: int) -> tuple[Any, int]:
        raw, end = read(buf, pos)
        return raw.ljust(length, b"\x00"), end

    return decode


def _decimal(precision: int, scale: int) -> Decoder:
    intg = precision - scale
    intg0, intg0x = divmod(intg, 9)
    frac0, frac0x = divmod(scale, 9)
    size = intg0 * 4 + _DIG2BYTES[intg0x] + frac0 * 4 + _DIG2BYTES[frac0x]

    def decode(buf: bytes, pos: int) -> tuple[Any, int]:
        data = bytearray(buf[pos : pos + size])
        negative = not data[0] & 0x80
        data[0] ^= 0x80
        if negative:
            data = bytearray(b ^ 0xFF for b in data)
        cursor = 0
        parts: list[str] = []
        head = _DIG2BYTES[intg0x]
        if head:
            parts.append(str(int.from_bytes(data[:head], "big")))
            cursor = head
        for _ in range(intg0):
            parts.append(f"{int.from_bytes(data[cursor : cursor + 4], 'big'):09d}")
            cursor += 4
        fraction: list[str] = []
        for _ in range(frac0):
            fraction.append(f"{int.from_bytes(data[cursor : cursor + 4], 'big'):09d}")
            cursor += 4
        tail = _DIG2BYTES[frac0x]
        if tail:
            fraction.append(f"{int.from_bytes(data[cursor : cursor + tail], 'big'):0{frac0x}d}")
        text = ("-" if negative else "") + ("".join(parts) or "0")
        if scale:  # exactly ``scale`` fraction digits: the Avro decimal's scale is the column's
            text += "." + "".join(fraction)
        return Decimal(text), pos + size

    return decode


def _fraction(fsp: int) -> tuple[int, int]:
    """(bytes, multiplier to microseconds) of the fractional part for ``fsp`` digits."""
    size = (fsp + 1) // 2
    return size, (1, 10000, 100, 1)[size]


def _format_fraction(micros: int, fsp: int) -> str:
    return "." + f"{micros:06d}"[:fsp] if fsp else ""


def _date(buf: bytes, pos: int) -> tuple[Any, int]:
    value = int.from_bytes(buf[pos : pos + 3], "little")
    return f"{value >> 9:04d}-{(value >> 5) & 15:02d}-{value & 31:02d}", pos + 3


def _datetime2(fsp: int) -> Decoder:
    frac_size, multiplier = _fraction(fsp)

    def decode(buf: bytes, pos: int) -> tuple[Any, int]:
        packed = int.from_bytes(buf[pos : pos + 5], "big") - 0x8000000000
        ymd, hms = packed >> 17, packed & 0x1FFFF
        year_month = ymd >> 5
        text = (
            f"{year_month // 13:04d}-{year_month % 13:02d}-{ymd & 31:02d} "
            f"{hms >> 12:02d}:{(hms >> 6) & 63:02d}:{hms & 63:02d}"
        )
        end = pos + 5
        if frac_size:
            micros = int.from_bytes(buf[end : end + frac_size], "big") * multiplier
            text += _format_fraction(micros, fsp)
            end += frac_size
        return text, end

    return decode


def _datetime_v1(buf: bytes, pos: int) -> tuple[Any, int]:
    value = int.from_bytes(buf[pos : pos + 8], "little")
    date, time = divmod(value, 1000000)
    return (
        f"{date // 10000:04d}-{date // 100 % 100:02d}-{date % 100:02d} "
        f"{time // 10000:02d}:{time // 100 % 100:02d}:{time % 100:02d}",
        pos + 8,
    )


def _format_time(negative: bool, hours: int, minutes: int, seconds: int, micros: int, fsp: int) -> str:
    sign = "-" if negative else ""
    return f"{sign}{hours:02d}:{minutes:02d}:{seconds:02d}{_format_fraction(micros, fsp)}"


def _time2(fsp: int) -> Decoder:
    frac_size = (fsp + 1) // 2

    def decode(buf: bytes, pos: int) -> tuple[Any, int]:
        # MySQL's my_time_packed_from_binary: an offset-binary integer part, then a fraction
        # whose sign follows the integer part.
        if frac_size == 3:
            packed = int.from_bytes(buf[pos : pos + 6], "big") - 0x800000000000
        else:
            intpart = int.from_bytes(buf[pos : pos + 3], "big") - 0x800000
            frac = 0
            if frac_size == 1:
                frac = buf[pos + 3]
                if intpart < 0 and frac:
                    intpart += 1
                    frac -= 0x100
                frac *= 10000
            elif frac_size == 2:
                frac = int.from_bytes(buf[pos + 3 : pos + 5], "big")
                if intpart < 0 and frac:
                    intpart += 1
                    frac -= 0x10000
                frac *= 100
            packed = (intpart << 24) + frac
        negative = packed < 0
        packed = -packed if negative else packed
        hms, micros = packed >> 24, packed & 0xFFFFFF
        text = _format_time(negative, (hms >> 12) & 0x3FF, (hms >> 6) & 63, hms & 63, micros, fsp)
        return text, pos + 3 + frac_size

    return decode


def _time_v1(buf: bytes, pos: int) -> tuple[Any, int]:
    value = int.from_bytes(buf[pos : pos + 3], "little", signed=True)
    negative, value = value < 0, abs(value)
    return _format_time(negative, value // 10000, value // 100 % 100, value % 100, 0, 0), pos + 3


def _timestamp2(fsp: int) -> Decoder:
    frac_size, multiplier = _fraction(fsp)

    def decode(buf: bytes, pos: int) -> tuple[Any, int]:
        seconds = int.from_bytes(buf[pos : pos + 4], "big")
        micros = int.from_bytes(buf[pos + 4 : pos + 4 + frac_size], "big") * multiplier if frac_size else 0
        return seconds * 1_000_000 + micros, pos + 4 + frac_size

    return decode


def _timestamp_v1(buf: bytes, pos: int) -> tuple[Any, int]:
    return _U32(buf, pos)[0] * 1_000_000, pos + 4


def _year(buf: bytes, pos: int) -> tuple[Any, int]:
    value = buf[pos]
    return (value + 1900 if value else 0), pos + 1


def _enum(size: int, values: Sequence[str]) -> Decoder:
    def decode(buf: bytes, pos: int) -> tuple[Any, int]:
        index = int.from_bytes(buf[pos : pos + size], "little")
        return values[index], pos + size  # values[0] is '' (the invalid-value index)

    return decode


def _set(size: int, values: Sequence[str]) -> Decoder:
    def decode(buf: bytes, pos: int) -> tuple[Any, int]:
        mask = int.from_bytes(buf[pos : pos + size], "little")
        return ",".join(v for i, v in enumerate(values) if mask >> i & 1), pos + size

    return decode


def _bit(size: int) -> Decoder:
    def decode(buf: bytes, pos: int) -> tuple[Any, int]:
        return bytes(buf[pos : pos + size]), pos + size

    return decode


def _mysql_json(size: int) -> Decoder:
    """MySQL 5.7+/8 binary JSON (MariaDB's JSON is plain text and never reaches this)."""
    import json

    from pymysqlreplication.json_binary import parse_json

    read = _length_prefixed(size)

    def plain(value: Any) -> Any:
        if isinstance(value, bytes):
            return value.decode("utf8")
        if isinstance(value, dict):
            return {plain(k): plain(v) for k, v in value.items()}
        if isinstance(value, list):
            return [plain(v) for v in value]
        return value

    def decode(buf: bytes, pos: int) -> tuple[Any, int]:
        raw, end = read(buf, pos)
        if not raw:
            return "null", end
        return json.dumps(plain(parse_json(raw[0], raw[1:])), ensure_ascii=False), end

    return decode


def compile_column(column: Any, texts: TextDecoders, legacy_fsp: int = 0) -> tuple[ColumnSpec, Decoder]:
    """Map one table-map column (python-mysql-replication ``Column``) to its contract spec and
    its decoder; text (and ENUM/SET member names) decodes with ``texts`` in the column's charset.
    ``legacy_fsp``: the precision of a MariaDB 5.3 TIME/DATETIME/TIMESTAMP (the binlog does not
    carry it; see :mod:`producer.legacy_temporal`)."""
    t = column.type
    name = column.name
    charset = charset_of_collation(getattr(column, "collation_name", None))
    binary = charset == "binary"

    def text_decoder() -> TextDecoder:
        if charset is None:  # the library knows no collation of that id (it would say utf8)
            raise UnsupportedColumn(
                f"column {name!r} has a collation unknown to python-mysql-replication, so its charset "
                "(and the meaning of its bytes) is unknown"
            )
        try:
            return texts.decoder(charset)
        except UnsupportedCharset as exc:
            raise UnsupportedColumn(f"column {name!r}: {exc}") from exc

    def members(values: Any) -> tuple[str, ...]:
        decode = text_decoder()
        try:
            return tuple(decode(v) if isinstance(v, bytes) else v for v in values or ())
        except InvalidText as exc:
            raise UnsupportedColumn(f"column {name!r}: a member's {exc}") from exc

    if t in (FIELD_TYPE.TINY, FIELD_TYPE.SHORT, FIELD_TYPE.INT24, FIELD_TYPE.LONG):
        size = {FIELD_TYPE.TINY: 1, FIELD_TYPE.SHORT: 2, FIELD_TYPE.INT24: 3, FIELD_TYPE.LONG: 4}[t]
        return ColumnSpec(name, ColumnKind.INT), _int_decoder(size, not column.unsigned)
    if t == FIELD_TYPE.LONGLONG:
        if column.unsigned:
            return ColumnSpec(name, ColumnKind.UINT64), _uint64
        return ColumnSpec(name, ColumnKind.INT), _int_decoder(8, True)
    if t == FIELD_TYPE.FLOAT:
        return ColumnSpec(name, ColumnKind.FLOAT), _float
    if t == FIELD_TYPE.DOUBLE:
        return ColumnSpec(name, ColumnKind.DOUBLE), _double
    if t == FIELD_TYPE.NEWDECIMAL:
        spec = ColumnSpec(name, ColumnKind.DECIMAL, precision=column.precision, scale=column.decimals)
        return spec, _decimal(column.precision, column.decimals)
    if t in (FIELD_TYPE.VARCHAR, FIELD_TYPE.VAR_STRING, FIELD_TYPE.STRING):
        size = 2 if column.max_length > 255 else 1
        if binary and t == FIELD_TYPE.STRING:
            spec = ColumnSpec(name, ColumnKind.BINARY, length=column.max_length)
            return spec, _padded_binary(size, column.max_length)
        if binary:
            return ColumnSpec(name, ColumnKind.BYTES), _raw(size)
        return ColumnSpec(name, ColumnKind.STRING), _text(size, text_decoder())
    if t == FIELD_TYPE.ENUM:
        values = members(column.enum_values)  # [0] is '', the error value (see producer.table_map)
        return ColumnSpec(name, ColumnKind.ENUM, values=values[1:]), _enum(column.size, values)
    if t == FIELD_TYPE.SET:
        values = members(column.set_values)
        return ColumnSpec(name, ColumnKind.SET, values=values), _set(column.size, values)
    if t == FIELD_TYPE.BLOB:
        if binary:
            return ColumnSpec(name, ColumnKind.BYTES), _raw(column.length_size)
        return ColumnSpec(name, ColumnKind.STRING), _text(column.length_size, text_decoder())
    if t == FIELD_TYPE.GEOMETRY:
        return ColumnSpec(name, ColumnKind.GEOMETRY), _raw(column.length_size)
    if t == FIELD_TYPE.JSON:
        return ColumnSpec(name, ColumnKind.JSON), _mysql_json(column.length_size)
    if t in (FIELD_TYPE.DATE, FIELD_TYPE.NEWDATE):
        return ColumnSpec(name, ColumnKind.DATE), _date
    if t == FIELD_TYPE.DATETIME2:
        return ColumnSpec(name, ColumnKind.DATETIME, fsp=column.fsp), _datetime2(column.fsp)
    if t == FIELD_TYPE.DATETIME:
        if legacy_fsp:
            return ColumnSpec(name, ColumnKind.DATETIME, fsp=legacy_fsp), datetime_hires(legacy_fsp)
        return ColumnSpec(name, ColumnKind.DATETIME), _datetime_v1
    if t == FIELD_TYPE.TIME2:
        return ColumnSpec(name, ColumnKind.TIME, fsp=column.fsp), _time2(column.fsp)
    if t == FIELD_TYPE.TIME:
        if legacy_fsp:
            return ColumnSpec(name, ColumnKind.TIME, fsp=legacy_fsp), time_hires(legacy_fsp)
        return ColumnSpec(name, ColumnKind.TIME), _time_v1
    if t == FIELD_TYPE.TIMESTAMP2:
        return ColumnSpec(name, ColumnKind.TIMESTAMP, fsp=column.fsp), _timestamp2(column.fsp)
    if t == FIELD_TYPE.TIMESTAMP:
        if legacy_fsp:
            return ColumnSpec(name, ColumnKind.TIMESTAMP, fsp=legacy_fsp), timestamp_hires(legacy_fsp)
        return ColumnSpec(name, ColumnKind.TIMESTAMP), _timestamp_v1
    if t == FIELD_TYPE.YEAR:
        return ColumnSpec(name, ColumnKind.YEAR), _year
    if t == FIELD_TYPE.BIT:
        return ColumnSpec(name, ColumnKind.BIT, length=column.bytes), _bit(column.bytes)
    raise UnsupportedColumn(f"column {name!r} has binlog type {t}, which this version cannot decode")


class RowImageDecoder:
    """Decodes the full row images of one table map (binlog_row_image=FULL)."""

    def __init__(self, decoders: Sequence[Decoder], keep: Sequence[int] | None = None) -> None:
        """``keep``: positions of the columns to return (all when None); excluded columns are
        still read, since the row image is one byte stream."""
        self._decoders = list(decoders)
        self._count = len(decoders)
        self._bitmap_len = (self._count + 7) // 8
        self._keep = list(keep) if keep is not None else None

    def read_row(self, buf: bytes, pos: int) -> tuple[list[Any], int]:
        """One row image at ``pos``: its values (``None`` for NULL) and the next offset."""
        null_bitmap = buf[pos : pos + self._bitmap_len]
        pos += self._bitmap_len
        values: list[Any] = [None] * self._count
        for i, decode in enumerate(self._decoders):
            if null_bitmap[i >> 3] >> (i & 7) & 1:
                continue
            try:
                values[i], pos = decode(buf, pos)
            except (ValueError, IndexError) as exc:  # text not of its charset, an ENUM index past the members
                raise RowDecodeError(i, values, exc) from exc
        if self._keep is not None:
            values = [values[i] for i in self._keep]
        return values, pos

    def check_full_image(self, present: bytes) -> bool:
        """True when the columns-present bitmap covers every column (a FULL row image)."""
        full = (1 << self._count) - 1
        return int.from_bytes(present, "little") & full == full
