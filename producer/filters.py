"""Which tables and columns the producer captures: glob patterns from ``include_tables``,
``exclude_tables`` and ``exclude_columns``. System schemas are never captured."""

from __future__ import annotations

import fnmatch

from binlog_pipeline.core.errors import PermanentError


class ColumnFilter:
    """Exclude glob patterns over ``db.table.column``."""

    def __init__(self, exclude: list[str]) -> None:
        self._exclude = exclude

    def excluded(self, database: str, table: str, column: str) -> bool:
        name = f"{database}.{table}.{column}"
        return any(fnmatch.fnmatchcase(name, p) for p in self._exclude)

    @staticmethod
    def check_keys_kept(database: str, table: str, dropped: set[str], primary_key: tuple[str, ...]) -> None:
        if dropped & set(primary_key):
            raise PermanentError(
                f"exclude_columns removes primary-key column(s) {sorted(dropped & set(primary_key))} of "
                f"{database}.{table}; keys identify rows downstream and cannot be excluded"
            )


class TableFilter:
    """Include/exclude glob patterns over ``db.table`` (include empty = everything)."""

    def __init__(self, include: list[str], exclude: list[str]) -> None:
        self._include = include
        self._exclude = [*exclude, "mysql.*", "information_schema.*", "performance_schema.*", "sys.*"]
        self._cache: dict[tuple[str, str], bool] = {}

    def __call__(self, database: str, table: str) -> bool:
        key = (database, table)
        hit = self._cache.get(key)
        if hit is None:
            name = f"{database}.{table}"
            included = not self._include or any(fnmatch.fnmatchcase(name, p) for p in self._include)
            hit = included and not any(fnmatch.fnmatchcase(name, p) for p in self._exclude)
            self._cache[key] = hit
        return hit
