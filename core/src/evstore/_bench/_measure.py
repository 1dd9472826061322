"""Sizes, timing, interleaving and results of the benchmark.

Machines running this are noisy (shared CI runners, laptops on battery), so absolute
rates are never compared across runs: every figure that matters is a ratio of two
rates measured in the same run, alternating the two sides round by round so that a
slow patch of the machine hurts both, and taking medians so one bad round does not.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

# Called as (what is running, steps done, steps in total) while a workload runs.
Progress = Callable[[str, int, int], None]
# One side of a workload: runs round ``n`` and returns its rate (events per second).
Side = Callable[[int], float]


def _scaled(count: int, scale: float) -> int:
    return max(1, round(count * scale))


# (full run, --quick) for every count of ``Sizes``.
_COUNTS: dict[str, tuple[int, int]] = {
    "single_full": (500, 200),
    "single_normal": (3000, 1500),
    "batch_transactions": (50, 20),
    "bulk": (100_000, 20_000),
    "workflow_events": (10_000, 5_000),
    "log_events": (100_000, 30_000),
    "reads_per_round": (3, 2),
    "growth_small": (10_000, 10_000),
    "growth_large": (1_000_000, 100_000),
    "growth_transactions": (10, 10),
    "writer_events": (600, 80),
    # 100 appends per thread at --quick: a round lasts long enough (~0.2 s) that starting
    # the eight threads does not weigh on the rate (at 20 a thread it could).
    "thread_events": (1600, 800),
}
_ROUNDS = (7, 5)  # many short rounds: a noisy patch then hurts both sides alike


@dataclass(frozen=True)
class Sizes:
    """How much each workload does. ``scale`` shrinks every count (tests use 0.01)."""

    quick: bool
    scale: float
    rounds: int
    single_full: int  # single-event appends per round, synchronous=FULL
    single_normal: int  # single-event appends per round, synchronous=NORMAL
    batch_transactions: int  # transactions of BATCH_SIZE events per round
    bulk: int  # events of the one append_many per round
    workflow_events: int  # events in the workflow read back
    log_events: int  # events in the whole log (the workflow's included)
    reads_per_round: int  # times the workflow is read per round
    growth_small: int  # events stored before measuring the append rate...
    growth_large: int  # ...and in the larger store it is compared with
    growth_transactions: int  # transactions of BATCH_SIZE events per round and store
    writer_events: int  # single appends per round shared by the writer processes (PostgreSQL)
    thread_events: int  # durable single appends per round shared by the group-commit threads

    @classmethod
    def choose(cls, *, quick: bool, scale: float = 1.0) -> Sizes:
        counts = {name: _scaled(pair[1 if quick else 0], scale) for name, pair in _COUNTS.items()}
        counts["log_events"] = max(counts["log_events"], counts["workflow_events"])
        counts["growth_large"] = max(counts["growth_large"], counts["growth_small"] + 1)
        return cls(quick, scale, _ROUNDS[1 if quick else 0], **counts)

    def count(self, full: int, quick: int) -> int:
        """A workload's own size: ``full`` for a full run, ``quick`` with ``--quick``,
        times ``scale`` (at least 1). Contributed workloads size themselves with it."""
        return _scaled(quick if self.quick else full, self.scale)


def measure(count: int, action: Callable[[], object]) -> float:
    """Run ``action`` once and return ``count`` divided by the seconds it took.

    Garbage left by the previous round is collected first, so one side does not pay
    for the other's allocations; collections triggered by the action itself are its own
    cost and stay in the timing.
    """
    gc.collect()
    start = time.perf_counter()
    action()
    elapsed = time.perf_counter() - start
    return count / max(elapsed, 1e-9)


def interleave(
    sides: Sequence[Side], rounds: int, label: str, progress: Progress, done: int = 0
) -> list[list[float]]:
    """Run every side once per round, rotating which goes first, and collect their
    rates. Rotating cancels any advantage of running first (a warm cache) or last."""
    rates: list[list[float]] = [[] for _ in sides]
    total = done + rounds
    for round_number in range(rounds):
        for offset in range(len(sides)):
            index = (round_number + offset) % len(sides)
            rates[index].append(sides[index](round_number))
        progress(label, done + round_number + 1, total)
    return rates


@dataclass(frozen=True)
class Result:
    """One row of the report: the two sides' median rates and evstore's ratio to raw.

    For ``kind == "growth"`` the "rates" are themselves ratios (the append rate with the
    large store divided by the rate with the small one) and ``ratio`` is evstore's.

    For ``kind == "lag"`` (how far behind the log a consumer stays, in seconds) there
    is no raw side: ``raw`` is the median lag, ``evstore`` the largest, ``ratio`` NaN.

    ``target_unit`` says what the target bounds: ``"ratio"`` (evstore/raw, at least),
    ``"events/s"`` (evstore's own rate, at least, for a target that is absolute) or
    ``"seconds"`` (the largest lag, at most). A row with ``skipped`` set was not
    measured (the reason says why) and has no rates.
    """

    key: str
    label: str
    durability: str | None
    size: dict[str, int]
    rounds: int
    raw: float
    evstore: float
    ratio: float
    target: float | None
    kind: str = "rate"
    raw_rates: tuple[float, ...] = field(default=())
    evstore_rates: tuple[float, ...] = field(default=())
    target_unit: str = "ratio"
    skipped: str | None = None

    @classmethod
    def from_rates(
        cls, key: str, label: str, durability: str | None, size: dict[str, int],
        rates: Sequence[Sequence[float]], target: float | None, target_unit: str = "ratio",
    ) -> Result:
        raw_rates, evstore_rates = (tuple(r) for r in rates)
        raw, evstore = statistics.median(raw_rates), statistics.median(evstore_rates)
        return cls(
            key, label, durability, size, len(raw_rates), raw, evstore, evstore / raw, target,
            raw_rates=raw_rates, evstore_rates=evstore_rates, target_unit=target_unit,
        )

    @classmethod
    def skip(
        cls, key: str, label: str, durability: str | None, target: float | None, target_unit: str, reason: str
    ) -> Result:
        nothing = float("nan")
        return cls(
            key, label, durability, {}, 0, nothing, nothing, nothing, target,
            target_unit=target_unit, skipped=reason,
        )

    @classmethod
    def growth(cls, key: str, label: str, small: Result, large: Result, target: float) -> Result:
        evstore = large.evstore / small.evstore
        return cls(
            key, label, small.durability, {"small": small.size["stored"], "large": large.size["stored"]},
            small.rounds, large.raw / small.raw, evstore, evstore, target, kind="growth",
        )

    @classmethod
    def lag(
        cls, key: str, label: str, durability: str | None, size: dict[str, int], lags: Sequence[float], target: float
    ) -> Result:
        """A lag row from every lag observed (seconds): its median and its maximum."""
        return cls(
            key, label, durability, size, 1, statistics.median(lags), max(lags), float("nan"), target,
            kind="lag", target_unit="seconds",
        )

    @property
    def met(self) -> bool | None:
        if self.target is None or self.skipped is not None:
            return None
        if self.target_unit == "seconds":
            return self.evstore <= self.target
        measured = self.evstore if self.target_unit == "events/s" else self.ratio
        return measured >= self.target

    def to_json(self) -> dict[str, Any]:
        measured = self.skipped is None  # a skipped row's rates are NaN, which JSON lacks
        units = {"growth": "ratio", "lag": "seconds"}
        return {
            "key": self.key,
            "label": self.label,
            "kind": self.kind,
            "unit": units.get(self.kind, "events/s"),
            "durability": self.durability,
            "size": self.size,
            "rounds": self.rounds,
            "raw": {"median": self.raw if measured else None, "rounds": list(self.raw_rates)},
            "evstore": {"median": self.evstore if measured else None, "rounds": list(self.evstore_rates)},
            "ratio": self.ratio if measured and self.kind != "lag" else None,
            "target": self.target,
            "target_unit": self.target_unit,
            "met": self.met,
            "skipped": self.skipped,
        }


@dataclass(frozen=True)
class Report:
    sizes: Sizes
    results: list[Result]
    seconds: float
    environment: dict[str, str]
    workload_seconds: dict[str, float] = field(default_factory=dict)

    def missed(self) -> list[Result]:
        return [result for result in self.results if result.met is False]

    def skipped(self) -> list[Result]:
        return [result for result in self.results if result.skipped is not None]

    def to_json(self) -> dict[str, Any]:
        return {
            **self.environment,
            "quick": self.sizes.quick,
            "scale": self.sizes.scale,
            "rounds": self.sizes.rounds,
            "seconds": round(self.seconds, 3),
            "workload_seconds": self.workload_seconds,
            "results": [result.to_json() for result in self.results],
            "missed": [result.key for result in self.missed()],
            "skipped": {result.key: result.skipped for result in self.skipped()},
            "all_targets_met": not self.missed(),
        }
