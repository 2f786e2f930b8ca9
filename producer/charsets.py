"""MySQL/MariaDB character sets as Python codecs, for text the server hands over as raw bytes in
the charset of the session that wrote it (a Query event's statement)."""

from __future__ import annotations

import codecs

# MySQL's latin1 is cp1252, except that the five bytes cp1252 leaves undefined map to the C1
# control characters of the same value (as in ISO-8859-1) instead of being errors.
_MYSQL_LATIN1 = "".join(bytes([b]).decode("cp1252", errors="ignore") or chr(b) for b in range(256))

# MySQL name → Python codec. Client character sets only: ucs2/utf16/utf32 cannot be one.
_CODECS = {
    "utf8mb4": "utf-8",
    "utf8mb3": "utf-8",
    "utf8": "utf-8",
    "ascii": "ascii",
    "latin2": "iso8859_2",
    "latin5": "iso8859_9",
    "latin7": "iso8859_13",
    "greek": "iso8859_7",
    "hebrew": "iso8859_8",
    "cp1250": "cp1250",
    "cp1251": "cp1251",
    "cp1256": "cp1256",
    "cp1257": "cp1257",
    "cp850": "cp850",
    "cp852": "cp852",
    "cp866": "cp866",
    "koi8r": "koi8_r",
    "koi8u": "koi8_u",
    "macroman": "mac_roman",
    "macce": "mac_latin2",
    "tis620": "tis_620",
    "big5": "big5",
    "gbk": "gbk",
    "gb2312": "gb2312",
    "gb18030": "gb18030",
    "sjis": "shift_jis",
    "cp932": "cp932",
    "ujis": "euc_jp",
    "euckr": "euc_kr",
}


class UnsupportedCharset(Exception):
    """Text in a character set we cannot decode exactly."""


def decode(raw: bytes, charset: str) -> str:
    """``raw`` as text; raises :class:`UnsupportedCharset` rather than guess."""
    if charset == "latin1":
        return codecs.charmap_decode(raw, "strict", _MYSQL_LATIN1)[0]
    codec = _CODECS.get(charset)
    if codec is None:
        raise UnsupportedCharset(f"no exact decoder for character set {charset!r}")
    try:
        return raw.decode(codec)
    except UnicodeDecodeError as exc:
        raise UnsupportedCharset(f"bytes that are not valid {charset}: {exc}") from exc
