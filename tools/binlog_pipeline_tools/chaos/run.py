"""One chaos run on the local stack: load on the source, the pipeline running through fault
proxies, a seeded schedule of faults, a drain, and the verdict.

Each fault is injected, held, healed; then the run waits until *both* processes make progress
again (the producer commits a Kafka transaction with rows, the applier commits a batch on the
target) — that wait is the fault's time to recover. Some faults are followed by the next one
before the pipeline has recovered ("overlap"), so recoveries pile up as they do in real outages.
"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path
from typing import Any

from rich.progress import Progress

from binlog_pipeline.core.config import Settings
from binlog_pipeline.core.dburl import DatabaseUrl
from binlog_pipeline.core.metrics import binlog_file_index
from binlog_pipeline.core.waiting import Deadline, WaitTimeout, wait_until
from binlog_pipeline.ops.verify import Side
from binlog_pipeline_tools.bench import workloads as w
from binlog_pipeline_tools.bench.processes import (
    APPLIED,
    KAFKA_TRANSACTIONS_COMMITTED,
    PRODUCED,
    PipelineProcess,
    producer_checkpoint,
)
from binlog_pipeline_tools.chaos import checks
from binlog_pipeline_tools.chaos.faults import MEMBER_POLL_TIMEOUT_S, Injector, PlannedFault, plan
from binlog_pipeline_tools.chaos.model import ChaosOptions, ChaosResult, FaultRecord
from binlog_pipeline_tools.chaos.supervisor import Supervised, progressed
from binlog_pipeline_tools.chaos.tcp_proxy import TcpProxy
from binlog_pipeline_tools.chaos.workload import (
    DB,
    DDL_SEQUENCE,
    SYSBENCH_DB,
    MixedWorkload,
    SysbenchLoad,
    prepare_sysbench,
)
from binlog_pipeline_tools.stack import Stack
from binlog_pipeline_tools.stack import process as service_process
from binlog_pipeline_tools.stack.stack import APPLIER_USER, PRODUCER_USER


class ChaosRun:
    def __init__(
        self, stack: Stack, settings: Settings, options: ChaosOptions, out_dir: Path, progress: Progress
    ):
        self.stack = stack
        self.settings = settings
        self.options = options
        self.out_dir = out_dir
        self.progress = progress
        env = stack.env()
        self.source_admin = DatabaseUrl.parse(env["BINLOG_PIPELINE_STACK_SOURCE_ADMIN_URL"])
        self.target_admin = DatabaseUrl.parse(env["BINLOG_PIPELINE_STACK_TARGET_ADMIN_URL"])
        self.prefix = f"chaos{int(time.time())}"
        self.group = f"{self.prefix}-applier"
        self.dead_letter_topic = f"{self.prefix}-dead-letters"
        self.clock = time.monotonic()
        self.result = ChaosResult(options, topic_prefix=self.prefix, group=self.group)
        self.proxies: dict[str, TcpProxy] = {}
        self.processes: dict[str, Supervised] = {}
        self._join: Any = None
        # The harness's own view of Kafka: straight to the broker, never through the proxy.
        self.direct = settings.model_copy(
            update={
                "bootstrap_servers": env["BINLOG_PIPELINE_BOOTSTRAP_SERVERS"],
                "topic_prefix": self.prefix,
            }
        )

    def now(self) -> float:
        return round(time.monotonic() - self.clock, 2)

    # --- the run ----------------------------------------------------------------------------
    def run(self) -> ChaosResult:
        schedule = plan(self.options.seed, self.options.faults, self.options.kinds, self.options.max_hold_s)
        try:
            self._prepare()
            start = w.binlog_position(self.source_admin)
            self._create_tables()
            self._start_pipeline(start)
            counts = self._run_load_and_faults(schedule)
            self.result.verdict = self._drain_and_judge()
            self.result.figures = self._figures(counts)
        except _Unrecovered as exc:
            self.result.failure = str(exc)
        except Exception as exc:  # the harness or a workload broke: still a result, with its seed
            self.result.failure = f"{type(exc).__name__}: {exc}"
        finally:
            for supervised in self.processes.values():
                supervised.stop()
            for proxy in self.proxies.values():
                proxy.close()
            self._heal_stack()
        if not self.result.figures:
            self.result.figures = self._figures(None)
        return self.result

    def _prepare(self) -> None:
        task = self.progress.add_task("preparing: stack, proxies, databases", total=None)
        self.stack.up()
        if not service_process.port_open(self.stack.port("kafka_proxied")):
            # A broker started before the chaos listener existed: restart it once to add it.
            self.stack.down(["kafka"])
            self.stack.up(["kafka"])
        self.proxies = {
            "target": TcpProxy(self.stack.port("target")),
            "source": TcpProxy(self.stack.port("source")),
            "broker": TcpProxy(
                self.stack.port("kafka_proxied"), listen_port=self.stack.port("kafka_via_proxy")
            ),
        }
        for url in (self.source_admin, self.target_admin):
            w.execute(url, f"DROP DATABASE IF EXISTS {DB}", f"DROP DATABASE IF EXISTS {SYSBENCH_DB}")
        w.execute(
            self.target_admin,
            f"CREATE DATABASE {DB}",
            f"CREATE DATABASE {SYSBENCH_DB}",
            "SET GLOBAL read_only = 0",
        )
        self.progress.update(task, total=1, completed=1)

    def _create_tables(self) -> None:
        """After the producer's start position: the pipeline replicates the CREATEs and the
        sysbench prepare too (there is no snapshot yet)."""
        task = self.progress.add_task("preparing: tables and sysbench prepare", total=None)
        w.execute(self.source_admin, f"CREATE DATABASE {DB}", f"CREATE DATABASE {SYSBENCH_DB}")
        MixedWorkload.create_schema(self.source_admin)
        prepare_sysbench(self.source_admin)
        self.progress.update(task, total=1, completed=1)

    def _start_pipeline(self, start: tuple[str, int]) -> None:
        assert self.settings.source_url is not None and self.settings.target_url is not None
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("BINLOG_PIPELINE_")},
            "BINLOG_PIPELINE_SOURCE_URL": _via(self.settings.source_url, self.proxies["source"].port),
            "BINLOG_PIPELINE_TARGET_URL": _via(self.settings.target_url, self.proxies["target"].port),
            "BINLOG_PIPELINE_BOOTSTRAP_SERVERS": f"127.0.0.1:{self.proxies['broker'].port}",
        }
        common: dict[str, object] = {"topic_prefix": self.prefix}
        producer_settings = {
            **common,
            "transactional_id": f"{self.prefix}-producer",
            "start_position": f"{start[0]}:{start[1]}",
            "snapshot_mode": "never",  # the tables start empty; the snapshot has its own fault test
            "include_tables": f"{DB}.*,{SYSBENCH_DB}.*",
        }
        applier_settings = {
            **common,
            "group_id": self.group,
            "dead_letter_topic": self.dead_letter_topic,
            # As the README recommends for faster crash recovery: a killed member's partitions
            # move after 10 s instead of librdkafka's default 45 s session timeout; a member that
            # stops polling (SIGSTOP) leaves the group after MEMBER_POLL_TIMEOUT_S.
            "kafka_consumer": "session.timeout.ms=10000,"
            f"max.poll.interval.ms={int(MEMBER_POLL_TIMEOUT_S * 1000)}",
        }
        self.out_dir.mkdir(parents=True, exist_ok=True)

        def maker(name: str, module: str, settings: dict[str, object]) -> Any:
            return lambda: PipelineProcess(module, env, settings, self.out_dir / f"{name}.log")

        def member(name: str) -> Supervised:
            return Supervised(name, maker(name, "applier", applier_settings), APPLIED, self.clock)

        self.processes = {
            "producer": Supervised(
                "producer", maker("producer", "producer", producer_settings), PRODUCED, self.clock
            ),
            **{f"applier-{n}": member(f"applier-{n}") for n in range(1, self.options.appliers + 1)},
        }
        for supervised in self.processes.values():
            supervised.start()

        def join() -> Supervised:
            name = f"applier-extra-{sum(1 for n in self.processes if n.startswith('applier-extra')) + 1}"
            extra = self.processes[name] = member(name)
            extra.start()
            return extra

        self._join = join

    def _run_load_and_faults(self, schedule: list[PlannedFault]) -> Any:
        mixed = MixedWorkload(self.source_admin, self.options.seed, self.options.mixed_tps)
        sysbench = SysbenchLoad(self.source_admin, self.options.seed, self.options.sysbench_tps, mixed.counts)
        mixed.start()
        sysbench.start()
        injector = Injector(
            self.stack,
            self.proxies,
            self.processes,
            self.source_admin,
            self.target_admin,
            PRODUCER_USER,
            APPLIER_USER,
            seed=self.options.seed,
            join=self._join,
        )
        task = self.progress.add_task(f"faults (seed {self.options.seed})", total=len(schedule))
        self._await_progress([], "the pipeline's first rows")  # it runs before the first fault
        pending: list[FaultRecord] = []
        ddl_at: dict[int, list[str]] = {}  # spread over the schedule, in order (several per fault if short)
        for n, ddl in enumerate(DDL_SEQUENCE):
            ddl_at.setdefault(len(schedule) * (n + 1) // (len(DDL_SEQUENCE) + 1), []).append(ddl)
        try:
            for fault in schedule:
                if self.options.duration_s and time.monotonic() - self.clock > self.options.duration_s:
                    break
                for ddl in ddl_at.get(fault.index, []):
                    mixed.request_ddl(ddl)
                self.progress.update(task, description=f"fault {fault.index + 1}: {fault.kind}")
                record = FaultRecord(fault, injected_at_s=self.now())
                self.result.records.append(record)
                heal, record.note = injector.inject(fault.kind)
                self._hold(fault.hold_s)
                heal()
                record.healed_at_s = self.now()
                pending.append(record)
                if not fault.overlap:
                    self._await_progress(pending, f"recovery from fault {fault.index + 1} ({fault.kind})")
                    pending = []
                self._hold(fault.gap_s)
                self.progress.advance(task)
            if pending:
                self._await_progress(pending, "recovery from the last faults")
        finally:
            mixed.stop.set()
            sysbench.stop.set()
        mixed.finish()
        sysbench.finish()
        return mixed.counts

    def _hold(self, seconds: float) -> None:
        """Wait, while supervising the processes (an unplanned exit is restarted at once)."""
        deadline = Deadline(seconds, "the end of a hold")
        while True:
            for supervised in self.processes.values():
                supervised.watch()
            if deadline.passed():
                return
            time.sleep(min(deadline.left(), 0.25))

    def _await_progress(self, pending: list[FaultRecord], what: str) -> None:
        """Until the producer and the applier group (any member) have committed new work since
        now; stamps the pending records."""
        baseline = {name: s.sample() for name, s in self.processes.items()}
        done: set[str] = set()

        def both_progressed() -> bool:
            self._hold(0.25)
            for name, supervised in list(self.processes.items()):
                if progressed(baseline.get(name), supervised.sample()):
                    done.add(name.split("-", 1)[0])
            return done == {"producer", "applier"}

        try:
            wait_until(both_progressed, self.options.recovery_timeout_s, 0, what)
        except WaitTimeout as exc:
            raise _Unrecovered(
                f"no {' and no '.join(sorted({'producer', 'applier'} - done))} progress within "
                f"{self.options.recovery_timeout_s:g}s of {what}"
            ) from exc
        now = self.now()
        for record in pending:
            record.recovered_s = round(now - record.healed_at_s, 2)

    def _drain_and_judge(self) -> checks.Verdict:
        end = w.binlog_position(self.source_admin)
        task = self.progress.add_task(
            "draining: producer to the source's end, applier to the topics' end", total=None
        )
        left: dict[str, int] = {}

        def drained() -> bool:
            nonlocal left
            self._hold(0.5)
            producer = self.processes["producer"].metrics() if self.processes["producer"].alive() else {}
            if producer_checkpoint(producer) < (binlog_file_index(end[0]), end[1]):
                return False
            left = checks.unapplied(self.direct, self.group)
            return not any(left.values())

        try:
            wait_until(drained, self.options.drain_timeout_s, 0, "the drain")
        except WaitTimeout as exc:
            stuck = {name: n for name, n in left.items() if n} or "the producer's checkpoint"
            raise _Unrecovered(
                f"the pipeline did not drain within {self.options.drain_timeout_s:g}s; still unapplied: {stuck}"
            ) from exc
        self.progress.update(task, total=1, completed=1)
        for supervised in self.processes.values():
            supervised.sample()
        judging = self.progress.add_task("checking: CHECKSUM, verify, dead letters, offsets", total=None)
        verdict = checks.judge(
            self.direct,
            self.group,
            self.source_admin,
            self.target_admin,
            self._replicated_tables(),
            self.dead_letter_topic,
        )
        self.progress.update(judging, total=1, completed=1)
        return verdict

    def _replicated_tables(self) -> list[tuple[str, str]]:
        source = Side("source", self.source_admin)
        try:
            return checks.tables_in(source, [DB, SYSBENCH_DB])
        finally:
            source.close()

    def _heal_stack(self) -> None:
        """Leave the stack as found: every service up, the target writable."""
        try:
            self.stack.up()
            w.execute(self.target_admin, "SET GLOBAL read_only = 0")
        except Exception as exc:  # reported, never hiding the run's own outcome
            self.result.failure = self.result.failure or f"could not restore the stack afterwards: {exc}"

    # --- figures ----------------------------------------------------------------------------
    def _figures(self, counts: Any) -> dict[str, Any]:
        by_kind: dict[str, dict[str, Any]] = {}
        for record in self.result.records:
            entry = by_kind.setdefault(record.planned.kind, {"injected": 0, "recovered": 0, "recovery_s": []})
            entry["injected"] += 1
            if record.recovered_s is not None:
                entry["recovered"] += 1
                entry["recovery_s"].append(record.recovered_s)
        times = [r.recovered_s for r in self.result.records if r.recovered_s is not None]
        for entry in by_kind.values():
            values = entry.pop("recovery_s")
            entry["median_recovery_s"] = round(statistics.median(values), 2) if values else None
            entry["max_recovery_s"] = max(values) if values else None
        verdict = self.result.verdict
        unplanned = [u for s in self.processes.values() for u in s.unplanned]
        return {
            "seed": self.options.seed,
            "appliers": self.options.appliers,
            "faults_planned": self.options.faults,
            "faults_injected": len(self.result.records),
            "recoveries": len(times),
            "unrecovered": len(self.result.records) - len(times),
            "median_recovery_s": round(statistics.median(times), 2) if times else None,
            "max_recovery_s": max(times) if times else None,
            "faults_by_kind": dict(sorted(by_kind.items())),
            "unplanned_exits": [u.__dict__ for u in unplanned],
            "source_transactions": (counts.transactions + counts.sysbench_transactions) if counts else None,
            "mixed_transactions": counts.transactions if counts else None,
            "large_transactions": counts.large_transactions if counts else None,
            "sysbench_transactions": counts.sysbench_transactions if counts else None,
            "ddl": counts.ddl if counts else [],
            "kafka_transactions_committed": self._total("producer", KAFKA_TRANSACTIONS_COMMITTED),
            "rows_produced": self._total("producer", PRODUCED),
            "rows_applied_incl_reapplied": self._total("applier", APPLIED),
            "rows_in_replicated_tables": sum(t["source_rows"] for t in verdict.tables.values())
            if verdict
            else None,
            "checksums_equal": bool(verdict and not [d for d in verdict.differences if "CHECKSUM" in d]),
            "verdict_ok": bool(verdict and verdict.ok),
            "differences": verdict.differences if verdict else [],
            "dead_letters": verdict.dead_letters if verdict else None,
            "duration_s": self.now(),
        }

    def _total(self, component: str, metric: str) -> int | None:
        """``metric`` over every life of every process of ``component`` (producer / applier)."""
        members = [s for name, s in self.processes.items() if name.split("-", 1)[0] == component]
        return int(sum(s.total(metric) for s in members)) if members else None


class _Unrecovered(Exception):
    pass


def _via(url: DatabaseUrl, port: int) -> str:
    return DatabaseUrl(url.host, port, url.user, url.password, url.database).unmasked()
