"""Binlog distance arithmetic behind `lag`'s producer side (the end-to-end check is in test_ops)."""

from __future__ import annotations

from binlog_pipeline.ops.producer_lag import bytes_between
from binlog_pipeline.producer.position import BinlogPosition as P


def test_binlog_bytes_between_positions_across_files() -> None:
    logs = (("b.000009", 1000), ("b.000010", 500), ("b.000011", 300))
    assert bytes_between(logs, P("b.000010", 100), P("b.000010", 350)) == 250
    assert bytes_between(logs, P("b.000009", 900), P("b.000011", 40)) == 100 + 500 + 40
    assert bytes_between(logs, P("b.000008", 4), P("b.000011", 40)) is None  # purged
