"""Appends to a store with the six projections inline, against two raw sides.

The *floor* is the raw log storing the same events with no projection at all: how much
the projections cost. The *same-work* side (``_bench_replay``) writes what the
projections write as well, in the same transactions: how much evstore adds. All three
run in the same rounds, rotating who goes first. Rates count the events the caller
appends; the features cascade's follow-ups are part of the work of the store and of
the same-work side (not of the floor) and are reported in each row's size.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from evstore import EventStore, NewEvent
from evstore.bench import BATCH_SIZE, Progress, RawLog, Result, Sizes, each, interleave, measure, remove_database

from ._bench_replay import SameWorkLog, Step, inline_projections, projection_schema, record, transactions
from ._bench_specs import SupervisorSpec, supervisor_specs

# Issue 13: single durable appends >= 0.85x the same work by hand, 100 per transaction >= 0.7x.
TARGETS = {
    "supervisor_single_full": 0.75,
    "supervisor_single_full_same_work": 0.85,
    "supervisor_batch": 0.5,
    "supervisor_batch_same_work": 0.7,
}

# (full run, --quick): single appends per round, transactions of BATCH_SIZE per round.
SIZES = {"single": (400, 100), "transactions": (30, 5)}
Opener = Callable[[Path, str], EventStore]


def append_one_by_one(store: EventStore, specs: list[SupervisorSpec]) -> None:
    append = store.append
    for w, t, r, s, c, st, p in specs:
        append(NewEvent(workflow_id=w, event_type=t, role=r, step_id=s, component_id=c, status=st, payload=p))


def append_in_transaction(store: EventStore, specs: list[SupervisorSpec]) -> None:
    with store.transaction() as tx:
        for w, t, r, s, c, st, p in specs:
            tx.append(NewEvent(workflow_id=w, event_type=t, role=r, step_id=s, component_id=c, status=st, payload=p))


@dataclass
class Sides:
    """The three sides of one case, on files of their own."""

    floor: RawLog
    same_work: SameWorkLog
    store: EventStore
    recorded: list[list[Step]]  # the same-work side's transactions, in order


def _append(store: EventStore, specs: list[SupervisorSpec], per_transaction: int) -> None:
    if per_transaction == 1:
        append_one_by_one(store, specs)
        return
    for start in range(0, len(specs), per_transaction):
        append_in_transaction(store, specs[start:start + per_transaction])


@contextmanager
def three_sides(
    workdir: Path, name: str, durability: str, opener: Opener, specs: list[SupervisorSpec], per_transaction: int
) -> Iterator[Sides]:
    """The floor, the same-work log and a store with the plugins, each deleted after.

    ``specs`` are all the caller's events of all the rounds: a recording store gets
    them first (untimed, in transactions of ``per_transaction``), which gives the
    same-work side its statements."""
    recorder_path = workdir / f"{name}-recorder.db"
    recorder = opener(recorder_path, "normal")
    try:
        _append(recorder, specs, per_transaction)
        steps = record(recorder, workdir)
        schema, projections = projection_schema(recorder), inline_projections(recorder)
    finally:
        recorder.close()
        remove_database(recorder_path)
    paths = [workdir / f"{name}-{side}.db" for side in ("floor", "same-work", "evstore")]
    floor = RawLog(paths[0], durability)
    same_work = SameWorkLog(paths[1], durability, schema, projections)
    try:
        store = opener(paths[2], durability)
        try:
            yield Sides(floor, same_work, store, transactions(steps, specs, per_transaction))
        finally:
            store.close()
    finally:
        floor.close()
        same_work.close()
        for path in paths:
            remove_database(path)


def inline_rows(sizes: Sizes, workdir: Path, progress: Progress, opener: Opener, extra: str) -> list[Result]:
    """Single appends at full durability and BATCH_SIZE per transaction at normal, each
    against the floor and against the same work."""
    single = sizes.count(*SIZES["single"])
    batch = sizes.count(*SIZES["transactions"]) * BATCH_SIZE
    return [
        *_case(sizes, workdir, progress, opener, "supervisor_single_full",
               f"supervisor: single append (full){extra}", "full", single, 1),
        *_case(sizes, workdir, progress, opener, "supervisor_batch",
               f"supervisor: {BATCH_SIZE} per transaction{extra}", "normal", batch, BATCH_SIZE),
    ]


def inline_labels(extra: str) -> dict[str, tuple[str, str]]:
    """Each row's label and durability, for skipped rows too."""
    single, batch = f"supervisor: single append (full){extra}", f"supervisor: {BATCH_SIZE} per transaction{extra}"
    return {
        "supervisor_single_full": (single, "full"),
        "supervisor_single_full_same_work": (f"{single} vs same work", "full"),
        "supervisor_batch": (batch, "normal"),
        "supervisor_batch_same_work": (f"{batch} vs same work", "normal"),
    }


def _case(
    sizes: Sizes, workdir: Path, progress: Progress, opener: Opener, key: str, label: str, durability: str,
    count: int, per_transaction: int,
) -> list[Result]:
    rounds = sizes.rounds
    specs = supervisor_specs(count * rounds)
    per_round = count // per_transaction
    with three_sides(workdir, key, durability, opener, specs, per_transaction) as sides:

        def chunks(round_number: int) -> list[list[SupervisorSpec]]:
            mine = specs[round_number * count:(round_number + 1) * count]
            return [mine[i:i + per_transaction] for i in range(0, count, per_transaction)]

        def floor_side(round_number: int) -> float:
            if per_transaction == 1:
                mine = specs[round_number * count:(round_number + 1) * count]
                return measure(count, each(sides.floor.append_envelope, mine))
            return measure(count, each(sides.floor.append_envelopes, chunks(round_number)))

        def same_work_side(round_number: int) -> float:
            mine = sides.recorded[round_number * per_round:(round_number + 1) * per_round]
            return measure(count, each(sides.same_work.replay, mine))

        def evstore_side(round_number: int) -> float:
            batches = chunks(round_number)
            return measure(count, lambda: _append(sides.store, [s for b in batches for s in b], per_transaction))

        floor, same_work, evstore = interleave([floor_side, same_work_side, evstore_side], rounds, label, progress)
        follow_ups = sides.store.head() - count * rounds
        loaded = len(sides.store.registry.projections)
    size = {"events_per_round": count, "events_per_transaction": per_transaction, "follow_ups_total": follow_ups,
            "projections_loaded": loaded}
    return [
        Result.from_rates(key, label, durability, size, [floor, evstore], TARGETS[key]),
        Result.from_rates(f"{key}_same_work", f"{label} vs same work", durability, size, [same_work, evstore],
                          TARGETS[f"{key}_same_work"]),
    ]
