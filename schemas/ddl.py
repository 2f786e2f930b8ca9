"""Which tables a DDL statement affects, so its schema-change record goes into each of their
topics. Not a SQL parser: it recognises the statement forms that change a table's definition
(CREATE/ALTER/DROP/TRUNCATE/RENAME TABLE, CREATE/DROP INDEX) and their table names."""

from __future__ import annotations

import re

# A comment, or quoted text (group 1), which is kept whole: a quoted name or string may hold
# '#', '--' or '/*' (a table named `a#b`), and none of them starts a comment there.
_COMMENT = re.compile(
    r"(`(?:[^`]|``)*`|'(?:[^'\\]|\\.|'')*'|\"(?:[^\"\\]|\\.|\"\")*\")|/\*.*?\*/|--[^\n]*\n|#[^\n]*\n",
    re.S,
)
_NAME = r"(?:`(?:[^`]|``)+`|[\w$\u0080-\uffff]+)"
_QUALIFIED = rf"({_NAME}(?:\s*\.\s*{_NAME})?)"
_IF = r"(?:IF\s+(?:NOT\s+)?EXISTS\s+)?"

_SINGLE = [
    re.compile(rf"^CREATE\s+(?:OR\s+REPLACE\s+)?TABLE\s+{_IF}{_QUALIFIED}", re.I),
    re.compile(rf"^ALTER\s+(?:ONLINE\s+)?(?:IGNORE\s+)?TABLE\s+{_IF}{_QUALIFIED}", re.I),
    re.compile(rf"^TRUNCATE\s+(?:TABLE\s+)?{_QUALIFIED}", re.I),
    re.compile(
        rf"^CREATE\s+(?:OR\s+REPLACE\s+)?(?:ONLINE\s+)?(?:UNIQUE\s+|FULLTEXT\s+|SPATIAL\s+)?INDEX\s+{_IF}{_NAME}\s+(?:USING\s+\w+\s+)?ON\s+{_QUALIFIED}",
        re.I,
    ),
    re.compile(rf"^DROP\s+INDEX\s+{_IF}{_NAME}\s+ON\s+{_QUALIFIED}", re.I),
]
_DROP = re.compile(rf"^DROP\s+TABLE\s+{_IF}(.+?)\s*(?:RESTRICT|CASCADE)?\s*;?\s*$", re.I | re.S)
_RENAME = re.compile(r"^RENAME\s+TABLES?\s+(.+?)\s*;?\s*$", re.I | re.S)
_RENAME_PAIR = re.compile(rf"{_QUALIFIED}\s+TO\s+{_QUALIFIED}", re.I)
_ALTER_RENAME = re.compile(rf"\bRENAME\s+(?:TO\s+|AS\s+)?{_QUALIFIED}\s*(?:,|$)", re.I)
# The head of a CREATE TABLE statement up to and including its (possibly qualified) table name.
CREATE_TABLE_HEAD = re.compile(rf"^\s*CREATE\s+(?:OR\s+REPLACE\s+)?TABLE\s+{_IF}{_QUALIFIED}", re.I)
_TEMPORARY = re.compile(r"^(?:CREATE|DROP)\s+TEMPORARY\s", re.I)


def _unquote(name: str) -> str:
    name = name.strip()
    if name.startswith("`") and name.endswith("`"):
        return name[1:-1].replace("``", "`")
    return name


def _split_qualified(text: str, default_db: str) -> tuple[str, str]:
    parts = re.findall(_NAME, text)
    if len(parts) == 2:
        return _unquote(parts[0]), _unquote(parts[1])
    return default_db, _unquote(parts[0])


def strip_comments(statement: str) -> str:
    return _COMMENT.sub(lambda match: match.group(1) or " ", statement + "\n").strip()


def statement_kind(statement: str) -> str:
    """'CREATE TABLE', 'ALTER TABLE', 'DROP TABLE', 'RENAME TABLE', 'TRUNCATE', 'CREATE INDEX',
    'DROP INDEX' or 'OTHER'."""
    words = strip_comments(statement).upper().split()
    if not words:
        return "OTHER"
    if words[0] == "TRUNCATE":
        return "TRUNCATE"
    if words[0] == "RENAME":
        return "RENAME TABLE"
    if words[0] in ("CREATE", "ALTER", "DROP"):
        if "INDEX" in words[1:6] and "TABLE" not in words[1:4]:
            return f"{words[0]} INDEX"
        if "TABLE" in words[1:4] and "TEMPORARY" not in words[1:3]:
            return f"{words[0]} TABLE"
    return "OTHER"


def affected_tables(statement: str, default_db: str) -> list[tuple[str, str]]:
    """The (database, table) pairs whose definition ``statement`` changes, in statement order;
    empty for statements that change no table (BEGIN, GRANT, CREATE DATABASE, ...)."""
    sql = strip_comments(statement)
    if _TEMPORARY.match(sql):
        return []  # temporary tables never reach a row-based binlog's row events
    for pattern in _SINGLE:
        match = pattern.match(sql)
        if match:
            tables = [_split_qualified(match.group(1), default_db)]
            if sql[:5].upper() == "ALTER":
                renamed = _ALTER_RENAME.search(sql[match.end() :])
                if renamed:
                    tables.append(_split_qualified(renamed.group(1), default_db))
            return tables
    match = _DROP.match(sql)
    if match:
        return [_split_qualified(part, default_db) for part in _split_list(match.group(1))]
    match = _RENAME.match(sql)
    if match:
        tables = []
        for pair in _split_list(match.group(1)):
            names = _RENAME_PAIR.fullmatch(pair)  # not a split at " TO ": `a to b` is one name
            old, new = names.groups() if names else re.split(r"\s+TO\s+", pair, maxsplit=1, flags=re.I)
            tables += [_split_qualified(old, default_db), _split_qualified(new, default_db)]
        return tables
    return []


Table = tuple[str, str]


def rename_pairs(statement: str, default_db: str) -> list[tuple[Table, Table]]:
    """The (old, new) name pairs of a RENAME TABLE (in order: each pair sees the ones before it)
    or of an ALTER TABLE … RENAME TO; empty for every other statement."""
    kind = statement_kind(statement)
    if kind not in ("RENAME TABLE", "ALTER TABLE"):
        return []
    tables = affected_tables(statement, default_db)
    if kind == "ALTER TABLE" and len(tables) != 2:
        return []
    return list(zip(tables[0::2], tables[1::2], strict=True))


def is_truncate(statement: str) -> bool:
    return statement_kind(statement) == "TRUNCATE"


def is_pure_rename(statement: str) -> bool:
    """RENAME TABLE (atomic, any number of pairs), as opposed to an ALTER TABLE that renames too."""
    return statement_kind(statement) == "RENAME TABLE"


def _split_list(text: str) -> list[str]:
    """Split on commas outside backticks."""
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    for char in text:
        if char == "`":
            quoted = not quoted
        if char == "," and not quoted:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    if "".join(current).strip():
        parts.append("".join(current).strip())
    return parts
