"""How far a snapshot has got — part of the producer checkpoint, so it is committed in the same
Kafka transaction as the chunk it describes and a restart continues after the last committed
chunk, never before or after it."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any

RawKey = list[str | bytes]


def _key_to_json(key: RawKey | None) -> list[dict[str, str]] | None:
    if key is None:
        return None
    return [{"b": v.hex()} if isinstance(v, bytes) else {"s": v} for v in key]


def _key_from_json(doc: list[dict[str, str]] | None) -> RawKey | None:
    if doc is None:
        return None
    return [bytes.fromhex(v["b"]) if "b" in v else v["s"] for v in doc]


@dataclass(frozen=True)
class TableProgress:
    table: str  # db.table
    last_key: RawKey | None = None  # the raw primary key of the last row published
    done: bool = False
    rows: int = 0
    estimated_rows: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "last_key": _key_to_json(self.last_key),
            "done": self.done,
            "rows": self.rows,
            "estimated_rows": self.estimated_rows,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> TableProgress:
        return cls(
            doc["table"],
            _key_from_json(doc.get("last_key")),
            bool(doc.get("done")),
            int(doc.get("rows", 0)),
            int(doc.get("estimated_rows", 0)),
        )


@dataclass(frozen=True)
class SnapshotProgress:
    """Tables in snapshot order. While one is unfinished the snapshot is running; when all are
    done the list is kept only as totals (the checkpoint is written with every transaction)."""

    tables: tuple[TableProgress, ...] = ()
    started_at: float = 0.0  # wall-clock seconds
    finished_at: float = 0.0
    tables_total: int = 0
    rows_total: int = 0

    @classmethod
    def start(cls, tables: list[TableProgress]) -> SnapshotProgress:
        return cls(tuple(tables), started_at=time.time())

    @property
    def running(self) -> bool:
        return any(not t.done for t in self.tables)

    @property
    def current(self) -> TableProgress | None:
        return next((t for t in self.tables if not t.done), None)

    def find(self, table: str) -> TableProgress | None:
        return next((t for t in self.tables if t.table == table), None)

    def unfinished(self, table: str) -> bool:
        entry = self.find(table)
        return entry is not None and not entry.done

    def tables_done(self) -> int:
        return self.tables_total if not self.tables else sum(t.done for t in self.tables)

    def rows_done(self) -> int:
        return self.rows_total if not self.tables else sum(t.rows for t in self.tables)

    def rows_estimated(self) -> int:
        return self.rows_total if not self.tables else sum(max(t.rows, t.estimated_rows) for t in self.tables)

    def count_tables(self) -> int:
        return self.tables_total if not self.tables else len(self.tables)

    def _replace_entry(self, entry: TableProgress) -> SnapshotProgress:
        tables = tuple(entry if t.table == entry.table else t for t in self.tables)
        return replace(self, tables=tables)

    def advanced(self, table: str, last_key: RawKey | None, rows: int, done: bool) -> SnapshotProgress:
        entry = self.find(table)
        assert entry is not None, f"{table} is not part of the snapshot"
        updated = replace(entry, last_key=last_key, rows=entry.rows + rows, done=done)
        progress = self._replace_entry(updated)
        if not progress.running:
            return SnapshotProgress(
                started_at=self.started_at,
                finished_at=time.time(),
                tables_total=len(progress.tables),
                rows_total=progress.rows_done(),
            )
        return progress

    def restarted(self, table: str, renamed_to: str | None = None) -> SnapshotProgress:
        """``table`` changed definition (or name) mid-snapshot: read it again from its start."""
        entry = self.find(table)
        assert entry is not None
        fresh = TableProgress(renamed_to or table, estimated_rows=entry.estimated_rows)
        return replace(self, tables=tuple(fresh if t.table == table else t for t in self.tables))

    def requested(self, tables: list[TableProgress]) -> SnapshotProgress:
        """Add tables (incremental snapshot); a table already listed starts again."""
        names = {t.table for t in tables}
        kept = tuple(t for t in self.tables if t.table not in names)
        started = self.started_at if self.running else time.time()
        return SnapshotProgress(kept + tuple(tables), started_at=started)

    def to_json(self) -> dict[str, Any]:
        return {
            "tables": [t.to_json() for t in self.tables],
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "tables_total": self.tables_total,
            "rows_total": self.rows_total,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> SnapshotProgress:
        return cls(
            tuple(TableProgress.from_json(t) for t in doc.get("tables", ())),
            float(doc.get("started_at", 0.0)),
            float(doc.get("finished_at", 0.0)),
            int(doc.get("tables_total", 0)),
            int(doc.get("rows_total", 0)),
        )
