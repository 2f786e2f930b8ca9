"""How a change to a table without a primary key finds the one row it means.

Such a row is identified by all its values, one change at a time, with ``LIMIT 1``. Comparing a
string column with ``<=>`` uses the column's collation, under which different rows can be equal:
'u' and 'ü' or 'a' and 'A' in a case- or accent-insensitive collation, 'a' and 'a ' in every PAD
SPACE collation (``utf8mb4_bin`` included, so MariaDB's JSON, a LONGTEXT, too). ``LIMIT 1`` would
then change whichever such row comes first, not the one the source changed. So a column with a
character set is also compared as the bytes it stores: the value converted to the column's
character set by the server (so latin1 and every other charset work the same way), both sides as
BINARY. The collation-aware term stays in front so an index on the column can still narrow the
search; byte-equal values are always collation-equal, so it never excludes the right row.

CHAR needs nothing more: its trailing spaces are not stored (nor logged), on either side. ENUM
and SET members are unique under their collation (the server refuses duplicates), and compare as
their member text. Other kinds compare exactly with ``<=>``:

- FLOAT/DOUBLE: the parameter is the column's exact value as a DOUBLE literal (a FLOAT travels as
  its float32 value, compared as DOUBLE); MariaDB stores -0.0 as 0 and cannot store NaN or
  infinities, so equal values are the same bytes.
- binary strings, BIT, GEOMETRY: byte comparison already, without padding (BINARY(n) values
  arrive padded to n).
- MySQL's binary JSON (DATA_TYPE 'json' on the target): compared with the text parsed as JSON —
  a JSON column compared with a string compares it with a JSON string scalar, never an object.
  MySQL stores JSON normalised, so JSON equality is the identity of the stored value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from binlog_pipeline.applier.target import TargetColumn
from binlog_pipeline.core.errors import PermanentError
from binlog_pipeline.core.sql import quote

# A character set name goes into SQL text (CONVERT ... USING has no parameter form).
_CHARSET = re.compile(r"^[A-Za-z0-9_]+$")


@dataclass(frozen=True)
class RowMatch:
    """``sql`` is a WHERE condition; ``slots`` gives, for each ``%s`` in it, the position of the
    column whose value goes there."""

    sql: str
    slots: tuple[int, ...]

    def params(self, values: Sequence[Any]) -> list[Any]:
        return [values[i] for i in self.slots]


def row_match(columns: Sequence[str], target: Mapping[str, TargetColumn]) -> RowMatch:
    """The condition that matches a row with exactly ``columns``' values (NULL-safe); no columns
    (all generated) match any row: such rows are all alike."""
    terms: list[str] = []
    slots: list[int] = []
    for position, name in enumerate(columns):
        term, count = column_term(name, target.get(name))
        terms.append(term)
        slots.extend([position] * count)
    return RowMatch(" AND ".join(terms) or "TRUE", tuple(slots))


def column_term(name: str, target: TargetColumn | None) -> tuple[str, int]:
    """One column's term and how many ``%s`` it has (each takes the column's value)."""
    column = quote(name)
    if target is None:  # not on the target: the statement fails naming the column
        return f"{column} <=> %s", 1
    if target.data_type == "json":
        return f"{column} <=> CAST(%s AS JSON)", 1
    if target.charset is None:
        return f"{column} <=> %s", 1
    if not _CHARSET.match(target.charset):
        raise PermanentError(f"target column {name} has an unexpected character set name {target.charset!r}")
    exact = f"CAST({column} AS BINARY) <=> CAST(CONVERT(%s USING {target.charset}) AS BINARY)"
    return f"{column} <=> %s AND {exact}", 2
