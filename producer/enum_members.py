"""ENUM and SET member names in their columns' character sets.

A table map (binlog_row_metadata=FULL) lists each ENUM and SET column's members in the column's
character set. python-mysql-replication decodes them as UTF-8 and silently puts '' in place of any
member that is not valid UTF-8 — every latin1 member with an accent, say — which would turn those
values into '' downstream. For such tables the members are read again from the event's raw bytes
and decoded with the column's own character set; the library's Column objects (shared with the
rows events that follow) are corrected in place.
"""

from __future__ import annotations

from typing import Any

from pymysqlreplication.constants import FIELD_TYPE

from binlog_pipeline.errors import PermanentError
from producer import charsets

_EVENT_HEADER = 20  # the OK byte of the replication packet + the 19-byte event header
_TABLE_MAP_POST_HEADER = 8  # table id (6) + flags (2) on every MySQL and MariaDB since 5.1
_SET_STR_VALUE = 5
_ENUM_STR_VALUE = 6
_ENUM_OR_SET = (FIELD_TYPE.ENUM, FIELD_TYPE.SET)


def restore_members(event: Any) -> None:
    """Correct the members of ``event``'s ENUM and SET columns where the library dropped them."""
    # The usual case must stay cheap: a table map comes before every rows event.
    if not any(
        # None without binlog_row_metadata=FULL: the reader refuses that table with the fix.
        "" in ((c.enum_values or [""])[1:] if c.type == FIELD_TYPE.ENUM else (c.set_values or ()))
        for c in event.columns
        if c.type in _ENUM_OR_SET
    ):
        return
    enums = [c for c in event.columns if c.type == FIELD_TYPE.ENUM]
    sets = [c for c in event.columns if c.type == FIELD_TYPE.SET]
    where = f"table map of {event.schema}.{event.table}"
    raw = _members(event, where)
    if len(raw.get(_ENUM_STR_VALUE, [])) != len(enums) or len(raw.get(_SET_STR_VALUE, [])) != len(sets):
        raise PermanentError(f"{where}: ENUM/SET member lists do not match its columns")
    for column, members in zip(enums, raw.get(_ENUM_STR_VALUE, []), strict=True):
        column.enum_values = ["", *_decoded(column, members, column.enum_values[1:], where)]
    for column, members in zip(sets, raw.get(_SET_STR_VALUE, []), strict=True):
        column.set_values = _decoded(column, members, column.set_values, where)


def _decoded(column: Any, members: list[bytes], library: list[str], where: str) -> list[str]:
    collation = getattr(column, "collation_name", None)
    # Collation names are '<character set>_…'; an id the library does not know is logged as UTF-8.
    charset = collation.split("_", 1)[0] if collation else "utf8mb4"
    try:
        decoded = [charsets.decode(member, charset) for member in members]
    except charsets.UnsupportedCharset as exc:
        raise PermanentError(f"{where}, column {column.name}: {exc}") from exc
    # The members the library could read must be ours too, or the offsets are wrong.
    if len(decoded) != len(library) or any(
        lib and lib != ours for lib, ours in zip(library, decoded, strict=True)
    ):
        raise PermanentError(f"{where}, column {column.name}: members {decoded!r} disagree with {library!r}")
    return decoded


def _members(event: Any, where: str) -> dict[int, list[list[bytes]]]:
    """The SET_STR_VALUE and ENUM_STR_VALUE fields of the optional metadata, as raw bytes."""
    data = event.packet.packet.get_all_data()
    reader = _Reader(data, _EVENT_HEADER + _TABLE_MAP_POST_HEADER, _EVENT_HEADER + event.event_size)
    schema = reader.take(reader.byte())
    reader.take(1)
    table = reader.take(reader.byte())
    reader.take(1)
    if schema.decode("utf-8", "replace") != event.schema or table.decode("utf-8", "replace") != event.table:
        raise PermanentError(f"{where}: cannot parse its raw bytes (pin mysql-replication to 1.0.17)")
    count = reader.lenenc()
    reader.take(count)  # column types
    reader.take(reader.lenenc())  # per-column metadata
    reader.take((count + 7) // 8)  # null bitmap
    found: dict[int, list[list[bytes]]] = {}
    while not reader.done():
        kind, length = reader.byte(), reader.lenenc()
        value = _Reader(reader.take(length), 0, length)
        if kind in (_SET_STR_VALUE, _ENUM_STR_VALUE):
            columns = []
            while not value.done():
                columns.append([value.take(value.lenenc()) for _ in range(value.lenenc())])
            found[kind] = columns
    return found


class _Reader:
    def __init__(self, data: bytes, pos: int, end: int) -> None:
        self._data, self._pos, self._end = data, pos, end

    def done(self) -> bool:
        return self._pos >= self._end

    def take(self, n: int) -> bytes:
        if self._pos + n > self._end:
            raise PermanentError("a table map is shorter than its fields say")
        chunk = bytes(self._data[self._pos : self._pos + n])
        self._pos += n
        return chunk

    def byte(self) -> int:
        return self.take(1)[0]

    def lenenc(self) -> int:
        first = self.byte()
        if first < 251:
            return first
        size = {252: 2, 253: 3, 254: 8}.get(first)
        if size is None:
            raise PermanentError(f"a table map has an invalid length byte {first}")
        return int.from_bytes(self.take(size), "little")
