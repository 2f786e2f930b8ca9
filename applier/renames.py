"""RENAME TABLE on the target, exactly once, with only the captured tables.

A multi-table RENAME is how online schema change tools cut over (pt-online-schema-change:
``RENAME TABLE t TO _t_old, _t_new TO t``; gh-ost: ``t TO _t_del, _t_gho TO t``) and how tables are
swapped (``a TO tmp, b TO a, tmp TO b``). Its pairs run in order, atomically. On the target:

- both names captured: the same rename;
- captured → not captured: the table leaves the stream; it is moved to ``binlog_pipeline`` and
  dropped afterwards (the target keeps no stale copy under a name nobody updates);
- not captured → captured: its rows never reached the stream; an empty table is created from the
  recorded definition and takes the name, and the producer snapshots it (see producer/runner.py);
- neither: nothing.

MySQL commits DDL on its own, so the rename cannot share a transaction with the checkpoint. It is
made exactly-once by renaming a marker table in the same atomic statement:
``binlog_pipeline.bp_ddl_pending_<id> TO binlog_pipeline.bp_ddl_done_<id>`` — after a crash the
marker tells whether the rename happened. (A swap leaves the same set of names, with tables of
the same definition possibly, so the target's state alone cannot tell.) ``ALTER TABLE … RENAME TO``
(one pair, not atomic with a marker) is recognised by its state instead: the old name gone and
the new one present.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from binlog_pipeline.applier.target import Target
from binlog_pipeline.core.errors import PermanentError
from binlog_pipeline.core.sql import qualified, quote
from binlog_pipeline.schemas.ddl import Table, is_pure_rename, rename_pairs

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RenamePlan:
    """What to run for one RENAME: tables to create first, one atomic RENAME, tables to drop."""

    creates: tuple[tuple[Table, str], ...]  # staging table ← definition
    pairs: tuple[tuple[Table, Table], ...]  # the atomic RENAME's pairs, marker last
    drops: tuple[Table, ...]  # tables moved out of the captured set
    marker: tuple[Table, Table]  # pending → done


def marker_id(group_id: str, statement_id: str) -> str:
    return hashlib.sha1(f"{group_id}\0{statement_id}".encode()).hexdigest()[:32]


def plan_rename(
    statement: str,
    default_db: str,
    captured: Callable[[Table], bool],
    definitions: Mapping[Table, str | None],
    work_db: str,
    ident: str,
) -> RenamePlan:
    """Rewrite ``statement``'s pairs for the target (see the module docstring). ``captured(name)``:
    whether a table name is in the stream; ``definitions``: recorded CREATE TABLE of captured names."""
    pairs: list[tuple[Table, Table]] = []
    creates: list[tuple[Table, str]] = []
    drops: list[Table] = []
    for index, (old, new) in enumerate(rename_pairs(statement, default_db)):
        if captured(old) and captured(new):
            pairs.append((old, new))
        elif captured(old):
            trash = (work_db, f"bp_trash_{ident}_{index}")
            pairs.append((old, trash))
            drops.append(trash)
        elif captured(new):
            definition = definitions.get(new)
            if definition is None:
                log.warning("no definition recorded for %s.%s: not created by %s", *new, statement[:200])
                continue
            stage = (work_db, f"bp_stage_{ident}_{index}")
            creates.append((stage, definition))
            pairs.append((stage, new))
    marker = ((work_db, f"bp_ddl_pending_{ident}"), (work_db, f"bp_ddl_done_{ident}"))
    return RenamePlan(tuple(creates), (*pairs, marker), tuple(drops), marker)


def runnable(pairs: tuple[tuple[Table, Table], ...], exists: Callable[[Table], bool]) -> str | None:
    """None when the pairs can run in order on the target's current tables, else why not."""
    present: dict[Table, bool] = {}

    def there(name: Table) -> bool:
        if name not in present:
            present[name] = exists(name)
        return present[name]

    for old, new in pairs:
        if not there(old):
            return f"{old[0]}.{old[1]} does not exist"
        if there(new):
            return f"{new[0]}.{new[1]} exists already"
        present[old], present[new] = False, True
    return None


class RenameApplier:
    def __init__(self, target: Target, work_db: str, group_id: str) -> None:
        self._target = target
        self._work_db = work_db
        self._group_id = group_id

    def done(self, statement_id: str) -> bool:
        """Whether this statement's RENAME already ran on the target (its marker says so)."""
        ident = marker_id(self._group_id, statement_id)
        return self._target.info(self._work_db, f"bp_ddl_done_{ident}").exists

    def apply(
        self,
        statement: str,
        default_db: str,
        statement_id: str,
        captured: Callable[[Table], bool],
        definitions: Mapping[Table, str | None],
        where: str,
    ) -> None:
        """Run the statement's rename on the target once (idempotent across crashes)."""
        ident = marker_id(self._group_id, statement_id)
        plan = plan_rename(statement, default_db, captured, definitions, self._work_db, ident)
        if (
            not is_pure_rename(statement)
            and len(plan.pairs) == 2
            and plan.pairs[0] == rename_pairs(statement, default_db)[0]
        ):
            self._alter_rename(statement, default_db, plan.pairs[0])
            return
        if self.done(statement_id):
            log.info("RENAME already applied on the target, skipping: %s", statement[:200])
            self._drop(plan.drops)
            return
        target = self._target
        target.create_table(*plan.marker[0], "CREATE TABLE _ (done TINYINT)")
        for stage, definition in plan.creates:
            target.create_table(*stage, definition)
        for database in sorted({new[0] for _old, new in plan.pairs}):
            target.run_ddl("", f"CREATE DATABASE IF NOT EXISTS {quote(database)}")
        why = runnable(plan.pairs, lambda name: target.info(*name).exists)
        if why is not None:
            raise PermanentError(
                f"cannot apply the RENAME at {where} on the target ({why}): {statement[:300]}; the target "
                "differs from the source here — re-sync the tables it names (snapshot --table)"
            )
        rename = "RENAME TABLE " + ", ".join(
            f"{qualified(*old)} TO {qualified(*new)}" for old, new in plan.pairs
        )
        log.info("applying RENAME: %s", rename)
        target.run_ddl("", rename)
        self._drop(plan.drops)

    def forget(self, statement_id: str) -> None:
        """Drop the statement's marker once every partition that carries it is past it."""
        ident = marker_id(self._group_id, statement_id)
        self._target.run_ddl("", f"DROP TABLE IF EXISTS {qualified(self._work_db, f'bp_ddl_done_{ident}')}")

    def _alter_rename(self, statement: str, default_db: str, pair: tuple[Table, Table]) -> None:
        """ALTER TABLE old … RENAME TO new with both names captured: the statement itself (it may
        change the definition too), done once the old name is gone and the new one is there."""
        old, new = pair
        if not self._target.info(*old).exists and self._target.info(*new).exists:
            log.info("ALTER … RENAME already applied on the target, skipping: %s", statement[:200])
            return
        log.info("applying DDL: %s", statement[:200])
        self._target.run_ddl(default_db, statement)

    def _drop(self, tables: tuple[Table, ...]) -> None:
        for table in tables:
            self._target.run_ddl("", f"DROP TABLE IF EXISTS {qualified(*table)}")
