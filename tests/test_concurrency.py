"""Several processes and threads writing one store: ordering and version invariants."""

from __future__ import annotations

import multiprocessing
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from evstore import EventStore

from kernel_support import LedgerPlugin, append_worker, balances, deposit


def check_log(path: Path | str, acknowledged: list[int]) -> list[Any]:
    with EventStore.open(path, plugins=[LedgerPlugin()], autoload=False) as store:
        events = store.read_all()
        positions = [e.id for e in events]
        assert positions == sorted(set(positions)) == list(range(1, len(events) + 1))
        assert sorted(acknowledged) == positions  # every acknowledged event, nothing else
        by_workflow: dict[str, list[int]] = {}
        for event in events:
            by_workflow.setdefault(event.workflow_id, []).append(event.version)
        for versions in by_workflow.values():
            assert versions == list(range(1, len(versions) + 1))
        assert sum(row[1] for row in balances(store)) == len(events)
        status = store.projection_status()[0]
        assert status.lag == 0 and status.status == "ok"
        return events


@pytest.mark.parametrize("use_expected", [False, True], ids=["any", "expected-version"])
def test_processes_appending_to_shared_and_own_workflows(store_target: str, use_expected: bool) -> None:
    path = store_target
    EventStore.open(path, plugins=[LedgerPlugin()], autoload=False).close()
    context = multiprocessing.get_context("spawn")
    workers = 4
    with context.Pool(workers) as pool:
        results = pool.starmap(
            append_worker, [(str(path), w, 60, "shared", use_expected) for w in range(workers)]
        )
    acknowledged = [p for result in results for p in result]
    assert len(acknowledged) == workers * 60
    events = check_log(path, acknowledged)
    assert sum(1 for e in events if e.workflow_id == "shared") == workers * 30


def test_threads_share_a_store_with_a_connection_each(store_target: str) -> None:
    path = store_target
    store = EventStore.open(path, plugins=[LedgerPlugin()], autoload=False, durability="normal")
    acknowledged: list[int] = []
    lock = threading.Lock()

    def work(worker: int) -> None:
        for _ in range(50):
            position = store.append(deposit("shared" if worker % 2 else f"own-{worker}", 1))
            with lock:
                acknowledged.append(position)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    store.close()
    check_log(path, acknowledged)


def test_a_reader_sees_a_prefix_of_the_log(store_target: str) -> None:
    """Positions become visible in order: a reader polling the log never sees a gap
    that is later filled (a tailer would otherwise skip an event)."""
    path = store_target
    writer = EventStore.open(path, permissive=True, autoload=False, durability="normal")
    reader = EventStore.open(path, permissive=True, autoload=False)
    done = threading.Event()

    def write() -> None:
        for n in range(300):
            writer.append_many([deposit(f"w{n % 5}", 1), deposit("x", 1)])
        done.set()

    thread = threading.Thread(target=write)
    thread.start()
    seen = 0
    while not done.is_set() or seen < writer_head(path):
        page = reader.read_all(after=seen, limit=50)
        for event in page:
            assert event.id == seen + 1
            seen = event.id
    thread.join()
    assert seen == 600
    writer.close()
    reader.close()


def writer_head(path: Path | str) -> int:
    with EventStore.open(path, permissive=True, autoload=False) as store:
        return store.head()


def test_eight_writer_processes_and_a_tailing_reader(store_target: str) -> None:
    """Positions are commit order under many concurrent writers (DESIGN §6): a reader
    tailing the log with ``read_all(after=...)`` while eight processes append sees every
    position exactly once, each right after the one before, never a gap filled later."""
    EventStore.open(store_target, plugins=[LedgerPlugin()], autoload=False).close()
    reader = EventStore.open(store_target, plugins=[LedgerPlugin()], autoload=False, read_only=True)
    context = multiprocessing.get_context("spawn")
    workers, count = 8, 40
    seen = 0
    with context.Pool(workers) as pool:
        pending = pool.starmap_async(
            append_worker, [(store_target, w, count, "shared", w % 2 == 0) for w in range(workers)]
        )
        while not pending.ready() or seen < workers * count:
            for event in reader.read_all(after=seen, limit=100):
                assert event.id == seen + 1, f"the tail saw position {event.id} right after {seen}"
                seen = event.id
            if pending.ready() and seen < workers * count and reader.head() == seen:
                break
        results = pending.get(timeout=120)
    reader.close()
    acknowledged = [p for result in results for p in result]
    assert seen == len(acknowledged) == workers * count
    check_log(store_target, acknowledged)


def _dies_inside_a_transaction(target: str, ready: Any) -> None:
    store = EventStore.open(target, plugins=[LedgerPlugin()], autoload=False)
    with store.transaction() as tx:
        tx.append(deposit("doomed", 1))
        tx.append(deposit("doomed", 2))
        ready.set()
        time.sleep(600)  # killed here, holding the write lock, nothing committed


def test_a_writer_killed_inside_its_transaction_leaves_nothing_and_no_lock(store_target: str) -> None:
    """SIGKILL of a process between its appends and its commit: none of its events are
    stored, its rows are not applied, and the write lock (BEGIN IMMEDIATE on SQLite, the
    advisory transaction lock on PostgreSQL) goes with it, so other writers go on."""
    with EventStore.open(store_target, plugins=[LedgerPlugin()], autoload=False) as store:
        store.append(deposit("kept", 1))
    context = multiprocessing.get_context("spawn")
    ready = context.Event()
    doomed = context.Process(target=_dies_inside_a_transaction, args=(store_target, ready))
    doomed.start()
    try:
        assert ready.wait(60)
        with EventStore.open(store_target, plugins=[LedgerPlugin()], autoload=False, read_only=True) as reader:
            assert [e.workflow_id for e in reader.read_all()] == ["kept"], "uncommitted events were visible"
    finally:
        doomed.kill()
        doomed.join(30)
    with EventStore.open(store_target, plugins=[LedgerPlugin()], autoload=False, busy_timeout=10.0) as store:
        assert store.append(deposit("after", 1)) == 2  # the lock went with the process; no gap
        assert [e.workflow_id for e in store.read_all()] == ["kept", "after"]
        assert {row[0]: row[1] for row in balances(store)} == {"kept": 1, "after": 1}
        assert all(s.status == "ok" and s.lag == 0 for s in store.projection_status())
