"""The benchmark's data: workload sizes (quick and full) and the samples taken over a run —
shared by the run that measures and the report that renders, which import neither each other."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, fields, replace


@dataclass(frozen=True)
class Sizes:
    bulk_rows: int
    bulk_txn_rows: int
    single_txn_rows: int
    wide_rows: int
    sysbench_tables: int
    sysbench_table_size: int
    sysbench_seconds: int
    sysbench_threads: int
    latency_rows_s: int
    latency_seconds: int
    sysbench_rate_tps: int = 1_000  # the fixed-rate sysbench run (≈ 4 row changes per transaction)
    sysbench_rate_seconds: int = 60

    def scaled(self, factor: float) -> Sizes:
        """Every row count, table size and duration times ``factor`` (at least 1); transaction
        size and rates stay, so a scaled run has the same shape."""
        if factor == 1.0:
            return self
        return replace(
            self,
            **{
                f.name: max(int(getattr(self, f.name) * factor), 1)
                for f in fields(self)
                if f.name.endswith(("_rows", "_table_size", "_seconds")) and f.name != "bulk_txn_rows"
            },
        )


QUICK = Sizes(40_000, 10_000, 40_000, 4_000, 4, 5_000, 8, 2, 5_000, 10, 1_000, 5)  # < 4 minutes
FULL = Sizes(1_000_000, 10_000, 1_000_000, 50_000, 4, 50_000, 60, 4, 5_000, 60, 1_000, 60)


@dataclass
class Timeline:
    """Samples for the plot: (seconds since start, phase, component, rows/s)."""

    start: float = field(default_factory=time.monotonic)
    throughput: list[tuple[float, str, str, float]] = field(default_factory=list)
    latency: list[tuple[float, float, float]] = field(default_factory=list)  # (second, p50 ms, p99 ms)
