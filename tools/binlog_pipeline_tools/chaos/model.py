"""The chaos run's data: its options, each fault's record and the result — shared by the run
and the report, which import neither each other."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from binlog_pipeline_tools.chaos import checks
from binlog_pipeline_tools.chaos.faults import PlannedFault


@dataclass(frozen=True)
class ChaosOptions:
    seed: int
    faults: int
    kinds: list[str]
    duration_s: float | None = None  # stop injecting after this long, even short of ``faults``
    recovery_timeout_s: float = 180.0
    drain_timeout_s: float = 300.0
    sysbench_tps: int = 40
    mixed_tps: float = 20.0
    max_hold_s: float = 6.0
    appliers: int = 3  # members of the applier group


@dataclass
class FaultRecord:
    planned: PlannedFault
    note: str = ""
    injected_at_s: float = 0.0
    healed_at_s: float = 0.0
    recovered_s: float | None = None  # from healing to progress on both sides; None: never

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.planned.as_dict(),
            "note": self.note,
            "injected_at_s": self.injected_at_s,
            "healed_at_s": self.healed_at_s,
            "recovered_s": self.recovered_s,
        }


@dataclass
class ChaosResult:
    options: ChaosOptions
    records: list[FaultRecord] = field(default_factory=list)
    verdict: checks.Verdict | None = None
    failure: str = ""
    figures: dict[str, Any] = field(default_factory=dict)
    topic_prefix: str = ""
    group: str = ""

    @property
    def ok(self) -> bool:
        # An exit the supervisor had to restart is a failure too: both processes retry every
        # fault they meet (retry_deadline_s), so nothing in a chaos run should make them give up.
        return (
            not self.failure
            and self.verdict is not None
            and self.verdict.ok
            and not self.figures.get("unplanned_exits")
        )

    def reproduce(self) -> str:
        """The command that replays this schedule and workload (timing on a machine varies)."""
        o, default = self.options, ChaosOptions(0, 0, [])
        command = f"binlog-pipeline chaos --seed {o.seed} --faults {o.faults} --kinds {','.join(o.kinds)}"
        for flag, value, usual in (
            ("--max-hold", o.max_hold_s, default.max_hold_s),
            ("--sysbench-tps", o.sysbench_tps, default.sysbench_tps),
            ("--mixed-tps", o.mixed_tps, default.mixed_tps),
            ("--duration", o.duration_s, default.duration_s),
            ("--appliers", o.appliers, default.appliers),
        ):
            if value != usual:
                command += f" {flag} {value:g}"
        return command
