"""MariaDB 5.3 TIME/DATETIME/TIMESTAMP with fractional seconds (producer/legacy_temporal.py).

The bytes are MariaDB's own stores (``Field_time_hires``, ``Field_datetime_hires``,
``Field_timestamp_hires`` in sql/field.cc), worked out from their formulas: big-endian integers
in units of 10^-fsp s; TIME offset by (838:59:59 + 1 s), DATETIME packed as
((((year·13 + month)·32 + day)·24 + hour)·60 + minute)·60 + second, TIMESTAMP as 4 bytes of
seconds plus (fsp + 1) // 2 bytes of fraction."""

from __future__ import annotations

import pytest

from binlog_pipeline.producer.legacy_temporal import datetime_hires, time_hires, timestamp_hires


@pytest.mark.parametrize(
    ("fsp", "stored", "text"),
    [
        (3, "00b3d0b50c", "-01:00:00.500"),
        (6, "057e7bbcf7ff", "838:59:59.999999"),
        (1, "01cce060", "00:00:00.0"),
        (1, "00000001", "-838:59:59.9"),
    ],
)
def test_time(fsp: int, stored: str, text: str) -> None:
    """TIME reads as MySQL prints it, negative and beyond 24 hours included."""
    data = b"\xaa" + bytes.fromhex(stored) + b"\xbb"
    assert time_hires(fsp)(data, 1) == (text, 1 + len(stored) // 2)


@pytest.mark.parametrize(
    ("fsp", "stored", "text"),
    [
        (4, "0295b530b186b2", "2024-02-29 23:59:58.1234"),
        (2, "000000000000", "0000-00-00 00:00:00.00"),
        (6, "00ff655bfbac0005", "2000-01-00 00:00:00.000005"),
        (5, "7fb16c205fffff", "9999-12-31 23:59:59.99999"),
    ],
)
def test_datetime(fsp: int, stored: str, text: str) -> None:
    """DATETIME reads as MySQL prints it, zero and partial dates included."""
    data = b"\xaa" + bytes.fromhex(stored)
    assert datetime_hires(fsp)(data, 1) == (text, len(data))


@pytest.mark.parametrize(
    ("fsp", "stored", "micros"),
    [
        (6, "6553f10001e240", 1_700_000_000_123_456),
        (1, "0000000105", 1_500_000),
        (3, "000000000000", 0),
    ],
)
def test_timestamp(fsp: int, stored: str, micros: int) -> None:
    """TIMESTAMP reads as microseconds since the epoch (0 is the zero timestamp)."""
    data = bytes.fromhex(stored) + b"\xbb"
    assert timestamp_hires(fsp)(data, 0) == (micros, len(data) - 1)
