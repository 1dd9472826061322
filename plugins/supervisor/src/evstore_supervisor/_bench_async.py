"""``evstore bench`` rows for async projections: append cost, and how far workers lag.

Issue 13: with the projections async, appends must cost about what the events alone
cost (at least 0.85x the raw floor, the same events with no projection), and workers
must keep up with a sustained 1,000 events/s, staying less than a second behind.

``features`` stays inline: its cascade reactor decides from its tables, and a reactor
must see them updated in the append's own transaction (the store refuses otherwise).
The other five are async. The worker runs in a process of its own, started with
``spawn`` as ``evstore worker`` would be, on the same file. The lag of a batch is the
time from its commit until a sampler (polling ``projection_status`` every few
milliseconds) first sees every async projection at or past its last position.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.synchronize import Event as ProcessEvent
from pathlib import Path

from evstore import EventStore, Worker
from evstore.bench import Progress, Result, Sizes, both_sides, each, interleave, measure

from ._bench_inline import append_one_by_one
from ._bench_specs import REQUIRED_PROJECTIONS, new_events, supervisor_specs

ASYNC_PROJECTIONS = tuple(name for name in REQUIRED_PROJECTIONS if name != "features")
TARGETS = {"supervisor_async_single_full": 0.85, "supervisor_async_lag": 1.0}
APPEND_SIZE = (400, 100)  # (full run, --quick) single appends per round
LAG_EVENTS = (10_000, 2_000)  # events appended at RATE while the worker follows
RATE = 1000  # events per second
TICK = 0.01  # seconds between two appends of RATE * TICK events
_SAMPLE_EVERY = 0.005
_START_TIMEOUT = 60.0
_CATCH_UP_TIMEOUT = 60.0


def open_async_store(path: Path, durability: str) -> EventStore:
    """The installed plugins with five of the six projections async."""
    return EventStore.open(path, durability=durability, autoload=True, async_projections=ASYNC_PROJECTIONS)


def labels(extra: str) -> dict[str, tuple[str, str]]:
    async_names = f"{len(ASYNC_PROJECTIONS)} async"
    return {
        "supervisor_async_single_full": (f"supervisor, {async_names}: single append (full){extra}", "full"),
        "supervisor_async_lag": (f"supervisor, {async_names}: worker lag at {RATE:,} events/s{extra}", "normal"),
    }


def async_rows(sizes: Sizes, workdir: Path, progress: Progress, extra: str) -> list[Result]:
    names = labels(extra)
    return [
        _appends(sizes, workdir, progress, names["supervisor_async_single_full"][0]),
        _lag(sizes, workdir, progress, names["supervisor_async_lag"][0]),
    ]


def _appends(sizes: Sizes, workdir: Path, progress: Progress, label: str) -> Result:
    key = "supervisor_async_single_full"
    count = sizes.count(*APPEND_SIZE)
    with both_sides(workdir, "supervisor-async", "full", open_async_store) as (raw, store):

        def raw_side(round_number: int) -> float:
            return measure(count, each(raw.append_envelope, supervisor_specs(count, round_number * count)))

        def evstore_side(round_number: int) -> float:
            specs = supervisor_specs(count, round_number * count)
            return measure(count, lambda: append_one_by_one(store, specs))

        rates = interleave([raw_side, evstore_side], sizes.rounds, label, progress)
    size = {"events_per_round": count, "async_projections": len(ASYNC_PROJECTIONS)}
    return Result.from_rates(key, label, "full", size, rates, TARGETS[key])


def worker_main(path: str, ready: ProcessEvent, stop: ProcessEvent) -> None:
    """The worker process: apply the async projections until told to stop."""
    store = open_async_store(Path(path), "normal")
    try:
        worker = Worker(store, ASYNC_PROJECTIONS)

        def stop_when_told() -> None:
            stop.wait()
            worker.stop()

        threading.Thread(target=stop_when_told, daemon=True).start()
        ready.set()
        worker.run()
    finally:
        store.close()


@contextmanager
def _worker_process(path: Path) -> Iterator[None]:
    context = multiprocessing.get_context("spawn")
    ready, stop = context.Event(), context.Event()
    process = context.Process(target=worker_main, args=(str(path), ready, stop), daemon=True,
                              name="evstore-bench-worker")
    process.start()
    try:
        if not ready.wait(_START_TIMEOUT):
            raise RuntimeError(f"the bench's worker process did not start (exit code {process.exitcode})")
        yield
    finally:
        stop.set()
        process.join(timeout=30)
        if process.is_alive():
            process.terminate()
            process.join()


class _Sampler:
    """Polls the slowest async projection's position, remembering when it moved."""

    def __init__(self, store: EventStore) -> None:
        self.store = store
        self.samples: list[tuple[float, int]] = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="evstore-bench-sampler", daemon=True)

    def _run(self) -> None:
        while not self.stopping.is_set():
            statuses = self.store.projection_status()
            slowest = min(s.position for s in statuses if s.name in ASYNC_PROJECTIONS)
            self.samples.append((time.monotonic(), slowest))
            time.sleep(_SAMPLE_EVERY)

    def lags(self, commits: list[tuple[float, int]]) -> list[float]:
        """Per commit (time, last position): seconds until a sample saw it applied."""
        lags, index = [], 0
        for committed, position in commits:
            while index < len(self.samples) and (
                self.samples[index][0] < committed or self.samples[index][1] < position
            ):
                index += 1
            if index == len(self.samples):
                raise RuntimeError(f"the async projections never reached position {position}")
            lags.append(self.samples[index][0] - committed)
        return lags


def _lag(sizes: Sizes, workdir: Path, progress: Progress, label: str) -> Result:
    """Append RATE events a second (a batch every TICK) for LAG_EVENTS events while a
    worker process applies the async projections; report the lag of every batch."""
    total = sizes.count(*LAG_EVENTS)
    per_tick = max(1, round(RATE * TICK))
    path = workdir / "supervisor-async-lag.db"
    store = open_async_store(path, "normal")
    try:
        with _worker_process(path):
            sampler = _Sampler(store)
            sampler.thread.start()
            commits: list[tuple[float, int]] = []
            started = time.monotonic()
            for tick, start in enumerate(range(0, total, per_tick)):
                time.sleep(max(0.0, started + tick * TICK - time.monotonic()))
                positions = store.append_many(new_events(supervisor_specs(min(per_tick, total - start), start)))
                commits.append((time.monotonic(), positions[-1]))
                if tick % 100 == 0:
                    progress(label, start, total)
            elapsed = time.monotonic() - started
            store.wait_for(commits[-1][1], projections=ASYNC_PROJECTIONS, timeout=_CATCH_UP_TIMEOUT)
            time.sleep(2 * _SAMPLE_EVERY)
            sampler.stopping.set()
            sampler.thread.join()
        lags = sampler.lags(commits)
    finally:
        store.close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    size = {"events": total, "events_per_second": round(total / max(elapsed, 1e-9)), "batches": len(commits),
            "async_projections": len(ASYNC_PROJECTIONS)}
    return Result.lag("supervisor_async_lag", label, "normal", size, lags, TARGETS["supervisor_async_lag"])
