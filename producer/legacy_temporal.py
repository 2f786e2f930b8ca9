"""MariaDB's pre-10.1 TIME/DATETIME/TIMESTAMP with fractional seconds (``time(3) /* mariadb-5.3 */``).

Tables created before MariaDB 10.1.2 (or with ``mysql56_temporal_format=OFF``) keep MariaDB 5.3's
"hires" formats. The binlog logs them under the classic type codes (TIME, DATETIME, TIMESTAMP) with
no metadata, so the row image alone does not say how many bytes a value takes: the precision is
read from ``information_schema`` when such a table's map is compiled (which, like the recorded
CREATE TABLE, reflects the table's definition when the producer reads it). Formats, from MariaDB's
``Field_time_hires``, ``Field_datetime_hires`` and ``Field_timestamp_hires``: big-endian integers
in units of 10^-fsp seconds (TIME offset by its zero point, so negative times sort first).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from binlog_pipeline.core.dburl import DatabaseUrl
from binlog_pipeline.producer.source_check import connect

Decoder = Callable[[bytes, int], tuple[Any, int]]

_TIME_BYTES = (3, 4, 4, 5, 5, 5, 6)
_DATETIME_BYTES = (5, 6, 6, 7, 7, 7, 8)
_TIME_MAX_SECONDS = 3020399  # 838:59:59


def _fraction(micros: int, fsp: int) -> str:
    return "." + f"{micros:06d}"[:fsp]


def time_hires(fsp: int) -> Decoder:
    size, unit = _TIME_BYTES[fsp], 10 ** (6 - fsp)
    zero = (_TIME_MAX_SECONDS + 1) * 10**fsp

    def decode(buf: bytes, pos: int) -> tuple[Any, int]:
        packed = int.from_bytes(buf[pos : pos + size], "big") - zero
        sign, micros = ("-" if packed < 0 else ""), abs(packed) * unit
        seconds, micros = divmod(micros, 1_000_000)
        hours, rest = divmod(seconds, 3600)
        text = f"{sign}{hours:02d}:{rest // 60:02d}:{rest % 60:02d}{_fraction(micros, fsp)}"
        return text, pos + size

    return decode


def datetime_hires(fsp: int) -> Decoder:
    size, unit = _DATETIME_BYTES[fsp], 10 ** (6 - fsp)

    def decode(buf: bytes, pos: int) -> tuple[Any, int]:
        packed, micros = divmod(int.from_bytes(buf[pos : pos + size], "big") * unit, 1_000_000)
        packed, second = divmod(packed, 60)
        packed, minute = divmod(packed, 60)
        packed, hour = divmod(packed, 24)
        packed, day = divmod(packed, 32)
        year, month = divmod(packed, 13)
        text = (
            f"{year:04d}-{month:02d}-{day:02d} {hour:02d}:{minute:02d}:{second:02d}{_fraction(micros, fsp)}"
        )
        return text, pos + size

    return decode


def timestamp_hires(fsp: int) -> Decoder:
    fraction, unit = (fsp + 1) // 2, 10 ** (6 - fsp)

    def decode(buf: bytes, pos: int) -> tuple[Any, int]:
        seconds = int.from_bytes(buf[pos : pos + 4], "big")
        part = int.from_bytes(buf[pos + 4 : pos + 4 + fraction], "big")
        return seconds * 1_000_000 + part * unit, pos + 4 + fraction

    return decode


class LegacyPrecisions:
    """The precision of a table's MariaDB 5.3 temporal columns, read from the source."""

    def __init__(self, url: DatabaseUrl) -> None:
        self._url = url

    def of(self, database: str, table: str) -> dict[str, int]:
        """Column name -> fractional digits, for the table's MariaDB 5.3 temporal columns."""
        conn = connect(self._url)
        try:
            with conn.cursor() as cur:
                cur.execute(
                    "SELECT COLUMN_NAME, DATETIME_PRECISION FROM information_schema.COLUMNS "
                    "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s AND COLUMN_TYPE LIKE %s",
                    (database, table, "%mariadb-5.3%"),
                )
                return {str(name): int(fsp or 0) for name, fsp in cur.fetchall()}
        finally:
            conn.close()
