"""A catalogue of MySQL/MariaDB column definitions across the type space, each with values as SQL
literals: the deterministic edges of every kind's parameters (:func:`edge_definitions`), every
DECIMAL(p,s) (:func:`decimal_sweep`) and a hypothesis strategy over the whole space
(:func:`definitions`). Values are written as literals in the column's own encoding
(``_cp1251 x'c0'``, ``x'00ff'``, ``b'101'``), so what the source stores is exactly what the test
chose, with no client-side conversion in between.
"""

from __future__ import annotations

import json
import random
import struct
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from hypothesis import strategies as st

Generator = Callable[[random.Random], str]

# The server's own charset names; Python's codec for the Unicode ones (the test encodes values
# itself, so each is written as the bytes the column stores).
UNICODE_CODECS = {
    "utf8mb4": "utf-8",
    "utf8mb3": "utf-8",
    "ucs2": "utf-16-be",
    "utf16": "utf-16-be",
    "utf16le": "utf-16-le",
    "utf32": "utf-32-be",
}
BMP_ONLY = {"utf8mb3", "ucs2"}
# Every single-byte charset MariaDB has; which of their bytes stand for a character is the
# server's answer (a :data:`Repertoires` the test reads from it), not a table of ours.
SINGLE_BYTE = (
    "armscii8",
    "ascii",
    "cp1250",
    "cp1251",
    "cp1256",
    "cp1257",
    "cp850",
    "cp852",
    "cp866",
    "dec8",
    "geostd8",
    "greek",
    "hebrew",
    "hp8",
    "keybcs2",
    "koi8r",
    "koi8u",
    "latin1",
    "latin2",
    "latin5",
    "latin7",
    "macce",
    "macroman",
    "swe7",
    "tis620",
)

Repertoires = Mapping[str, tuple[int, ...]]  # single-byte charset -> bytes that are a character


@dataclass(frozen=True)
class Definition:
    """One column type with its values. ``inline_bytes``/``row_bytes``: worst cases toward
    InnoDB's in-page record limit and the server's 65,535-byte row limit (for packing columns into
    tables); ``lenient``: values only ``INSERT IGNORE`` stores (ENUM's error value)."""

    sql: str
    edges: tuple[str, ...] = field(repr=False)
    generate: Generator = field(repr=False, compare=False)
    inline_bytes: int = field(repr=False)
    row_bytes: int = field(repr=False)
    lenient: tuple[str, ...] = field(default=(), repr=False)

    def value(self, rng: random.Random) -> str:
        """A random value, an edge one time in five."""
        return rng.choice(self.edges) if rng.random() < 0.2 else self.generate(rng)


def _fixed(sql: str, size: int, edges: Sequence[object], generate: Generator) -> Definition:
    return Definition(sql, tuple(str(e) for e in edges), generate, size, size)


# --- numbers ----------------------------------------------------------------------------------
_INT_BYTES = {"TINYINT": 1, "SMALLINT": 2, "MEDIUMINT": 3, "INT": 4, "BIGINT": 8}


def integer(name: str, unsigned: bool, display: str = "") -> Definition:
    bits = _INT_BYTES[name] * 8
    low, high = (0, 2**bits - 1) if unsigned else (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
    edges = sorted({low, low + 1, 0, 1, high - 1, high} | (set() if unsigned else {-1}))
    sql = f"{name}{display}{' UNSIGNED' if unsigned else ''}"
    return _fixed(sql, _INT_BYTES[name], edges, lambda rng: str(rng.randint(low, high)))


_FLT_MAX = struct.unpack("<f", b"\xff\xff\x7f\x7f")[0]
_FLT_MIN = struct.unpack("<f", b"\x00\x00\x80\x00")[0]  # smallest normal
_FLT_TRUE_MIN = struct.unpack("<f", b"\x01\x00\x00\x00")[0]  # smallest subnormal


def _random_float32(rng: random.Random) -> float:
    bits = rng.getrandbits(32)
    if (bits >> 23) & 0xFF == 0xFF:  # NaN or infinity: not storable
        bits &= ~(1 << 30)
    value: float = struct.unpack("<f", bits.to_bytes(4, "little"))[0]
    return value


def float32(unsigned: bool = False) -> Definition:
    edges = [0.0, 1.0, _FLT_MAX, _FLT_MIN, _FLT_TRUE_MIN, 0.1, 16777217.0]
    if not unsigned:
        edges += [-1.0, -_FLT_MAX, -_FLT_MIN, -_FLT_TRUE_MIN]

    def generate(rng: random.Random) -> str:
        value = _random_float32(rng)
        return repr(abs(value) if unsigned else value)

    return _fixed("FLOAT UNSIGNED" if unsigned else "FLOAT", 4, [repr(e) for e in edges], generate)


def float64(unsigned: bool = False) -> Definition:
    edges = [0.0, 1.0, 1.7976931348623157e308, 2.2250738585072014e-308, 5e-324, 0.1]
    if not unsigned:
        edges += [-1.0, -1.7976931348623157e308, -5e-324]

    def generate(rng: random.Random) -> str:
        bits = rng.getrandbits(64)
        if (bits >> 52) & 0x7FF == 0x7FF:  # NaN or infinity: not storable
            bits &= ~(1 << 62)
        value: float = struct.unpack("<d", bits.to_bytes(8, "little"))[0]
        return repr(abs(value) if unsigned else value)

    return _fixed("DOUBLE UNSIGNED" if unsigned else "DOUBLE", 8, [repr(e) for e in edges], generate)


def fixed_point_float(sql: str, precision: int, scale: int, size: int) -> Definition:
    """FLOAT(M,D) / DOUBLE(M,D): values with at most D decimals inside M digits."""
    top = 10**precision - 1

    def literal(unscaled: int) -> str:
        return _decimal_literal(unscaled, scale)

    return _fixed(
        sql,
        size,
        [literal(0), literal(top), literal(-top), literal(1)],
        lambda rng: literal(rng.randint(-top, top)),
    )


def _decimal_literal(unscaled: int, scale: int) -> str:
    digits = str(abs(unscaled)).rjust(scale + 1, "0")
    text = f"{digits[:-scale]}.{digits[-scale:]}" if scale else digits
    return ("-" if unscaled < 0 else "") + text


def decimal_bytes(precision: int, scale: int) -> int:
    dig2bytes = (0, 1, 1, 2, 2, 3, 3, 4, 4, 4)
    intg, frac = precision - scale, scale
    return intg // 9 * 4 + dig2bytes[intg % 9] + frac // 9 * 4 + dig2bytes[frac % 9]


def decimal(precision: int, scale: int, unsigned: bool = False) -> Definition:
    top = 10**precision - 1
    low = 0 if unsigned else -top
    edges = {top, low, 0, 1, 10 ** (precision - 1), top - top % 10**scale}
    if not unsigned:
        edges |= {-1, -(10 ** (precision - 1))}
    if precision > scale:
        edges |= {10**scale, (10**precision - 1) // 10**scale * 10**scale}  # 1 and the largest integer
    sql = f"DECIMAL({precision},{scale}){' UNSIGNED' if unsigned else ''}"
    size = decimal_bytes(precision, scale)
    return _fixed(
        sql,
        size,
        [_decimal_literal(e, scale) for e in sorted(edges)],
        lambda rng: _decimal_literal(rng.randint(low, top), scale),
    )


def bit(width: int) -> Definition:
    edges = sorted({0, 1, 2 ** (width - 1), 2**width - 1, 0x55555555_55555555 & (2**width - 1)})
    return _fixed(
        f"BIT({width})",
        (width + 7) // 8,
        [f"b'{e:b}'" for e in edges],
        lambda rng: f"b'{rng.getrandbits(width):b}'",
    )


# --- strings ----------------------------------------------------------------------------------
def _width(charset: str | None) -> int:
    if charset is None or charset in SINGLE_BYTE:
        return 1
    return {"utf8mb3": 3, "ucs2": 2}.get(charset, 4)


def _literal(charset: str | None, data: bytes) -> str:
    """``data`` as the column stores it: an introducer for text, a plain hex literal for bytes."""
    if not data:
        return "''"
    return f"x'{data.hex()}'" if charset is None else f"_{charset} x'{data.hex()}'"


class Alphabet:
    """The characters of a charset, as the bytes the column stores for each."""

    def __init__(self, charset: str | None, repertoires: Repertoires) -> None:
        self.charset = charset
        if charset is None:
            self.widest = b"\xff"
            self._single = tuple(range(256))
        elif charset in SINGLE_BYTE:
            self._single = repertoires[charset]
            self.widest = bytes([max(self._single)])
        else:
            self._single = ()
            codec = UNICODE_CODECS[charset]
            self.widest = ("€" if charset in BMP_ONLY else "😀").encode(codec)

    def char(self, rng: random.Random) -> bytes:
        if self._single:
            return bytes([rng.choice(self._single)])
        assert self.charset is not None
        top = 0xFFFF if self.charset in BMP_ONLY else 0x10FFFF
        band = rng.random()
        if band < 0.5:
            code = rng.randint(0x20, 0x7E)
        elif band < 0.6:
            code = rng.randint(0, 0x1F)
        elif band < 0.8:
            code = rng.randint(0x80, 0x7FF)
        else:
            code = rng.randint(0x800, top)
        if 0xD800 <= code <= 0xDFFF:  # surrogates are not characters
            code = 0xFFFD
        return chr(code).encode(UNICODE_CODECS[self.charset])

    def text(self, rng: random.Random, chars: int) -> bytes:
        return b"".join(self.char(rng) for _ in range(chars))


def _pick_length(rng: random.Random, chars: int) -> int:
    roll = rng.random()
    if roll < 0.15:
        return chars
    if roll < 0.25:
        return 0
    return rng.randint(0, min(chars, 40))


def string(
    kind: str, chars: int, charset: str | None, repertoires: Repertoires, collation: str = ""
) -> Definition:
    """CHAR/VARCHAR(n) in ``charset``, BINARY/VARBINARY(n) for ``charset`` None. Edges: empty,
    full with the widest character (the length prefix is 1 byte up to 255 *bytes*), full with the
    narrowest, trailing spaces and zero bytes."""
    alphabet = Alphabet(charset, repertoires)
    width = _width(charset)
    text_kind = charset is not None
    sql = f"{kind}({chars})"
    if text_kind:
        sql += f" CHARACTER SET {charset}" + (f" COLLATE {collation}" if collation else "")
    # the narrowest character, and the one the server pads CHAR with (BINARY: 0x00)
    space = b"\x00" if charset is None else " ".encode(UNICODE_CODECS.get(charset, "latin1"))
    narrow = b"\x01" if charset is None else "a".encode(UNICODE_CODECS.get(charset, "latin1"))
    edges = [b"", alphabet.widest * chars, narrow * chars]
    if chars >= 2:
        edges += [alphabet.widest + space, space + alphabet.widest, narrow + space * (chars - 1)]
    max_bytes = chars * width
    variable = kind.startswith("VAR")
    # in the page up to 255 bytes (plus a 1-byte length when variable), else possibly off-page
    inline = max_bytes + variable if max_bytes <= 255 else 22
    return Definition(
        sql,
        tuple(dict.fromkeys(_literal(charset, e) for e in edges)),
        lambda rng: _literal(charset, alphabet.text(rng, _pick_length(rng, chars))),
        inline,
        max_bytes + (2 if variable else 0),
    )


def every_character(charset: str, repertoires: Repertoires) -> Definition:
    """VARCHAR(256) of a single-byte charset holding each of its characters (in both orders): the
    decoder must map every byte to the very character the server does."""
    characters = bytes(repertoires[charset])
    return Definition(
        f"VARCHAR(256) CHARACTER SET {charset}",
        (_literal(charset, characters), _literal(charset, characters[::-1])),
        lambda rng: _literal(charset, bytes(rng.sample(characters, len(characters)))),
        22,
        258,
    )


_TEXT_BYTES = {"TINY": 255, "": 65535, "MEDIUM": 2**24 - 1, "LONG": 2**32 - 1}


def lob(size: str, charset: str | None, repertoires: Repertoires) -> Definition:
    """TINYTEXT…LONGTEXT in ``charset``, TINYBLOB…LONGBLOB for None. The large edge passes 65,535
    bytes where the length prefix has room for it (3 and 4 bytes)."""
    alphabet = Alphabet(charset, repertoires)
    limit = _TEXT_BYTES[size]
    big = min(limit, 70_000) // len(alphabet.widest)
    sql = f"{size}{'TEXT' if charset else 'BLOB'}" + (f" CHARACTER SET {charset}" if charset else "")
    edges = [b"", alphabet.widest * big, alphabet.text(random.Random(1), 3)]
    return Definition(
        sql,
        tuple(_literal(charset, e) for e in edges),
        lambda rng: _literal(
            charset, alphabet.text(rng, rng.randint(0, min(300, limit // len(alphabet.widest))))
        ),
        22,
        12,
    )


def _members(count: int, charset: str, repertoires: Repertoires, commas: bool) -> list[bytes]:
    """Distinct members (by any collation: each starts with its own index), some with quotes,
    backslashes, a line break, commas (ENUM only), inner spaces and the charset's widest character
    in the BMP: MariaDB prints a member's characters beyond it as '?' in SHOW CREATE TABLE and
    information_schema, so a target created from that definition cannot hold them (a known limit)."""
    alphabet = Alphabet(charset, repertoires)
    codec = UNICODE_CODECS.get(charset, "latin1")
    widest = "€".encode(codec) if codec != "latin1" else alphabet.widest
    specials = ["'", "\\", " x", ",y" if commas else "y", "", "\n"]
    members = []
    for i in range(count):
        head = f"m{i}".encode(codec)
        tail = specials[i % len(specials)].encode(codec) + (widest if i % 3 == 0 else b"")
        members.append(head + tail)
    return members


def _member_list(members: list[bytes]) -> str:
    return ",".join(f"x'{m.hex()}'" for m in members)


def enum(count: int, charset: str, repertoires: Repertoires) -> Definition:
    """ENUM with ``count`` members (2-byte index above 255); values by index, 0 is the error value."""
    members = _members(count, charset, repertoires, commas=True)
    size = 1 if count < 256 else 2
    edges = sorted({1, count, min(count, 255), min(count, 256)})
    return Definition(
        f"ENUM({_member_list(members)}) CHARACTER SET {charset}",
        tuple(map(str, edges)),
        lambda rng: str(rng.randint(1, count)),
        size,
        size,
        lenient=("0",),
    )


def set_of(count: int, charset: str, repertoires: Repertoires) -> Definition:
    """SET with ``count`` members (1, 2, 3, 4 or 8 bytes); values as bit masks."""
    members = _members(count, charset, repertoires, commas=False)
    size = {1: 1, 2: 2, 3: 3, 4: 4}.get((count + 7) // 8, 8)
    full = 2**count - 1
    edges = sorted({0, 1, full, 2 ** (count - 1), full & 0x5555555555555555})
    return Definition(
        f"SET({_member_list(members)}) CHARACTER SET {charset}",
        tuple(map(str, edges)),
        lambda rng: str(rng.getrandbits(count)),
        size,
        size,
    )


# --- dates and times --------------------------------------------------------------------------
def _fraction(rng: random.Random, fsp: int) -> str:
    return "." + "".join(rng.choice("0123456789") for _ in range(fsp)) if fsp else ""


def _nines(fsp: int) -> str:
    return "." + "9" * fsp if fsp else ""


def _random_date(rng: random.Random, low: date, high: date) -> date:
    return low + timedelta(days=rng.randint(0, (high - low).days))


def date_type() -> Definition:
    edges = ["0000-00-00", "1000-01-01", "9999-12-31", "2000-00-00", "2000-01-00", "0000-01-01", "2024-02-29"]

    def generate(rng: random.Random) -> str:
        return f"'{_random_date(rng, date(1000, 1, 1), date(9999, 12, 31)).isoformat()}'"

    return _fixed("DATE", 3, [f"'{e}'" for e in edges], generate)


def datetime_type(fsp: int) -> Definition:
    edges = [
        "0000-00-00 00:00:00",
        "1000-01-01 00:00:00",
        f"9999-12-31 23:59:59{_nines(fsp)}",
        f"2000-00-00 12:34:56{_nines(fsp)}",
        "2000-02-29 00:00:00" + ("." + "0" * (fsp - 1) + "1" if fsp else ""),
    ]

    def generate(rng: random.Random) -> str:
        day = _random_date(rng, date(1000, 1, 1), date(9999, 12, 31))
        clock = f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}"
        return f"'{day.isoformat()} {clock}{_fraction(rng, fsp)}'"

    return _fixed(f"DATETIME({fsp})", 5 + (fsp + 1) // 2, [f"'{e}'" for e in edges], generate)


def timestamp_type(fsp: int) -> Definition:
    """Literals are UTC: the test writes with time_zone='+00:00'."""
    edges = [
        "0000-00-00 00:00:00",
        "1970-01-01 00:00:01",
        f"2038-01-19 03:14:07{_nines(fsp)}",
        "2000-01-01 00:00:00" + ("." + "0" * (fsp - 1) + "1" if fsp else ""),
    ]

    def generate(rng: random.Random) -> str:
        moment = datetime(1970, 1, 1) + timedelta(seconds=rng.randint(1, 2**31 - 1))
        return f"'{moment:%Y-%m-%d %H:%M:%S}{_fraction(rng, fsp)}'"

    return _fixed(f"TIMESTAMP({fsp}) NULL", 4 + (fsp + 1) // 2, [f"'{e}'" for e in edges], generate)


def time_type(fsp: int) -> Definition:
    tiny = "." + "0" * (fsp - 1) + "1" if fsp else ""
    edges = [
        f"-838:59:59{_nines(fsp)}",
        f"838:59:59{_nines(fsp)}",
        "00:00:00",
        f"-00:00:00{tiny}" if fsp else "-00:00:01",
        f"-00:00:01{_nines(fsp)}",
        f"-01:00:00{tiny}",
        f"23:59:59{tiny}",
    ]

    def generate(rng: random.Random) -> str:
        sign = rng.choice(["", "-"])
        return f"'{sign}{rng.randint(0, 838):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}{_fraction(rng, fsp)}'"

    return _fixed(f"TIME({fsp})", 3 + (fsp + 1) // 2, [f"'{e}'" for e in edges], generate)


def year_type() -> Definition:
    return _fixed(
        "YEAR", 1, ["0", "1901", "2155", "2000"], lambda rng: str(rng.choice([0, rng.randint(1901, 2155)]))
    )


# --- documents and shapes ---------------------------------------------------------------------
def _sql_string(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


def _json_value(rng: random.Random, depth: int = 0) -> object:
    roll = rng.random()
    if depth > 2 or roll < 0.5:
        return rng.choice(
            [None, True, False, rng.randint(-(2**63), 2**63), rng.random() * 1e6, "ü😀\\\"'", ""]
        )
    if roll < 0.75:
        return [_json_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {f"k{i}": _json_value(rng, depth + 1) for i in range(rng.randint(0, 4))}


def json_type() -> Definition:
    edges = ["null", "{}", "[]", '{"a": [1, 2.5, null, "😀"], "b": {"c": "\'\\\\"}}', '""']
    return Definition(
        "JSON",
        tuple(_sql_string(e) for e in edges),
        lambda rng: _sql_string(json.dumps(_json_value(rng), ensure_ascii=False)),
        22,
        12,
    )


def geometry(kind: str = "GEOMETRY") -> Definition:
    if kind == "POINT":
        shapes = ["POINT(0 0)", "POINT(-1.5 1e300)"]
    else:
        shapes = [
            "POINT(1 2)",
            "LINESTRING(0 0, 1 1, 2 -1)",
            "POLYGON((0 0, 1 0, 1 1, 0 0))",
            "GEOMETRYCOLLECTION EMPTY",
        ]
    edges = [f"ST_GeomFromText('{s}')" for s in shapes] + [f"ST_GeomFromText('{shapes[0]}', 4326)"]

    def generate(rng: random.Random) -> str:
        return f"ST_GeomFromText('POINT({rng.uniform(-180, 180)!r} {rng.uniform(-90, 90)!r})', {rng.choice([0, 4326])})"

    return Definition(kind, tuple(edges), generate, 22, 12)


# --- the catalogue ----------------------------------------------------------------------------
# VARCHAR/CHAR lengths (in characters) on either side of 255 bytes, per bytes-per-character.
_PREFIX_BOUNDARY = {1: (255, 256), 2: (127, 128), 3: (85, 86), 4: (63, 64)}


def edge_definitions(repertoires: Repertoires) -> list[Definition]:
    """Every kind at its parameter edges, deterministically."""
    found: list[Definition] = []
    for name in _INT_BYTES:
        found += [integer(name, False), integer(name, True)]
    found += [integer("TINYINT", False, "(1)"), integer("INT", True, "(5) ZEROFILL")]
    found += [float32(), float32(unsigned=True), float64(), float64(unsigned=True)]
    found += [fixed_point_float("FLOAT(7,3)", 7, 3, 4), fixed_point_float("DOUBLE(20,0)", 15, 0, 8)]
    for precision, scale in [
        (1, 0), (1, 1), (2, 1), (5, 5), (9, 0), (9, 9), (10, 0), (10, 2), (10, 10), (18, 0), (18, 9),
        (19, 0), (19, 10), (27, 9), (28, 0), (30, 30), (36, 18), (38, 0), (64, 30), (65, 0), (65, 30),
    ]:  # fmt: skip
        found.append(decimal(precision, scale))
    found += [decimal(10, 0, unsigned=True), decimal(20, 10, unsigned=True)]
    found += [bit(w) for w in (1, 7, 8, 9, 16, 17, 31, 32, 33, 48, 63, 64)]
    for charset in ("latin1", "ascii", "cp1251", "armscii8", *UNICODE_CODECS):
        width = _width(charset)
        for chars in _PREFIX_BOUNDARY[width]:
            found.append(string("VARCHAR", chars, charset, repertoires))
        found.append(string("CHAR", 255 if width == 1 else _PREFIX_BOUNDARY[width][1], charset, repertoires))
        found.append(string("CHAR", 1, charset, repertoires))
    found += [every_character(charset, repertoires) for charset in SINGLE_BYTE]
    found += [string("CHAR", 0, "utf8mb4", repertoires), string("VARCHAR", 0, "latin1", repertoires)]
    found += [
        string("VARCHAR", 16, "utf8mb4", repertoires, collation=c)
        for c in ("utf8mb4_bin", "utf8mb4_unicode_520_ci", "utf8mb4_nopad_bin")
    ]
    found += [string("CHAR", 4, "latin1", repertoires, collation="latin1_bin")]
    for chars in (0, 1, 16, 255):
        found.append(string("BINARY", chars, None, repertoires))
    for chars in (0, 255, 256, 1000):
        found.append(string("VARBINARY", chars, None, repertoires))
    for size in _TEXT_BYTES:
        found += [lob(size, None, repertoires), lob(size, "utf8mb4", repertoires)]
    found += [
        lob("TINY", "latin1", repertoires),
        lob("", "cp1251", repertoires),
        lob("MEDIUM", "ucs2", repertoires),
    ]
    for count in (1, 255, 256, 300):
        found.append(enum(count, "utf8mb4", repertoires))
    found += [enum(3, "latin1", repertoires), enum(4, "cp1251", repertoires), enum(3, "ucs2", repertoires)]
    for count in (1, 8, 9, 16, 17, 24, 25, 32, 33, 64):
        found.append(set_of(count, "utf8mb4", repertoires))
    found += [set_of(5, "latin1", repertoires), set_of(10, "utf16", repertoires)]
    found.append(date_type())
    for fsp in range(7):
        found += [datetime_type(fsp), timestamp_type(fsp), time_type(fsp)]
    found += [year_type(), json_type(), geometry(), geometry("POINT")]
    return found


def decimal_sweep() -> list[Definition]:
    """Every DECIMAL(p,s): p 1..65, s 0..min(p, 30)."""
    return [decimal(p, s) for p in range(1, 66) for s in range(min(p, 30) + 1)]


def definitions(repertoires: Repertoires) -> st.SearchStrategy[Definition]:
    """Any column definition of the type space, parameters drawn anywhere in their range."""
    charsets = st.sampled_from([*UNICODE_CODECS, *SINGLE_BYTE])
    lengths = st.integers(0, 300)
    return st.one_of(
        st.builds(integer, st.sampled_from(list(_INT_BYTES)), st.booleans()),
        st.builds(float32, st.booleans()),
        st.builds(float64, st.booleans()),
        st.integers(1, 65).flatmap(
            lambda p: st.builds(decimal, st.just(p), st.integers(0, min(p, 30)), st.booleans())
        ),
        st.builds(bit, st.integers(1, 64)),
        st.builds(
            lambda kind, n, cs: string(kind, n if kind == "VARCHAR" else min(n, 255), cs, repertoires),
            st.sampled_from(["CHAR", "VARCHAR"]),
            lengths,
            charsets,
        ),
        st.builds(
            lambda kind, n: string(kind, n if kind == "VARBINARY" else min(n, 255), None, repertoires),
            st.sampled_from(["BINARY", "VARBINARY"]),
            lengths,
        ),
        st.builds(
            lambda size, cs: lob(size, cs, repertoires),
            st.sampled_from(list(_TEXT_BYTES)),
            st.none() | charsets,
        ),
        st.builds(lambda n, cs: enum(n, cs, repertoires), st.integers(1, 400), charsets),
        st.builds(lambda n, cs: set_of(n, cs, repertoires), st.integers(1, 64), charsets),
        st.just(date_type()),
        st.builds(datetime_type, st.integers(0, 6)),
        st.builds(timestamp_type, st.integers(0, 6)),
        st.builds(time_type, st.integers(0, 6)),
        st.just(year_type()),
        st.just(json_type()),
        st.sampled_from([geometry(), geometry("POINT")]),
    )
