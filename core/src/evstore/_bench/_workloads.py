"""The workloads, each run on an ``EventStore`` and on the raw baseline side by side.

Both sides get the same events, built before the clock starts: the payload dicts exist
already, and what each side does with them (evstore: build ``NewEvent`` objects and
append them; raw: generate ids, encode, insert) is timed.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import TypeVar

from .._envelope import NewEvent
from .._store import EventStore
from ._measure import Progress, Result, Sizes, interleave, measure
from ._raw import RawLog, RawReads, Spec

BATCH_SIZE = 100  # events per transaction in the batch and growth workloads
WORKFLOWS = 10  # workflows the single and batch appends rotate over
BULK_WORKFLOWS = 100
GROWTH_WORKFLOWS = 1000
PREFILL_BATCH = 10_000
READ_WORKFLOW = "wf-read"
T = TypeVar("T")
_EVENT_TYPES = ("step_started", "tool_called", "step_completed")

TARGETS = {
    "single_full": 0.8,
    "single_normal": 0.5,
    "batch": 0.7,
    "bulk": 0.5,
    "read_workflow": 1.0,
    "growth": 0.8,
}


def make_specs(start: int, count: int, workflow: Callable[[int], str]) -> list[Spec]:
    """``count`` realistic small events (payloads of about 150 bytes of JSON)."""
    specs = []
    for k in range(start, start + count):
        step = f"step-{k % 17}"
        payload = {
            "step": step,
            "attempt": k % 3 + 1,
            "exit_code": 0,
            "duration_ms": 1000 + k % 5000,
            "output": "compiled 42 modules, 0 warnings",
            "host": "runner-07",
            "tags": ["ci", "linux"],
        }
        specs.append((workflow(k), _EVENT_TYPES[k % 3], "builder", step, payload))
    return specs


def each(action: Callable[[T], object], items: Sequence[T]) -> Callable[[], None]:
    """A callable that applies ``action`` to every item: what the clock times."""

    def run() -> None:
        for item in items:
            action(item)

    return run


def rotating(workflows: int) -> Callable[[int], str]:
    """Event ``k`` goes to workflow ``k % workflows``."""
    return lambda k: f"wf-{k % workflows}"


def per_transaction(workflows: int) -> Callable[[int], str]:
    """Each run of BATCH_SIZE events goes to one workflow, the next run to the next one.

    A transaction usually appends to one workflow (one command, one stream). Spreading
    each transaction over many workflows instead makes every insert land on a different
    page of the (workflow_id, version) index, which SQLite pays for in WAL writes and
    checkpoints as the log grows, with or without evstore.
    """
    return lambda k: f"wf-{(k // BATCH_SIZE) % workflows}"


def new_events(specs: list[Spec]) -> list[NewEvent]:
    return [
        NewEvent(workflow_id=w, event_type=t, role=r, step_id=s, payload=p) for w, t, r, s, p in specs
    ]


def open_store(path: Path, durability: str) -> EventStore:
    """The kernel alone: no plugins, undeclared event types accepted."""
    return EventStore.open(path, durability=durability, plugins=[], autoload=False, permissive=True)


def remove_database(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        try:
            os.remove(f"{path}{suffix}")
        except FileNotFoundError:
            pass


@contextmanager
def both_sides(
    workdir: Path, name: str, durability: str, opener: Callable[[Path, str], EventStore] | None = None
) -> Iterator[tuple[RawLog, EventStore]]:
    """A raw log and a store (by default without plugins; ``opener`` opens another kind)
    on separate files, closed and deleted afterwards."""
    raw_path, store_path = workdir / f"{name}-raw.db", workdir / f"{name}-evstore.db"
    raw = RawLog(raw_path, durability)
    try:
        store = (opener or open_store)(store_path, durability)
        try:
            yield raw, store
        finally:
            store.close()
    finally:
        raw.close()
        remove_database(raw_path)
        remove_database(store_path)


def prefill(raw: RawLog, store: EventStore, count: int, workflow: Callable[[int], str]) -> None:
    """Fill both sides with the same ``count`` events, in large transactions."""
    for start in range(0, count, PREFILL_BATCH):
        specs = make_specs(start, min(PREFILL_BATCH, count - start), workflow)
        raw.append_bulk(specs)
        store.append_many(new_events(specs))


# --- appends ---------------------------------------------------------------------------


def single_full(sizes: Sizes, workdir: Path, progress: Progress) -> list[Result]:
    return [single_appends(sizes, workdir, progress, "full")]


def single_normal(sizes: Sizes, workdir: Path, progress: Progress) -> list[Result]:
    return [single_appends(sizes, workdir, progress, "normal")]


def single_appends(sizes: Sizes, workdir: Path, progress: Progress, durability: str) -> Result:
    key = f"single_{durability}"
    label = f"single append ({durability})"
    count = sizes.single_full if durability == "full" else sizes.single_normal
    with both_sides(workdir, key, durability) as (raw, store):

        def raw_side(round_number: int) -> float:
            specs = make_specs(round_number * count, count, rotating(WORKFLOWS))
            return measure(count, each(raw.append, specs))

        def evstore_side(round_number: int) -> float:
            specs = make_specs(round_number * count, count, rotating(WORKFLOWS))

            def run() -> None:
                for w, t, r, s, p in specs:
                    store.append(NewEvent(workflow_id=w, event_type=t, role=r, step_id=s, payload=p))

            return measure(count, run)

        rates = interleave([raw_side, evstore_side], sizes.rounds, label, progress)
    return Result.from_rates(key, label, durability, {"events_per_round": count}, rates, TARGETS[key])


def batch_appends(sizes: Sizes, workdir: Path, progress: Progress) -> list[Result]:
    label = f"{BATCH_SIZE} per transaction"
    transactions = sizes.batch_transactions
    count = transactions * BATCH_SIZE
    with both_sides(workdir, "batch", "normal") as (raw, store):

        def raw_side(round_number: int) -> float:
            batches = _batches(round_number * count, transactions, per_transaction(WORKFLOWS))
            return measure(count, each(raw.append_each, batches))

        def evstore_side(round_number: int) -> float:
            batches = _batches(round_number * count, transactions, per_transaction(WORKFLOWS))
            return measure(count, each(partial(_transaction_of, store), batches))

        rates = interleave([raw_side, evstore_side], sizes.rounds, label, progress)
    size = {"events_per_round": count, "events_per_transaction": BATCH_SIZE, "workflows": WORKFLOWS}
    return [Result.from_rates("batch", label, "normal", size, rates, TARGETS["batch"])]


def _batches(start: int, transactions: int, workflow: Callable[[int], str]) -> list[list[Spec]]:
    return [make_specs(start + i * BATCH_SIZE, BATCH_SIZE, workflow) for i in range(transactions)]


def _transaction_of(store: EventStore, batch: list[Spec]) -> None:
    with store.transaction() as tx:
        for w, t, r, s, p in batch:
            tx.append(NewEvent(workflow_id=w, event_type=t, role=r, step_id=s, payload=p))


def bulk_append(sizes: Sizes, workdir: Path, progress: Progress) -> list[Result]:
    """One append of many events into a fresh database per round."""
    label = f"bulk append of {short_count(sizes.bulk)}"
    count = sizes.bulk
    specs = make_specs(0, count, rotating(BULK_WORKFLOWS))

    def raw_side(round_number: int) -> float:
        path = workdir / f"bulk-raw-{round_number}.db"
        raw = RawLog(path, "normal")
        try:
            return measure(count, lambda: raw.append_bulk(specs))
        finally:
            raw.close()
            remove_database(path)

    def evstore_side(round_number: int) -> float:
        path = workdir / f"bulk-evstore-{round_number}.db"
        store = open_store(path, "normal")
        try:
            return measure(count, lambda: store.append_many(new_events(specs)))
        finally:
            store.close()
            remove_database(path)

    rates = interleave([raw_side, evstore_side], sizes.rounds, label, progress)
    size = {"events": count, "workflows": BULK_WORKFLOWS}
    return [Result.from_rates("bulk", label, "normal", size, rates, TARGETS["bulk"])]


# --- reads -----------------------------------------------------------------------------


def reads(sizes: Sizes, workdir: Path, progress: Progress) -> list[Result]:
    """Read one workflow as typed events, then the whole log, on one prefilled log in
    which the workflow's events are spread among other workflows' events."""
    spacing = max(1, sizes.log_events // sizes.workflow_events)

    def workflow(k: int) -> str:
        return READ_WORKFLOW if k % spacing == 0 else f"wf-{k % BULK_WORKFLOWS}"

    label = "prefilling the log to read"
    with both_sides(workdir, "reads", "normal") as (raw, store):
        progress(label, 0, 1)
        prefill(raw, store, sizes.workflow_events * spacing, workflow)
        progress(label, 1, 1)
        workflow_size = len(store.read(READ_WORKFLOW))
        log_size = store.head()
        return [
            read_workflow_row(sizes, raw, store, workflow_size, progress),
            read_log_row(sizes, raw, store, log_size, progress),
        ]


def read_workflow_row(
    sizes: Sizes, raw: RawReads, store: EventStore, size: int, progress: Progress, *, prefix: str = "",
    target: float | None = TARGETS["read_workflow"],
) -> Result:
    """Read the workflow ``READ_WORKFLOW`` of ``size`` events as typed events, on both
    sides. ``prefix`` names the backend in the row's label and key ("pg": "pg: ..." and
    "pg_read_workflow"); none for SQLite's rows."""
    label = _prefixed(prefix, ": ", f"read workflow of {short_count(size)}, typed")
    repeats = sizes.reads_per_round

    def raw_side(_round: int) -> float:
        return measure(size * repeats, each(raw.read_workflow, [READ_WORKFLOW] * repeats))

    def evstore_side(_round: int) -> float:
        def run() -> None:
            for _ in range(repeats):
                payloads = [event.payload for event in store.read(READ_WORKFLOW)]
                assert len(payloads) == size

        return measure(size * repeats, run)

    rates = interleave([raw_side, evstore_side], sizes.rounds, label, progress)
    result_size = {"events": size, "reads_per_round": repeats}
    return Result.from_rates(_prefixed(prefix, "_", "read_workflow"), label, None, result_size, rates, target)


def read_log_row(
    sizes: Sizes, raw: RawReads, store: EventStore, size: int, progress: Progress, *, prefix: str = "",
    target: float | None = None,
) -> Result:
    """Read the whole log of ``size`` events on both sides (``prefix``: as above)."""
    label = _prefixed(prefix, ": ", f"read whole log of {short_count(size)}")

    def raw_side(_round: int) -> float:
        return measure(size, raw.read_all)

    def evstore_side(_round: int) -> float:
        def run() -> None:
            payloads = sum(1 for event in store.iter_all() if event.payload is not None)
            assert payloads == size

        return measure(size, run)

    rates = interleave([raw_side, evstore_side], sizes.rounds, label, progress)
    return Result.from_rates(_prefixed(prefix, "_", "read_log"), label, None, {"events": size}, rates, target)


def _prefixed(prefix: str, separator: str, text: str) -> str:
    return f"{prefix}{separator}{text}" if prefix else text


# --- growth ----------------------------------------------------------------------------


def growth(sizes: Sizes, workdir: Path, progress: Progress) -> list[Result]:
    """The append rate (BATCH_SIZE per transaction) with a small and a large log
    already stored, all four stores measured in the same rounds."""
    label = f"appending with {short_count(sizes.growth_small)} vs {short_count(sizes.growth_large)} stored"
    steps = 2
    with (
        both_sides(workdir, "small", "normal") as (raw_small, store_small),
        both_sides(workdir, "large", "normal") as (raw_large, store_large),
    ):
        for done, (raw, store, count) in enumerate(
            [(raw_small, store_small, sizes.growth_small), (raw_large, store_large, sizes.growth_large)]
        ):
            progress(f"prefilling {short_count(count)} events", done, steps + sizes.rounds)
            prefill(raw, store, count, per_transaction(GROWTH_WORKFLOWS))
        sides = [
            *_growth_sides(sizes, raw_small, store_small, sizes.growth_small),
            *_growth_sides(sizes, raw_large, store_large, sizes.growth_large),
        ]
        rates = interleave(sides, sizes.rounds, label, progress, done=steps)
    transactions = sizes.growth_transactions
    small, large = (
        Result.from_rates(
            f"append_at_{name}", f"{BATCH_SIZE}/tx, {short_count(stored)} stored", "normal",
            {"stored": stored, "events_per_round": transactions * BATCH_SIZE, "workflows": GROWTH_WORKFLOWS},
            pair, None,
        )
        for name, stored, pair in [
            ("small", sizes.growth_small, rates[:2]),
            ("large", sizes.growth_large, rates[2:]),
        ]
    )
    ratio_label = f"rate at {short_count(sizes.growth_large)} / at {short_count(sizes.growth_small)}"
    return [small, large, Result.growth("growth", ratio_label, small, large, TARGETS["growth"])]


def _growth_sides(sizes: Sizes, raw: RawLog, store: EventStore, stored: int) -> list[Callable[[int], float]]:
    transactions = sizes.growth_transactions
    count = transactions * BATCH_SIZE

    def raw_side(round_number: int) -> float:
        batches = _batches(stored + round_number * count, transactions, per_transaction(GROWTH_WORKFLOWS))
        return measure(count, each(raw.append_each, batches))

    def evstore_side(round_number: int) -> float:
        batches = _batches(stored + round_number * count, transactions, per_transaction(GROWTH_WORKFLOWS))
        return measure(count, each(partial(_transaction_of, store), batches))

    return [raw_side, evstore_side]


def short_count(count: int) -> str:
    if count >= 1_000_000 and count % 1_000_000 == 0:
        return f"{count // 1_000_000}M"
    if count >= 1000 and count % 1000 == 0:
        return f"{count // 1000}k"
    return f"{count:,}"
