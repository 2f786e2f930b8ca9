"""Decoding the source's text bytes (producer/charsets.py): exactly the characters the source
says they are, or an error — never a substitute."""

from __future__ import annotations

from typing import Any

import pytest

from binlog_pipeline.core.dburl import DatabaseUrl
from binlog_pipeline.producer.charsets import (
    InvalidText,
    NotDecoded,
    SourceCharsets,
    UnsupportedCharset,
    charset_of_collation,
    read_by_source,
)

# Never connected to: Unicode charsets need no table from the source (the unit layer's conftest
# fails any connection).
NOWHERE = DatabaseUrl("192.0.2.1", 3306, "nobody", "")


@pytest.mark.parametrize(
    ("collation", "charset"),
    [
        ("latin1_bin", "latin1"),
        ("utf8mb4_uca1400_ai_ci", "utf8mb4"),
        ("binary", "binary"),
        ("", None),
        (None, None),
    ],
)
def test_charset_of_collation(collation: str | None, charset: str | None) -> None:
    """A collation's charset is its name's first part; binary is its own; none for no collation."""
    assert charset_of_collation(collation) == charset


@pytest.mark.parametrize(
    ("charset", "data", "text"),
    [
        ("utf8mb4", "f09f9880c3a9", "\U0001f600é"),
        ("utf8mb3", "c3a9", "é"),
        ("utf8", "c3a9", "é"),
        ("ucs2", "00e9", "é"),
        ("utf16", "d83dde00", "\U0001f600"),
        ("utf16le", "e900", "é"),
        ("utf32", "0001f600", "\U0001f600"),
    ],
)
def test_unicode_charsets(charset: str, data: str, text: str) -> None:
    """Each Unicode charset decodes in its one fixed encoding (UCS-2/UTF-16/UTF-32 big-endian)."""
    assert SourceCharsets(NOWHERE).decoder(charset)(bytes.fromhex(data)) == text


def test_bytes_that_are_no_text_are_an_error() -> None:
    """Invalid bytes raise InvalidText naming the bytes and the first bad one, shortened past 64."""
    decode = SourceCharsets(NOWHERE).decoder("utf8mb4")
    with pytest.raises(InvalidText) as raised:
        decode(b"ok\xff")
    assert str(raised.value) == (
        "bytes 6f6bff are not utf8mb4 text (byte 2: ff is no utf8mb4 character on the source)"
    )
    with pytest.raises(InvalidText, match=r"^bytes (61){64}… are not utf8mb4 text \(byte 70: ff"):
        decode(b"a" * 70 + b"\xff")


class TableCharsets(SourceCharsets):
    """The single-byte table as the source would give it: here 'A' for 0x41, 'é' for 0xe9, and no
    character for any other byte."""

    def __init__(self) -> None:
        super().__init__(NOWHERE)
        self.asked: list[str] = []

    def _single_byte_table(self, charset: str) -> str | None:
        self.asked.append(charset)
        table = ["\ufffe"] * 256
        table[0x41], table[0xE9] = "A", "é"
        return "".join(table)


def test_single_byte_charsets_decode_through_the_sources_table_once() -> None:
    """A single-byte charset decodes by the source's table, read once; an undefined byte is an
    error, not a substitute character."""
    charsets = TableCharsets()
    decode = charsets.decoder("latin1")
    assert decode(b"A\xe9") == "Aé"
    with pytest.raises(InvalidText, match=r"byte 1: 81 is no latin1 character on the source"):
        decode(b"A\x81")
    assert charsets.decoder("latin1") is decode
    assert charsets.asked == ["latin1"]


def test_a_name_the_server_cannot_have_is_unsupported_and_remembered() -> None:
    """A charset that is no plain name is refused without asking the source, the same way twice."""
    charsets = SourceCharsets(NOWHERE)
    for _ in range(2):
        with pytest.raises(
            UnsupportedCharset, match="character set x-y is not one this version decodes exactly"
        ):
            charsets.decoder("x-y")


def test_excluded_columns_are_never_decoded() -> None:
    """An excluded column's bytes are read past: any charset, any bytes, empty text."""
    assert NotDecoded().decoder("gbk")(b"\xff\xfe") == ""


class Cursor:
    def __init__(self, row: tuple[Any, ...]) -> None:
        self.row = row
        self.executed: list[tuple[str, tuple[Any, ...]]] = []

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> None:
        self.executed.append((sql, params))

    def fetchone(self) -> tuple[Any, ...]:
        return self.row


def test_read_by_source() -> None:
    """A multi-byte legacy text is read by the source: its characters, checked by converting back."""
    cur = Cursor(("中", "D6D0"))
    assert read_by_source(cur, b"\xd6\xd0", "gbk") == "中"
    assert cur.executed == [
        (
            "SELECT CONVERT(CONVERT(%s USING gbk) USING utf8mb4), "
            "HEX(CONVERT(CONVERT(CONVERT(%s USING gbk) USING utf8mb4) USING gbk))",
            (b"\xd6\xd0", b"\xd6\xd0"),
        )
    ]


def test_read_by_source_refuses_what_does_not_come_back() -> None:
    """Bytes the source reads as '?' (they do not convert back) are no text of the charset."""
    with pytest.raises(InvalidText, match="bytes d6ff are not gbk text"):
        read_by_source(Cursor(("?", "3F")), b"\xd6\xff", "gbk")


def test_read_by_source_puts_only_plain_names_in_sql() -> None:
    """A charset name that is no plain identifier never reaches SQL text."""
    cur = Cursor(("", ""))
    with pytest.raises(UnsupportedCharset):
        read_by_source(cur, b"x", "gbk) USING latin1; --")
    assert cur.executed == []
