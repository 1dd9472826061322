"""Durable appends from 8 threads of one store (group commit) against one raw thread.

Agent supervisors append from many threads of one process. Each append in its own
transaction at full durability waits for its own fsync, so one thread does about as
many appends a second as the disk does flushes; the kernel's group commit lets the
threads that arrive while a commit is in progress share the next one. The floor it is
compared with is the raw log appending the same events one by one from one thread,
also at full durability (issue 13: at least 3x that floor).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from .._store import EventStore
from ._measure import Progress, Result, Sizes, interleave, measure
from ._raw import Spec
from ._workloads import both_sides, each, make_specs, new_events

THREADS = 8
TARGET = 3.0


def group_commit(sizes: Sizes, workdir: Path, progress: Progress) -> list[Result]:
    label = f"{THREADS} threads, single appends (full) vs 1 raw thread"
    count = max(THREADS, sizes.thread_events - sizes.thread_events % THREADS)
    with both_sides(workdir, "threads", "full") as (raw, store):

        def raw_side(round_number: int) -> float:
            specs = make_specs(round_number * count, count, _thread_workflow(count))
            return measure(count, each(raw.append, specs))

        def evstore_side(round_number: int) -> float:
            specs = make_specs(round_number * count, count, _thread_workflow(count))
            share = count // THREADS
            shares = [specs[i * share:(i + 1) * share] for i in range(THREADS)]
            return measure(count, lambda: _in_threads(store, shares))

        rates = interleave([raw_side, evstore_side], sizes.rounds, label, progress)
    size = {"events_per_round": count, "threads": THREADS}
    return [Result.from_rates("group_commit", label, "full", size, rates, TARGET)]


def _thread_workflow(count: int) -> Callable[[int], str]:
    """Each thread appends to a workflow of its own (its events are one contiguous share)."""
    share = count // THREADS
    return lambda k: f"thread-{(k % count) // share}"


def _in_threads(store: EventStore, shares: list[list[Spec]]) -> None:
    """Every share appended by a thread of its own, one event per append; the first
    error of any thread is raised here once all of them have stopped."""
    errors: list[BaseException] = []
    start = threading.Barrier(len(shares))

    def append_share(share: list[Spec]) -> None:
        try:
            start.wait()
            for event in new_events(share):
                store.append(event)
        except BaseException as error:  # reported by the measuring thread below
            errors.append(error)

    threads = [threading.Thread(target=append_share, args=(share,), name="evstore-bench-append") for share in shares]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
