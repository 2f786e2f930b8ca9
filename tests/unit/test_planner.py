"""Planning a batch's statements (applier/planner.py, core/routing.py): coalesced where that is
exact, one change at a time in stream order where it is not."""

from __future__ import annotations

from typing import Any

import pytest

from binlog_pipeline.applier.messages import RowChange
from binlog_pipeline.applier.planner import DELETE_CHUNK, LENIENT, STRICT, UPSERT_CHUNK, Planner, Route
from binlog_pipeline.applier.target import TableInfo
from binlog_pipeline.core.errors import PermanentError
from binlog_pipeline.core.routing import route_table
from binlog_pipeline.schemas.columns import ColumnKind, ColumnSpec
from tests.unit.rows import ID, change, table_info

UPSERT = "INSERT INTO `db`.`t` (`id`, `name`) VALUES {} ON DUPLICATE KEY UPDATE `name` = VALUES(`name`)"


def planner(info: TableInfo | None = None, routes: dict[str, str] | None = None) -> Planner:
    fixed = info or table_info()
    return Planner(Route(routes or {}), lambda database, table: fixed)


def plan(p: Planner, changes: list[RowChange]) -> list[tuple[str, tuple[Any, ...]]]:
    return [(s.sql, s.params) for s in p.statements(changes)]


def test_a_keyed_batch_is_deletes_then_upserts() -> None:
    """A keyed table's changes become one DELETE of the deleted keys, then one upsert of the rest."""
    changes = [
        change("c", None, {"id": 1, "name": "a"}),
        change("c", None, {"id": 2, "name": "b"}),
        change("u", {"id": 1, "name": "a"}, {"id": 1, "name": "c"}),
        change("d", {"id": 2, "name": "b"}, None),
        change("r", None, {"id": 3, "name": "d"}),
    ]
    assert plan(planner(), changes) == [
        ("DELETE FROM `db`.`t` WHERE `id` IN (%s)", (2,)),
        (UPSERT.format("(%s, %s), (%s, %s)"), (1, "c", 3, "d")),
    ]


def test_chunks() -> None:
    """Deletes go in statements of DELETE_CHUNK keys, upserts of UPSERT_CHUNK rows."""
    deletes = [change("d", {"id": i, "name": "x"}, None) for i in range(DELETE_CHUNK + 1)]
    upserts = [change("c", None, {"id": -i, "name": "y"}) for i in range(1, UPSERT_CHUNK + 2)]
    sizes = [(s.sql.split()[0], len(s.params)) for s in planner().statements(deletes + upserts)]
    assert sizes == [("DELETE", DELETE_CHUNK), ("DELETE", 1), ("INSERT", 2 * UPSERT_CHUNK), ("INSERT", 2)]


def test_unique_secondary_keys_apply_in_order() -> None:
    """A table with unique secondary keys on the target gets each change's statements, in order,
    never coalesced (an upsert could hit another row's unique value)."""
    changes = [
        change("c", None, {"id": 1, "name": "a"}),
        change("d", {"id": 1, "name": "a"}, None),
        change("c", None, {"id": 1, "name": "b"}),
    ]
    assert plan(planner(table_info(unique_secondary=True)), changes) == [
        (UPSERT.format("(%s, %s)"), (1, "a")),
        ("DELETE FROM `db`.`t` WHERE `id` IN (%s)", (1,)),
        (UPSERT.format("(%s, %s)"), (1, "b")),
    ]


def test_tables_are_planned_separately_in_order_of_first_change() -> None:
    """Each table (and column layout) is planned on its own, in the order each first appears."""
    changes = [
        change("c", None, {"id": 1, "name": "a"}, table="u"),
        change("c", None, {"id": 2, "name": "b"}),
        change("c", None, {"id": 3, "name": "c"}, table="u"),
    ]
    assert plan(planner(), changes) == [
        (UPSERT.format("(%s, %s), (%s, %s)").replace("`t`", "`u`"), (1, "a", 3, "c")),
        (UPSERT.format("(%s, %s)"), (2, "b")),
    ]


def test_an_enum_error_value_runs_non_strict_for_its_change_only() -> None:
    """A change carrying an ENUM's invalid value '' runs between LENIENT and STRICT, and the rest
    of its table's changes go one by one (non-strict mode would clip their values silently)."""
    enum = ColumnSpec("e", ColumnKind.ENUM, values=("a", "b"))
    columns = (ID, enum)
    changes = [
        change("c", None, {"id": 1, "e": "a"}, columns=columns),
        change("c", None, {"id": 2, "e": ""}, columns=columns),
    ]
    upsert = "INSERT INTO `db`.`t` (`id`, `e`) VALUES (%s, %s) ON DUPLICATE KEY UPDATE `e` = VALUES(`e`)"
    assert plan(planner(table_info(columns)), changes) == [
        (upsert, (1, "a")),
        (LENIENT.sql, ()),
        (upsert, (2, "")),
        (STRICT.sql, ()),
    ]
    assert LENIENT.sql == "SET SESSION sql_mode = 'NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION'"
    assert (
        STRICT.sql
        == "SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION'"
    )


def test_routes_rename_the_target() -> None:
    """Routes send a database, or one table, elsewhere; the target table is asked for by its new name."""
    asked: list[tuple[str, str]] = []

    def target_table(database: str, table: str) -> TableInfo:
        asked.append((database, table))
        return table_info()

    routed = Planner(Route({"db": "copy", "db.u": "other.people"}), target_table)
    assert [s.sql.split()[2] for s in routed.statements([change("c", None, {"id": 1, "name": "a"})])] == [
        "`copy`.`t`"
    ]
    assert routed.target_of(change("c", None, {"id": 1, "name": "a"}, table="u")) == ("other", "people")
    assert asked == [("copy", "t")]


@pytest.mark.parametrize(
    ("routes", "target"),
    [
        ({}, ("db", "t")),
        ({"db": "copy"}, ("copy", "t")),
        ({"db": "copy", "db.t": "x.y"}, ("x", "y")),
        ({"db.t": "x"}, ("x", "t")),
        ({"other": "copy"}, ("db", "t")),
    ],
)
def test_route_table(routes: dict[str, str], target: tuple[str, str]) -> None:
    """A table route beats its database's route; a route without a table part keeps the name."""
    assert route_table(routes, "db", "t") == target


def test_a_writer_is_rebuilt_when_the_target_changes() -> None:
    """The writer is reused while the target's description is the same object, rebuilt after it
    was read again (a DDL or a reconnect)."""
    infos = [table_info(), table_info()]
    current = [infos[0]]
    p = Planner(Route({}), lambda database, table: current[0])
    first = change("c", None, {"id": 1, "name": "a"})
    writer = p.writer(first)
    assert p.writer(first) is writer
    current[0] = infos[1]
    assert p.writer(first) is not writer
    assert p.writer(first).target is infos[1]


def test_an_unwritable_table_names_the_message() -> None:
    """A change that cannot be written at all stops, naming its message."""
    p = planner(table_info(generated=("id", "name")))
    with pytest.raises(PermanentError, match=r"cannot apply message binlog\.db\.t\[0\]@7: every column"):
        list(p.statements([change("c", None, {"id": 1, "name": "a"}, offset=7)]))
