"""Where a source table is applied: ``routes`` maps 'db' or 'db.table' to another name. Shared by
the applier and `verify`, so both always agree on the target of a table."""

from __future__ import annotations

from collections.abc import Mapping


def route_table(routes: Mapping[str, str], database: str, table: str) -> tuple[str, str]:
    exact = routes.get(f"{database}.{table}")
    if exact is not None:
        target_db, _, target_table = exact.partition(".")
        return target_db, target_table or table
    return routes.get(database, database), table
