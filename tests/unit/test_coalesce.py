"""Coalescing a batch per primary key (applier/coalesce.py): fewer statements, the same effect."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from binlog_pipeline.applier.coalesce import coalesce
from binlog_pipeline.applier.messages import RowChange
from tests.unit.rows import change


def row(key: int, name: str = "x") -> dict[str, Any]:
    return {"id": key, "name": name}


def test_last_write_wins() -> None:
    """Several writes to one key become one upsert carrying the last row."""
    first, second, third = (
        change("c", None, row(1, "a")),
        change("u", row(1, "a"), row(1, "b")),
        change("u", row(1, "b"), row(1, "c")),
    )
    merged = coalesce([first, second, third])
    assert merged.deletes == []
    assert merged.upserts == [third]


def test_delete_after_insert_is_a_delete() -> None:
    """An insert then a delete of the same key leaves only the delete."""
    delete = change("d", row(1), None)
    merged = coalesce([change("c", None, row(1)), delete])
    assert (merged.deletes, merged.upserts) == ([delete], [])


def test_insert_after_delete_is_an_upsert() -> None:
    """A delete then an insert of the same key leaves only the upsert of the new row."""
    insert = change("c", None, row(1, "new"))
    merged = coalesce([change("d", row(1), None), insert])
    assert (merged.deletes, merged.upserts) == ([], [insert])


def test_key_change_deletes_the_old_key() -> None:
    """An update that changes the key deletes the old key and upserts the new one."""
    move = change("u", row(1), row(2))
    merged = coalesce([move])
    assert (merged.deletes, merged.upserts) == ([move], [move])


def test_upserts_in_order_of_each_keys_last_change() -> None:
    """Upserts come in the order of each key's last change, not of its first."""
    a1, b, a2 = change("c", None, row(1)), change("c", None, row(2)), change("u", row(1), row(1, "y"))
    assert coalesce([a1, b, a2]).upserts == [b, a2]


# --- the property: coalesced = applied one by one ------------------------------------------------
@st.composite
def streams(draw: st.DrawFn) -> tuple[dict[int, str], list[RowChange]]:
    """A table's rows (key → name) and a stream of changes to it, each consistent with the rows
    as the changes before it left them (as the binlog is)."""
    keys = range(6)
    rows = draw(st.dictionaries(st.sampled_from(keys), st.sampled_from("abc")))
    table = dict(rows)
    changes = []
    for _ in range(draw(st.integers(0, 12))):
        name = draw(st.sampled_from("abcd"))
        free = [k for k in keys if k not in table]
        if table and (not free or draw(st.booleans())):
            key = draw(st.sampled_from(sorted(table)))
            if draw(st.booleans()):
                changes.append(change("d", row(key, table.pop(key)), None))
                continue
            new_key = draw(st.sampled_from([key, *free]))
            changes.append(change("u", row(key, table.pop(key)), row(new_key, name)))
        else:
            new_key = draw(st.sampled_from(free))
            changes.append(change(draw(st.sampled_from("cr")), None, row(new_key, name)))
        table[new_key] = name
    return rows, changes


def one_by_one(rows: dict[int, str], changes: list[RowChange]) -> dict[int, str]:
    """What the target holds after each change's own statements (as the exact path runs them)."""
    table = dict(rows)
    for c in changes:
        if c.before is not None and c.op in "ud":
            table.pop(c.before["id"], None)
        if c.after is not None:
            table[c.after["id"]] = c.after["name"]
    return table


@settings(max_examples=150)
@given(streams())
def test_coalesced_effect_equals_the_stream(stream: tuple[dict[int, str], list[RowChange]]) -> None:
    """Deleting the coalesced deletes, then upserting the coalesced upserts, leaves the table as
    applying every change in order does — with at most one statement row per key."""
    rows, changes = stream
    merged = coalesce(changes)
    table = dict(rows)
    for c in merged.deletes:
        assert c.before is not None
        table.pop(c.before["id"], None)
    for c in merged.upserts:
        assert c.after is not None
        table[c.after["id"]] = c.after["name"]
    assert table == one_by_one(rows, changes)
    deleted = [c.key(c.before) for c in merged.deletes]
    upserted = [c.key(c.after) for c in merged.upserts]
    assert len(set(deleted + upserted)) == len(deleted) + len(upserted)
