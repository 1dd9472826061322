"""Group commit: appends from concurrent threads share commits, and each keeps its own
atomicity, expected-version check and error. On both backends."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import pytest

from evstore import NO_STREAM, ConcurrencyError, EventStore, NewEvent, hookimpl

from kernel_support import LedgerPlugin, balances, deposit


def _run_threads(count: int, work: Any) -> list[Any]:
    results: list[Any] = [None] * count
    start = threading.Barrier(count)

    def run(index: int) -> None:
        start.wait()
        try:
            results[index] = work(index)
        except BaseException as error:
            results[index] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


class _CountingCommits:
    evstore_plugin_name = "counting"

    def __init__(self) -> None:
        self.commits = 0

    @hookimpl
    def evstore_after_commit(self, store: Any, events: Any) -> None:
        self.commits += 1


def test_concurrent_appends_share_commits_and_each_keeps_its_result(open_store: Any) -> None:
    counting = _CountingCommits()
    store = open_store(LedgerPlugin(), counting)

    def work(index: int) -> list[int]:
        positions = []
        for _n in range(25):
            positions.extend(store.append_many([deposit(f"t{index}", 1), deposit(f"t{index}", 2)]))
        return positions

    results = _run_threads(8, work)
    assert not [r for r in results if isinstance(r, BaseException)], results
    every = sorted(p for r in results for p in r)
    assert every == list(range(1, 401)), "positions are not contiguous and unique"
    events = store.read_all()
    for index, positions in enumerate(results):
        mine = [e for e in events if e.id in set(positions)]
        assert {e.workflow_id for e in mine} == {f"t{index}"}
        # each logical append's two events are adjacent (atomic), versions gap-free
        assert [e.version for e in mine] == list(range(1, 51))
    assert sum(row[1] for row in balances(store)) == 8 * 25 * 3
    assert counting.commits <= 8 * 25  # some commits carried several appends (often far fewer)


def test_a_failing_append_in_a_shared_commit_fails_alone(open_store: Any) -> None:
    store = open_store(LedgerPlugin())
    store.append(deposit("shared", 1))

    def work(index: int) -> Any:
        if index % 2:
            return store.append(deposit("shared", 1), expected_version=NO_STREAM)  # always wrong
        return store.append(deposit(f"own-{index}", 1), expected_version=NO_STREAM)

    results = _run_threads(8, work)
    kinds = Counter(type(r).__name__ for r in results)
    assert kinds == {"ConcurrencyError": 4, "int": 4}, results
    assert all(isinstance(r, ConcurrencyError) for r in results[1::2])
    assert store.version("shared") == 1
    assert sorted(e.workflow_id for e in store.read_all()) == ["own-0", "own-2", "own-4", "own-6", "shared"]


class _InterruptOnce:
    """Raises KeyboardInterrupt once, in whichever thread is leading a commit then (what
    a Ctrl-C does to the main thread while it leads)."""

    evstore_plugin_name = "interrupt_once"

    def __init__(self) -> None:
        self.fired_in: str | None = None

    @hookimpl
    def evstore_before_append(self, store: Any, events: Any) -> None:
        if self.fired_in is None:
            self.fired_in = threading.current_thread().name
            raise KeyboardInterrupt


def test_an_interrupted_leader_leaves_the_others_to_the_next(open_store: Any) -> None:
    plugin = _InterruptOnce()
    store = open_store(LedgerPlugin(), plugin)

    def work(index: int) -> Any:
        return store.append(deposit(f"w{index}", 1))

    results = _run_threads(6, work)
    interrupted = [i for i, r in enumerate(results) if isinstance(r, KeyboardInterrupt)]
    assert len(interrupted) == 1, results
    assert all(isinstance(r, int) for i, r in enumerate(results) if i not in interrupted), results
    stored = sorted(e.workflow_id for e in store.read_all())
    assert stored == sorted(f"w{i}" for i in range(6) if i not in interrupted)
    assert store.append(deposit("after", 1)) == 6  # and the store goes on


def test_appends_inside_a_transaction_do_not_go_through_the_group(store: EventStore) -> None:
    with store.transaction() as tx:
        tx.append(deposit("a", 1))
        assert store.append(deposit("a", 2)) == 2  # joins the open transaction
        with pytest.raises(ConcurrencyError):
            store.append(NewEvent(workflow_id="a", event_type="deposited", payload={"amount": 1}),
                          expected_version=NO_STREAM)
    assert balances(store)[0][1] == 3


def test_threads_that_stop_appending_do_not_hold_up_one_that_goes_on(open_store: Any) -> None:
    # After a shared commit the next leader waits for the threads it finished to come
    # back; those that never do must cost at most that wait, never a stall.
    store = open_store(LedgerPlugin())

    def work(index: int) -> list[int]:
        rounds = 200 if index == 0 else 1
        return [store.append(deposit(f"s{index}", 1)) for _n in range(rounds)]

    results = _run_threads(8, work)
    assert not [r for r in results if isinstance(r, BaseException)], results
    assert sorted(p for r in results for p in r) == list(range(1, 208))
    assert store.version("s0") == 200


def test_a_leader_interrupted_before_it_takes_the_batch_hands_the_lead_on(
    open_store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Wherever the leader's thread is stopped (here while it waits for the others to
    # come back), the appends waiting for it get another leader.
    from evstore import _group

    store = open_store(LedgerPlugin())
    gather = _group.GroupCommit._gather
    fired: list[str] = []

    def interrupted_once(self: Any) -> None:
        if not fired and len(self._pending) > 1:
            fired.append(threading.current_thread().name)
            raise KeyboardInterrupt
        gather(self)

    monkeypatch.setattr(_group.GroupCommit, "_gather", interrupted_once)

    acknowledged: list[int] = []

    def work(index: int) -> None:
        for _n in range(20):
            acknowledged.append(store.append(deposit(f"g{index}", 1)))

    results = _run_threads(6, work)
    failed = [r for r in results if isinstance(r, BaseException)]
    assert fired and [type(r) for r in failed] == [KeyboardInterrupt], results
    # the interrupted append was not stored; every acknowledged one is, once
    assert sorted(acknowledged) == [e.id for e in store.read_all()] == list(range(1, len(acknowledged) + 1))
    assert len(acknowledged) >= 5 * 20
    assert store.append(deposit("after", 1)) == len(acknowledged) + 1
