"""The source's text bytes as the characters the source server itself says they are: row values
(binlog and snapshot), ENUM/SET member names (kept as bytes by :mod:`producer.table_map`) and
Query statements in their client's charset (:mod:`producer.query_session`) all decode here.

The applier writes characters and the target converts them back to the column's charset with the
server's own tables, so a byte decoded to any other character than the server's comes back as a
different byte (CHECKSUM TABLE differs) or as ``?``. Python's codecs are therefore not trusted by
name: MySQL's latin1 is cp1252 plus five C1 controls, its cp866, greek, hebrew, koi8u, tis620 and
cp1256 differ from Python's in a few bytes, and armscii8, dec8, hp8, keybcs2, swe7 and geostd8 have
no Python codec at all. So:

- single-byte charsets decode through a 256-entry table read from the source once per charset:
  each byte converted to utf8mb4 and back; a byte that does not come back unchanged is no
  character of the charset, and decoding it is an error, never a substitute;
- Unicode charsets (utf8mb3, utf8mb4, ucs2, utf16, utf16le, utf32) have one fixed encoding, which
  Python's codec for it decodes strictly;
- multi-byte legacy charsets (big5, sjis, cp932, gbk, gb2312, gb18030, euckr, ujis, eucjpms) have
  no decoder: no table of ours is known to match the server's for every sequence. Their column
  values are refused with the fix; a rare text such as a statement from such a client is read by
  the source itself instead (:func:`read_by_source`, one round trip each), with the same check.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable
from typing import Any, Protocol

from binlog_pipeline.core.dburl import DatabaseUrl
from binlog_pipeline.producer.source_check import connect

TextDecoder = Callable[[bytes], str]

_UNICODE = {
    "utf8mb4": "utf-8",
    "utf8mb3": "utf-8",
    "utf8": "utf-8",  # the older name of utf8mb3
    "ucs2": "utf-16-be",
    "utf16": "utf-16-be",
    "utf16le": "utf-16-le",
    "utf32": "utf-32-be",
}
_UNDEFINED = "\ufffe"  # codecs.charmap_decode's mark for a byte that is no character


class UnsupportedCharset(Exception):
    """The producer cannot decode this charset exactly."""


class InvalidText(ValueError):
    """A column's bytes are not text of its charset."""


class TextDecoders(Protocol):
    def decoder(self, charset: str) -> TextDecoder: ...


def charset_of_collation(collation: str | None) -> str | None:
    """A collation's charset: every collation name starts with its charset's (``latin1_bin``,
    ``utf8mb4_uca1400_ai_ci``); ``binary`` is its own. None for an unknown collation."""
    if not collation:
        return None
    return collation if collation == "binary" else collation.split("_", 1)[0]


class SourceCharsets:
    """Text decoders for the source's charsets; single-byte tables are read from the source on
    first use (one short connection each) and kept."""

    def __init__(self, url: DatabaseUrl) -> None:
        self._url = url
        self._decoders: dict[str, TextDecoder] = {}
        self._refused: dict[str, str] = {}  # charset → why; asked once, not at every gbk statement

    def decoder(self, charset: str) -> TextDecoder:
        """The decoder of ``charset`` (the server's name); raises :class:`UnsupportedCharset`."""
        found = self._decoders.get(charset)
        if found is None:
            if charset in self._refused:
                raise UnsupportedCharset(self._refused[charset])
            try:
                found = self._decoders[charset] = self._build(charset)
            except UnsupportedCharset as exc:
                self._refused[charset] = str(exc)
                raise
        return found

    def _build(self, charset: str) -> TextDecoder:
        codec = _UNICODE.get(charset)
        if codec is not None:
            return _unicode(charset, codec)
        table = self._single_byte_table(charset) if re.fullmatch(r"[a-z0-9]+", charset) else None
        if table is None:
            raise UnsupportedCharset(
                f"character set {charset} is not one this version decodes exactly (single-byte charsets "
                "and utf8mb3, utf8mb4, ucs2, utf16, utf16le, utf32 are)"
            )
        return _single_byte(charset, table)

    def _single_byte_table(self, charset: str) -> str | None:
        """The 256 characters of a single-byte charset, :data:`_UNDEFINED` where a byte is none;
        None when the charset is not single-byte (or unknown to the server)."""
        conn = connect(self._url)
        try:
            with conn.cursor() as cur:
                cur.execute(
                    "SELECT MAXLEN FROM information_schema.CHARACTER_SETS WHERE CHARACTER_SET_NAME = %s",
                    (charset,),
                )
                row = cur.fetchone()
                if row is None or int(row[0]) != 1:
                    return None
                # The identifier cannot be a parameter; it is one the server just listed.
                cur.execute(
                    "SELECT " + ", ".join(_through_source(f"x'{b:02x}'", charset) for b in range(256))
                )
                values = cur.fetchone()
        finally:
            conn.close()
        table = []
        for byte in range(256):
            char, back = values[2 * byte], values[2 * byte + 1]
            ok = isinstance(char, str) and len(char) == 1 and back == f"{byte:02X}"
            table.append(char if ok else _UNDEFINED)
        return "".join(table)


def read_by_source(cur: Any, data: bytes, charset: str) -> str:
    """``data`` as the source itself reads it in ``charset``, for a charset without a decoder here
    (multi-byte legacy ones): one round trip per text, so for rare text (a statement), never per
    row value. Raises :class:`InvalidText` when the bytes are no text of ``charset``."""
    if not re.fullmatch(r"[a-z0-9]+", charset):  # an identifier in SQL: only names the server uses
        raise UnsupportedCharset(f"character set {charset!r} is not one the source names")
    cur.execute("SELECT " + _through_source("%s", charset), (data, data))
    text, back = cur.fetchone()
    if not isinstance(text, str) or back != data.hex().upper():
        # The server reads bytes that are no character as '?' (silently): they do not come back.
        raise InvalidText(
            f"bytes {data[:64].hex()}{'…' if len(data) > 64 else ''} are not {charset} text "
            "(the source does not read them back unchanged)"
        )
    return text


def _through_source(value: str, charset: str) -> str:
    """SQL reading the binary string ``value`` as ``charset``: its characters, then (in hex) the
    bytes those characters are in ``charset`` — equal to ``value`` only if it is text of it."""
    text = f"CONVERT(CONVERT({value} USING {charset}) USING utf8mb4)"
    return f"{text}, HEX(CONVERT({text} USING {charset}))"


def _unicode(charset: str, codec: str) -> TextDecoder:
    def text(data: bytes) -> str:
        try:
            return data.decode(codec)
        except UnicodeDecodeError as exc:
            raise _invalid(charset, data, exc) from None

    return text


def _single_byte(charset: str, table: str) -> TextDecoder:
    def text(data: bytes) -> str:
        try:
            return codecs.charmap_decode(data, "strict", table)[0]
        except UnicodeDecodeError as exc:
            raise _invalid(charset, data, exc) from None

    return text


def _invalid(charset: str, data: bytes, exc: UnicodeDecodeError) -> InvalidText:
    return InvalidText(
        f"bytes {data[:64].hex()}{'…' if len(data) > 64 else ''} are not {charset} text "
        f"(byte {exc.start}: {data[exc.start : exc.start + 1].hex()} is no {charset} character on the source)"
    )


class NotDecoded:
    """For columns left out with exclude_columns: read past, never decoded, so their charset
    never stops the producer."""

    def decoder(self, charset: str) -> TextDecoder:
        return _nothing


def _nothing(data: bytes) -> str:
    return ""


def convert_or_exclude(database: str, table: str, column: str) -> str:
    """The fix for a column whose charset the producer cannot decode."""
    return (
        f"Convert the column on the source (e.g. ALTER TABLE {database}.{table} CONVERT TO CHARACTER SET "
        f'utf8mb4) or leave it out with exclude_columns = ["{database}.{table}.{column}"]'
    )


def exclude_then_correct(database: str, table: str, column: str) -> str:
    """The fix for a value that is not text of its column's charset."""
    where = f"{database}.{table}"
    return (
        f'To pass it, leave the column out (exclude_columns = ["{where}.{column}"]) and restart; to keep '
        "the column, correct it on the source (a charset that holds these bytes, or VARBINARY/BLOB), "
        f"drop the exclusion and re-snapshot the table (binlog-pipeline snapshot --table {where})"
    )
