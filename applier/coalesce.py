"""Per-table coalescing of a batch: the fewest statements with the same final effect.

Within one batch, changes to a table are reduced per primary key in order: the last write wins,
a delete after an insert cancels to a delete, a primary-key change deletes the old key and writes
the new one. The result is applied as deletes first, then upserts in the order of each key's last
change — which matters only for unique secondary keys, and tables that have those are not
coalesced at all (see ``TableWriter.exact_only`` and ``Planner._table_statements``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from binlog_pipeline.applier.messages import RowChange


@dataclass
class Coalesced:
    deletes: list[RowChange] = field(default_factory=list)  # carry the key in ``before``
    upserts: list[RowChange] = field(default_factory=list)  # carry the row in ``after``


def coalesce(changes: list[RowChange]) -> Coalesced:
    """Reduce ``changes`` (one table with a primary key, in stream order)."""
    final: dict[tuple[Any, ...], tuple[str, RowChange]] = {}
    for change in changes:
        if change.op == "d":
            key = change.key(change.before)
            final.pop(key, None)
            final[key] = ("delete", change)
            continue
        assert change.after is not None
        new_key = change.key(change.after)
        if change.op == "u" and change.before is not None:
            old_key = change.key(change.before)
            if old_key != new_key:
                final.pop(old_key, None)
                final[old_key] = ("delete", change)
        final.pop(new_key, None)  # re-insert so dict order is the order of last change
        final[new_key] = ("upsert", change)
    result = Coalesced()
    for action, change in final.values():
        (result.deletes if action == "delete" else result.upserts).append(change)
    return result
