"""Prometheus metrics of the producer and the applier (prometheus-client's default registry, which
also carries process_* metrics such as resident memory).

Counters move only when their work is final: rows *produced* count after the Kafka transaction
committed, rows *applied* after the target COMMIT returned — the same proof the checkpoints use —
so a retried batch is never counted twice. Times from the source are the binlog event timestamps,
which MySQL and MariaDB record in whole seconds.
"""

from __future__ import annotations

import bisect
import itertools
import math
import threading
from collections.abc import Iterator, Sequence

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import HistogramMetricFamily
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

NS = "binlog_pipeline"
ROW_BUCKETS = (1, 10, 50, 100, 500, 1000, 2000, 5000, 10000, 50000)
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
E2E_BUCKETS = (0.5, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0)


class BulkHistogram(Collector):
    """A histogram that counts many observations of one value in one call (prometheus-client's
    :class:`Histogram` takes one per call: observed per row change, that was ~3% of the applier's
    time). Its samples are a Histogram's: ``_bucket{le=...}``, ``_count``, ``_sum``."""

    def __init__(
        self, name: str, documentation: str, buckets: Sequence[float], registry: CollectorRegistry = REGISTRY
    ) -> None:
        self._name = name
        self._documentation = documentation
        self._bounds = (*buckets, math.inf)
        self._counts = [0] * len(self._bounds)
        self._sum = 0.0
        self._lock = threading.Lock()
        registry.register(self)

    def observe(self, value: float, times: int = 1) -> None:
        """Count ``times`` observations of ``value`` (in the first bucket whose bound is ≥ it)."""
        index = bisect.bisect_left(self._bounds, value)
        with self._lock:
            self._counts[index] += times
            self._sum += value * times

    def collect(self) -> Iterator[HistogramMetricFamily]:
        with self._lock:
            counts, total = list(self._counts), self._sum
        buckets = [
            (floatToGoString(bound), cumulative)  # type: ignore[no-untyped-call]  # Histogram's own le labels
            for bound, cumulative in zip(self._bounds, itertools.accumulate(counts), strict=True)
        ]
        yield HistogramMetricFamily(self._name, self._documentation, buckets=buckets, sum_value=total)


# --- both processes ---------------------------------------------------------------------------
RETRIES = Counter(
    f"{NS}_retries",
    "Transient errors retried with backoff, by component and error class.",
    ["component", "error"],
)

# --- producer ---------------------------------------------------------------------------------
PRODUCER_ROWS_READ = Counter(f"{NS}_producer_rows_read", "Row changes decoded from the binlog.", ["table"])
PRODUCER_ROWS_PRODUCED = Counter(
    f"{NS}_producer_rows_produced", "Row changes in committed Kafka transactions.", ["table"]
)
PRODUCER_TRANSACTIONS = Counter(
    f"{NS}_producer_kafka_transactions", "Kafka transactions by outcome (committed, aborted).", ["outcome"]
)
PRODUCER_TRANSACTION_ROWS = Histogram(
    f"{NS}_producer_transaction_rows", "Row changes per committed Kafka transaction.", buckets=ROW_BUCKETS
)
PRODUCER_COMMIT_SECONDS = Histogram(
    f"{NS}_producer_commit_seconds", "Kafka commit_transaction latency.", buckets=LATENCY_BUCKETS
)
PRODUCER_CHECKPOINT_FILE = Gauge(
    f"{NS}_producer_checkpoint_binlog_file_index", "Numeric suffix of the checkpoint's binlog file."
)
PRODUCER_CHECKPOINT_POSITION = Gauge(
    f"{NS}_producer_checkpoint_binlog_position", "Byte position of the last committed checkpoint."
)
SNAPSHOT_TABLES = Gauge(
    f"{NS}_snapshot_tables", "Tables of the current (or last) snapshot, total and done.", ["state"]
)
SNAPSHOT_ROWS = Gauge(
    f"{NS}_snapshot_rows",
    "Snapshot rows in committed Kafka transactions (done) and the estimate (estimated, from "
    "information_schema); rate(done) is rows/s.",
    ["state"],
)
SNAPSHOT_RUNNING = Gauge(f"{NS}_snapshot_running", "1 while a snapshot is in progress.")
PRODUCER_CHECKPOINT_SOURCE_TIME = Gauge(
    f"{NS}_producer_checkpoint_source_timestamp_seconds",
    "Source time of the event at the committed checkpoint; time() minus this is how far behind.",
)

# --- applier ----------------------------------------------------------------------------------
APPLIER_ROWS_APPLIED = Counter(
    f"{NS}_applier_rows_applied", "Row changes in committed target transactions.", ["table", "op"]
)
APPLIER_BATCH_ROWS = Histogram(
    f"{NS}_applier_batch_rows", "Row changes per committed target transaction.", buckets=ROW_BUCKETS
)
APPLIER_APPLY_SECONDS = Histogram(
    f"{NS}_applier_apply_seconds", "BEGIN and the batch's statements, before COMMIT.", buckets=LATENCY_BUCKETS
)
APPLIER_COMMIT_SECONDS = Histogram(f"{NS}_applier_commit_seconds", "Target COMMIT.", buckets=LATENCY_BUCKETS)
APPLIER_OFFSET_COMMIT_SECONDS = Histogram(
    f"{NS}_applier_offset_commit_seconds",
    "Kafka offset commit after the target COMMIT.",
    buckets=LATENCY_BUCKETS,
)
APPLIER_END_TO_END_SECONDS = BulkHistogram(
    f"{NS}_applier_end_to_end_seconds",
    "Per row change: target COMMIT time minus source event time (whole-second source clock).",
    buckets=E2E_BUCKETS,
)
APPLIER_END_TO_END_LAG = Gauge(
    f"{NS}_applier_end_to_end_lag_seconds",
    "Target COMMIT time minus source time of the last batch's newest change.",
)
APPLIER_CHECKPOINT_OFFSET = Gauge(
    f"{NS}_applier_checkpoint_offset", "Next offset to apply, as committed.", ["topic", "partition"]
)
APPLIER_LAG_MESSAGES = Gauge(
    f"{NS}_applier_lag_messages",
    "Partition high watermark (as last fetched) minus the next offset to apply. On transactional "
    "topics the commit marker counts: a caught-up partition shows 1, as `binlog-pipeline lag` does.",
    ["topic", "partition"],
)
APPLIER_DEAD_LETTERS = Counter(
    f"{NS}_applier_dead_letters", "Messages diverted to the dead-letter topic (committed).", ["topic"]
)
APPLIER_SCHEMA_CHANGES = Counter(f"{NS}_applier_schema_changes", "Schema-change records applied.", ["table"])


def sample_name(metric: Counter | Gauge) -> str:
    """The name /metrics gives ``metric``'s samples (a Counter's ends in ``_total``): what readers
    of the endpoint — the benchmark, the chaos run — look up, rather than typing it again."""
    family = next(iter(metric.describe()))
    return f"{family.name}_total" if family.type == "counter" else family.name


def binlog_file_index(name: str) -> int:
    """mysql-bin.000042 → 42 (0 when the name has no numeric suffix)."""
    suffix = name.rsplit(".", 1)[-1]
    return int(suffix) if suffix.isdigit() else 0
