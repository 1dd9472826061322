"""Throughput of 1, 4 and 8 writer processes on PostgreSQL, evstore against raw.

Eight writer processes are started once (``spawn``: nothing of the parent's
connections is inherited) and each holds a raw log and a store, in two schemas shared
by all writers. Per round and per writer count, the first N writers are told to append
their share of the round's events, single events in their own transaction at full
durability, each writer to its own workflow; the rate is all of their events over the
time until the last one reports back. Every writer takes the one advisory lock of its
side per transaction, as the kernel does, so this measures how well commits queue on it.
"""

from __future__ import annotations

import multiprocessing
import queue
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from multiprocessing.context import SpawnProcess
from typing import Any

from ._measure import Progress, Result, Sizes, interleave, measure
from ._pg_raw import RawPgLog, Schemas
from ._pg_workloads import PG_TARGET, open_pg_store
from ._workloads import make_specs, new_events

WRITER_COUNTS = (1, 4, 8)
# 8 writers must not be slower than 1 (issue 12); the scaling row's target.
SCALING_TARGET = 1.0
_START_TIMEOUT = 120.0  # seconds for a writer process to start and connect
_ROUND_TIMEOUT = 600.0
_DURABILITY = "full"


def writer_main(url: str, raw_schema: str, store_schema: str, index: int, commands: Any, done: Any) -> None:
    """One writer process: append what it is told to, on the side it is told, until None."""
    raw = RawPgLog(url, raw_schema, _DURABILITY, create=False)
    store = open_pg_store(url, store_schema, _DURABILITY)
    workflow = f"writer-{index}"
    try:
        done.put(("ready", index))
        while (command := commands.get()) is not None:
            side, start, count = command
            specs = make_specs(start, count, lambda _k: workflow)
            if side == "raw":
                for spec in specs:
                    raw.append(spec)
            else:
                for event in new_events(specs):
                    store.append(event)
            done.put(("done", index))
    finally:
        store.close()
        raw.close()


class Writers:
    """The running writer processes and their queues."""

    def __init__(self, processes: list[SpawnProcess], commands: list[Any], done: Any) -> None:
        self.processes, self.commands, self.done = processes, commands, done
        self.appended = 0

    def run(self, side: str, writers: int, per_writer: int) -> None:
        for command in self.commands[:writers]:
            command.put((side, self.appended, per_writer))
            self.appended += per_writer
        for _ in range(writers):
            self._wait("done")

    def _wait(self, what: str, timeout: float = _ROUND_TIMEOUT) -> None:
        try:
            kind, _index = self.done.get(timeout=timeout)
        except queue.Empty:
            dead = [p.exitcode for p in self.processes if not p.is_alive()]
            message = f"a bench writer process did not report back (exit codes of dead ones: {dead})"
            raise RuntimeError(message) from None
        if kind != what:
            raise RuntimeError(f"a bench writer process said {kind!r}, expected {what!r}")


@contextmanager
def writer_processes(schemas: Schemas) -> Iterator[Writers]:
    raw_schema, store_schema = schemas.name("writers_raw"), schemas.name("writers_evstore")
    RawPgLog(schemas.url, raw_schema, _DURABILITY).close()  # creates both schemas up front,
    open_pg_store(schemas.url, store_schema, _DURABILITY).close()  # not in eight racing processes
    context = multiprocessing.get_context("spawn")
    done = context.Queue()
    commands = [context.Queue() for _ in range(max(WRITER_COUNTS))]
    processes = [
        context.Process(
            target=writer_main, args=(schemas.url, raw_schema, store_schema, index, commands[index], done),
            daemon=True, name=f"evstore-bench-writer-{index}",
        )
        for index in range(max(WRITER_COUNTS))
    ]
    writers = Writers(processes, commands, done)
    try:
        for process in processes:
            process.start()
        for _ in processes:
            writers._wait("ready", _START_TIMEOUT)
        yield writers
    finally:
        for command, process in zip(commands, processes, strict=True):
            if process.is_alive():
                command.put(None)
        for process in processes:
            process.join(timeout=10)
            if process.is_alive():
                process.terminate()
                process.join()


def _side(writers: Writers, side: str, count: int, per_writer: int, _round: int) -> float:
    return measure(per_writer * count, partial(writers.run, side, count, per_writer))


def writer_rows(sizes: Sizes, schemas: Schemas, progress: Progress) -> list[Result]:
    """One row per writer count (evstore vs raw at that count), then 8 writers vs 1."""
    total = sizes.writer_events
    label = f"pg: {', '.join(map(str, WRITER_COUNTS))} writer processes"
    progress(f"{label}: starting", 0, sizes.rounds)
    with writer_processes(schemas) as writers:
        sides: list[Callable[[int], float]] = [
            partial(_side, writers, side, count, max(1, total // count))
            for count in WRITER_COUNTS
            for side in ("raw", "evstore")
        ]
        rates = interleave(sides, sizes.rounds, label, progress)
    rows = [
        Result.from_rates(
            f"pg_writers_{count}", f"pg: {count} writer process{'es' if count > 1 else ''} (full)", "full",
            {"writers": count, "events_per_round": max(1, total // count) * count}, rates[2 * i:2 * i + 2], PG_TARGET,
        )
        for i, count in enumerate(WRITER_COUNTS)
    ]
    one, eight = rows[0], rows[-1]
    scaling = Result(
        "pg_writers_scaling", f"pg: {WRITER_COUNTS[-1]} writers / 1 writer", "full",
        {"writers": WRITER_COUNTS[-1]}, one.rounds, eight.raw / one.raw, eight.evstore / one.evstore,
        eight.evstore / one.evstore, SCALING_TARGET, kind="growth",
    )
    return [*rows, scaling]
