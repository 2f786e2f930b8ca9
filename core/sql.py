"""SQL text helpers shared by the producer, the applier and the operations commands."""

from __future__ import annotations


def quote(identifier: str) -> str:
    """A MySQL identifier in backticks (embedded backticks doubled): never interpolate a name
    any other way."""
    return "`" + identifier.replace("`", "``") + "`"


def qualified(database: str, table: str) -> str:
    return f"{quote(database)}.{quote(table)}"
