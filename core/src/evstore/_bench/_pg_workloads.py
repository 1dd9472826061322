"""The PostgreSQL rows: the kernel on a PostgreSQL store against raw psycopg.

Each side lives in a schema of its own (named after the run's random prefix, so runs
never meet), created for the workload and dropped with every other schema of the run
when it ends. The events are the SQLite rows' events, built before the clock starts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial

from .._envelope import NewEvent
from .._store import EventStore
from ._measure import Progress, Result, Sizes, interleave, measure
from ._pg_raw import RawPgLog, Schemas
from ._raw import Spec
from ._workloads import (
    BATCH_SIZE,
    BULK_WORKFLOWS,
    PREFILL_BATCH,
    READ_WORKFLOW,
    WORKFLOWS,
    each,
    make_specs,
    new_events,
    per_transaction,
    read_log_row,
    read_workflow_row,
    rotating,
    short_count,
)

# Issue 12: at least 0.8x raw psycopg on every row.
PG_TARGET = 0.8
# (full run, --quick) of each PostgreSQL row: a round trip costs more than a SQLite
# call, so the quick run's counts are smaller than the SQLite rows' to stay short.
PG_SIZES = {
    "single": (500, 60),  # single appends per round, full durability
    "transactions": (20, 3),  # transactions of BATCH_SIZE per round
    "bulk": (10_000, 5_000),  # events of the one append per round
    "workflow": (10_000, 2_000),  # events of the workflow read back
    "log": (30_000, 10_000),  # events in the whole log (the workflow's included)
}


def open_pg_store(url: str, schema: str, durability: str) -> EventStore:
    """The kernel alone on PostgreSQL: no plugins, undeclared event types accepted."""
    return EventStore.open(url, schema=schema, durability=durability, plugins=[], autoload=False, permissive=True)


@contextmanager
def pg_sides(schemas: Schemas, name: str, durability: str) -> Iterator[tuple[RawPgLog, EventStore]]:
    """A raw log and a store in two new schemas of the run, closed and dropped afterwards."""
    raw_schema, store_schema = schemas.name(f"{name}_raw"), schemas.name(f"{name}_evstore")
    raw = RawPgLog(schemas.url, raw_schema, durability)
    try:
        store = open_pg_store(schemas.url, store_schema, durability)
        try:
            yield raw, store
        finally:
            store.close()
    finally:
        raw.close()
        schemas.drop(raw_schema)
        schemas.drop(store_schema)


def pg_rows(sizes: Sizes, schemas: Schemas, progress: Progress) -> list[Result]:
    """Every PostgreSQL row but the writer processes' (``_pg_writers``)."""
    return [
        _single(sizes, schemas, progress),
        _batch(sizes, schemas, progress),
        _bulk(sizes, schemas, progress),
        *_reads(sizes, schemas, progress),
    ]


def _single(sizes: Sizes, schemas: Schemas, progress: Progress) -> Result:
    label = "pg: single append (full)"
    count = sizes.count(*PG_SIZES["single"])
    with pg_sides(schemas, "single", "full") as (raw, store):

        def raw_side(round_number: int) -> float:
            return measure(count, each(raw.append, make_specs(round_number * count, count, rotating(WORKFLOWS))))

        def evstore_side(round_number: int) -> float:
            events = new_events(make_specs(round_number * count, count, rotating(WORKFLOWS)))
            return measure(count, each(store.append, events))

        rates = interleave([raw_side, evstore_side], sizes.rounds, label, progress)
    size = {"events_per_round": count, "workflows": WORKFLOWS}
    return Result.from_rates("pg_single_full", label, "full", size, rates, PG_TARGET)


def _batches(start: int, transactions: int) -> list[list[Spec]]:
    return [make_specs(start + i * BATCH_SIZE, BATCH_SIZE, per_transaction(WORKFLOWS)) for i in range(transactions)]


def _transaction_of(store: EventStore, batch: list[Spec]) -> None:
    with store.transaction() as tx:
        for w, t, r, s, p in batch:
            tx.append(NewEvent(workflow_id=w, event_type=t, role=r, step_id=s, payload=p))


def _batch(sizes: Sizes, schemas: Schemas, progress: Progress) -> Result:
    label = f"pg: {BATCH_SIZE} per transaction"
    transactions = sizes.count(*PG_SIZES["transactions"])
    count = transactions * BATCH_SIZE
    with pg_sides(schemas, "batch", "normal") as (raw, store):

        def raw_side(round_number: int) -> float:
            return measure(count, each(raw.append_each, _batches(round_number * count, transactions)))

        def evstore_side(round_number: int) -> float:
            batches = _batches(round_number * count, transactions)
            return measure(count, each(partial(_transaction_of, store), batches))

        rates = interleave([raw_side, evstore_side], sizes.rounds, label, progress)
    size = {"events_per_round": count, "events_per_transaction": BATCH_SIZE, "workflows": WORKFLOWS}
    return Result.from_rates("pg_batch", label, "normal", size, rates, PG_TARGET)


def _bulk(sizes: Sizes, schemas: Schemas, progress: Progress) -> Result:
    """One append of many events per round into fresh schemas (raw: COPY)."""
    count = sizes.count(*PG_SIZES["bulk"])
    label = f"pg: bulk append of {short_count(count)} (raw: COPY)"
    specs = make_specs(0, count, rotating(BULK_WORKFLOWS))

    def fresh(round_number: int, run: Callable[[str], float], side: str) -> float:
        schema = schemas.name(f"bulk_{side}_{round_number}")
        try:
            return run(schema)
        finally:
            schemas.drop(schema)

    def raw_run(schema: str) -> float:
        raw = RawPgLog(schemas.url, schema, "normal")
        try:
            return measure(count, lambda: raw.append_bulk(specs))
        finally:
            raw.close()

    def evstore_run(schema: str) -> float:
        store = open_pg_store(schemas.url, schema, "normal")
        try:
            return measure(count, lambda: store.append_many(new_events(specs)))
        finally:
            store.close()

    sides = [partial(fresh, run=raw_run, side="raw"), partial(fresh, run=evstore_run, side="evstore")]
    rates = interleave(sides, sizes.rounds, label, progress)
    return Result.from_rates("pg_bulk", label, "normal", {"events": count, "workflows": BULK_WORKFLOWS}, rates,
                             PG_TARGET)


def _reads(sizes: Sizes, schemas: Schemas, progress: Progress) -> list[Result]:
    """Read one workflow as typed events, then the whole log, from one prefilled log in
    which the workflow's events are spread among other workflows' events."""
    workflow_events = sizes.count(*PG_SIZES["workflow"])
    spacing = max(1, sizes.count(*PG_SIZES["log"]) // workflow_events)

    def workflow(k: int) -> str:
        return READ_WORKFLOW if k % spacing == 0 else f"wf-{k % BULK_WORKFLOWS}"

    with pg_sides(schemas, "reads", "normal") as (raw, store):
        total = workflow_events * spacing
        for start in range(0, total, PREFILL_BATCH):
            progress("pg: prefilling the log to read", start, total)
            chunk = make_specs(start, min(PREFILL_BATCH, total - start), workflow)
            raw.append_bulk(chunk)
            store.append_many(new_events(chunk))
        workflow_size, log_size = len(store.read(READ_WORKFLOW)), store.head()
        return [
            read_workflow_row(sizes, raw, store, workflow_size, progress, prefix="pg", target=PG_TARGET),
            read_log_row(sizes, raw, store, log_size, progress, prefix="pg", target=PG_TARGET),
        ]
