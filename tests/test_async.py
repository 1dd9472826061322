"""Async projections, workers, wait_for, subscriptions and batch handlers, on both backends."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from evstore import (
    EventStore,
    EventType,
    InvalidArgumentError,
    Migration,
    NewEvent,
    PluginError,
    Projection,
    ProjectionError,
    ProjectionFailedError,
    Reactor,
    TransactionError,
    WaitTimeoutError,
    Worker,
    hookimpl,
)
from evstore._async import apply_batch

from kernel_support import LedgerPlugin, balances, deposit


class BatchLedger(LedgerPlugin):
    """The ledger, async by default, with a batch handler for replays."""

    evstore_plugin_name = "batch_ledger"

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.batches: list[int] = []

    @hookimpl
    def evstore_register_projections(self, register: Any) -> None:
        captured: list[Projection] = []
        super().evstore_register_projections(captured.append)
        projection = captured[0]
        projection.lifecycle = "async"

        @projection.on_batch
        def deposited_many(db: Any, events: Any) -> None:
            self.batches.append(len(events))
            for event in events:
                projection.handlers[event.event_type](db, event)

        register(projection)


def test_async_projections_are_not_applied_by_appends(open_store: Any) -> None:
    store = open_store(BatchLedger())
    position = store.append(deposit("a", 5))
    status = {s.name: s for s in store.projection_status()}["balances"]
    assert status.lifecycle == "async" and status.position == 0 and status.lag == 1
    with pytest.raises(WaitTimeoutError, match="evstore worker"):
        store.wait_for(position, timeout=0.05)
    worker = Worker(store)
    worker.run(until_caught_up=True)
    store.wait_for(position, timeout=1)
    assert balances(store)[0][1] == 5


def test_wait_for_inside_a_transaction_is_refused_at_once(open_store: Any) -> None:
    """Inside the block nothing it appended is committed or recorded as applied, and its
    write lock keeps a worker out: waiting could only run out the whole timeout."""
    store = open_store(BatchLedger())
    with store.transaction() as tx:
        position = tx.append(deposit("a", 5))
        started = time.monotonic()
        with pytest.raises(TransactionError, match="after the `with` block"):
            store.wait_for(position, timeout=30)
        assert time.monotonic() - started < 10
    Worker(store).run(until_caught_up=True)
    store.wait_for(position, timeout=5)  # after the block it works
    assert balances(store)[0][1] == 5


def test_the_operator_chooses_the_lifecycle(open_store: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVSTORE_ASYNC_PROJECTIONS", "balances,not_loaded_here")
    store = open_store(LedgerPlugin())
    assert {s.name: s.lifecycle for s in store.projection_status()}["balances"] == "async"
    monkeypatch.setenv("EVSTORE_INLINE_PROJECTIONS", "balances")
    with pytest.raises(Exception, match="both async and inline"):
        open_store(LedgerPlugin())
    monkeypatch.delenv("EVSTORE_ASYNC_PROJECTIONS")
    inline = open_store(BatchLedger())
    assert {s.name: s.lifecycle for s in inline.projection_status()}["balances"] == "inline"
    with pytest.raises(Exception, match="no loaded projection"):
        open_store(LedgerPlugin(), async_projections=["typo"])


def test_a_reactor_cannot_decide_from_an_async_projection(open_store: Any) -> None:
    class Deciding:
        evstore_plugin_name = "deciding"

        @hookimpl
        def evstore_register_reactors(self, register: Any) -> None:
            register(Reactor("decide", frozenset({"deposited"}), lambda db, e: None, reads=frozenset({"balances"})))

    with pytest.raises(PluginError, match="async here"):
        open_store(BatchLedger(), Deciding())


def test_workers_use_batch_handlers_and_equal_a_rebuild(open_store: Any) -> None:
    plugin = BatchLedger()
    store = open_store(plugin)
    store.append_many([deposit(f"acct-{n % 5}", n) for n in range(1, 301)])
    Worker(store, batch_size=100).run(until_caught_up=True)
    assert plugin.batches and max(plugin.batches) == 100
    live = balances(store)
    store.rebuild(["balances"])
    assert balances(store) == live


def test_one_leader_per_projection_and_takeover(open_store: Any) -> None:
    store = open_store(BatchLedger())
    store.append(deposit("a", 1))
    first = apply_batch(store, "balances", "worker-1", limit=10, lease_seconds=30)
    assert first.applied == 1 and not first.lease_lost
    other = open_store(BatchLedger())
    other.append(deposit("a", 2))
    assert apply_batch(other, "balances", "worker-2", limit=10, lease_seconds=30).lease_lost
    leader = {s.name: s.leader for s in other.projection_status()}["balances"]
    assert leader == "worker-1"
    # worker-1 stops cleanly: its lease is given up and worker-2 takes over at once.
    from evstore._async import release_leases

    release_leases(store, ["projection:balances"], "worker-1")
    taken = apply_batch(other, "balances", "worker-2", limit=10, lease_seconds=30)
    assert not taken.lease_lost and taken.applied == 1
    assert balances(other)[0][1] == 3


def test_an_expired_lease_is_taken_over_and_the_stale_worker_cannot_commit(open_store: Any) -> None:
    store = open_store(BatchLedger())
    store.append(deposit("a", 1))
    apply_batch(store, "balances", "slow", limit=10, lease_seconds=0.5)
    store.append(deposit("a", 2))
    threading.Event().wait(0.6)
    other = open_store(BatchLedger())
    if other.dialect == "postgresql":
        store.close()  # on PostgreSQL the session lock keeps its holder until it goes away
    assert not apply_batch(other, "balances", "fresh", limit=10, lease_seconds=30).lease_lost
    if store.dialect == "sqlite":
        assert apply_batch(store, "balances", "slow", limit=10).lease_lost
    assert balances(other)[0][1] == 3


def test_a_failing_handler_goes_failing_and_the_worker_backs_off(open_store: Any) -> None:
    plugin = BatchLedger()
    plugin.fail_on.add(13)
    store = open_store(plugin)
    store.append_many([deposit("a", 1), deposit("a", 13), deposit("a", 2)])
    worker = Worker(store, max_backoff=30)
    first = worker.run_once()
    assert first[0].failing is not None and "refusing amount 13" in first[0].failing
    status = {s.name: s for s in store.projection_status()}["balances"]
    assert status.status == "failing" and status.position == 0
    assert worker.run_once() == []  # backing off: not retried in a hot loop
    with pytest.raises(ProjectionFailedError, match="failing"):
        store.wait_for(store.head(), timeout=5)
    plugin.fail_on.clear()
    worker._retry_at.clear()
    worker.run(until_caught_up=True)
    assert {s.name: s.status for s in store.projection_status()}["balances"] == "ok"
    assert balances(store)[0][1] == 16


def test_worker_stop_is_graceful(open_store: Any) -> None:
    store = open_store(BatchLedger())
    worker = Worker(store, poll_interval=0.05)
    thread = threading.Thread(target=worker.run)
    thread.start()
    position = store.append(deposit("a", 7))
    store.wait_for(position, timeout=10)
    worker.stop()
    thread.join(10)
    assert not thread.is_alive()
    assert {s.name: s.leader for s in store.projection_status()}["balances"] is None
    assert balances(store)[0][1] == 7


def test_only_async_projections_have_workers(open_store: Any) -> None:
    store = open_store(LedgerPlugin())
    with pytest.raises(ProjectionError, match="inline here"):
        Worker(store, ["balances"])


# --- subscriptions -----------------------------------------------------------------------


def test_a_subscription_delivers_at_least_once_and_keeps_its_checkpoint(open_store: Any) -> None:
    store = open_store(permissive=True)
    store.append_many([NewEvent(workflow_id="w", event_type="wanted" if n % 3 else "other") for n in range(10)])
    feed = store.subscribe("indexer", types=["wanted"], batch_size=3)
    seen = []
    for event in feed:
        seen.append(event.id)
        if len(seen) == 4:
            break  # a crash mid-batch: the first batch (2, 3, 5) was committed when 6 was asked for
    assert seen == [2, 3, 5, 6]
    again = store.subscribe("indexer", types=["wanted"], batch_size=3)
    assert [e.id for e in again] == [6, 8, 9]  # the interrupted batch comes again, the first does not
    assert again.checkpoint == store.head() == 10  # the filtered-out tail was passed over
    assert list(store.subscribe("indexer", types=["wanted"])) == []
    fresh = store.subscribe("from-the-end", after=store.head())
    store.append(NewEvent(workflow_id="w", event_type="other"))
    assert [e.id for e in fresh] == [11]
    fresh.commit(5)  # idempotent, never backwards
    assert store.subscribe("from-the-end").checkpoint == 11


def test_a_filtered_subscription_advances_when_nothing_matches(open_store: Any) -> None:
    store = open_store(permissive=True)
    store.append_many([NewEvent(workflow_id="w", event_type="noise") for _ in range(50)])
    feed = store.subscribe("rare", types=["rare"])
    assert feed.fetch() == [] and feed.cursor == 50
    feed.commit()
    assert store.subscribe("rare").checkpoint == 50


def test_subscription_follow_sees_appends_from_another_store(open_store: Any) -> None:
    reader = open_store(permissive=True)
    writer = open_store(permissive=True)
    stop = threading.Event()
    got: list[int] = []

    def consume() -> None:
        for event in reader.subscribe("tail").follow(poll_interval=0.01, stop=stop):
            got.append(event.id)
            if len(got) == 3:
                stop.set()

    thread = threading.Thread(target=consume)
    thread.start()
    for _ in range(3):
        writer.append(NewEvent(workflow_id="w", event_type="x"))
    thread.join(10)
    assert got == [1, 2, 3]


def test_bad_subscription_arguments(open_store: Any) -> None:
    store = open_store(permissive=True)
    for bad in ("", "has space", "x" * 300):
        with pytest.raises(Exception, match="subscription name"):
            store.subscribe(bad)
    with pytest.raises(Exception, match="types"):
        store.subscribe("ok", types=[""])


def test_a_subscription_filter_that_could_match_nothing_is_refused(open_store: Any) -> None:
    """An empty or misspelt filter would pass over every event while the checkpoint
    advances: the consumer would lose them all without a sign."""
    store = open_store(LedgerPlugin())
    store.append(deposit("a", 1))
    with pytest.raises(InvalidArgumentError, match="empty list of types"):
        store.subscribe("none", types=[])
    with pytest.raises(InvalidArgumentError, match="Did you mean 'deposited'"):
        store.subscribe("typo", types=["deposit", "deposited"])
    # Nothing was recorded for the refused ones; a right filter works.
    assert store.reader.fetchall("SELECT name FROM evstore_subscriptions") == []
    assert [e.event_type for e in store.subscribe("ok", types="deposited")] == ["deposited"]
    # A permissive store stores any type, so it filters on any name.
    loose = open_store(permissive=True)
    loose.append(NewEvent(workflow_id="w", event_type="anything"))
    assert [e.event_type for e in loose.subscribe("any", types=["anything"])] == ["anything"]
    with pytest.raises(InvalidArgumentError, match="empty list of types"):
        loose.subscribe("none", types=())


def test_a_subscription_never_counts_undelivered_events_as_processed(open_store: Any) -> None:
    """Committing past the cursor, or starting past the head, would pass over events that
    were never delivered: each is refused and changes nothing."""
    store = open_store(permissive=True)
    store.append_many([NewEvent(workflow_id="w", event_type="x") for _ in range(5)])
    with pytest.raises(InvalidArgumentError, match="the log's head is 5"):
        store.subscribe("late", after=6)
    assert store.reader.fetchall("SELECT name FROM evstore_subscriptions") == []
    feed = store.subscribe("feed")
    assert [e.id for e in feed.fetch(2)] == [1, 2]
    for beyond in (3, 10**6):
        with pytest.raises(InvalidArgumentError, match="at most position 2"):
            feed.commit(beyond)
    assert store.subscribe("feed").checkpoint == 0
    feed.commit(2)
    assert [e.id for e in store.subscribe("feed")] == [3, 4, 5]
    at_head = store.subscribe("at-head", after=5)
    store.append(NewEvent(workflow_id="w", event_type="x"))
    assert [e.id for e in at_head] == [6]


def test_a_subscription_commit_joins_the_callers_transaction(open_store: Any) -> None:
    """Results written to the store and the checkpoint commit together; a block that
    rolls back takes its checkpoint with it, and the batch comes again."""
    store = open_store(permissive=True)
    store.append_many([NewEvent(workflow_id="w", event_type="x") for _ in range(4)])
    feed = store.subscribe("copier", batch_size=2)

    def copy_batch(fail: bool) -> list[int]:
        with store.transaction() as tx:
            batch = feed.fetch()
            for event in batch:
                tx.append(NewEvent(workflow_id="copies", event_type="copy", payload={"of": event.id}))
            feed.commit()
            if fail:
                raise RuntimeError("the consumer failed after committing its checkpoint")
        return [e.id for e in batch]

    assert copy_batch(fail=False) == [1, 2]
    assert store.subscribe("copier").checkpoint == 2
    with pytest.raises(RuntimeError):
        copy_batch(fail=True)  # 3 and 4: rolled back, copies and checkpoint alike
    assert store.subscribe("copier").checkpoint == 2
    feed.rewind()
    assert copy_batch(fail=False) == [3, 4]  # handed out again, not skipped
    assert store.subscribe("copier").checkpoint == 4
    copies = [e.payload["of"] for e in store.read("copies")]
    assert copies == [1, 2, 3, 4]


def test_async_status_needs_no_worker_to_read(open_store: Any, store_target: str) -> None:
    store = open_store(BatchLedger())
    store.append(deposit("a", 1))
    with EventStore.open(store_target, plugins=[BatchLedger()], autoload=False, read_only=True) as reader:
        status = {s.name: s for s in reader.projection_status()}["balances"]
    assert status.lag == 1 and status.lag_seconds >= 0 and status.leader is None


class _Batcher:
    """A projection with only an on_batch shortcut and a poison-aware per-event path."""

    evstore_plugin_name = "batcher"

    @hookimpl
    def evstore_register_event_types(self, register: Any) -> None:
        from pydantic import BaseModel

        class Counted(BaseModel):
            n: int

        register(EventType("counted", payload=Counted))

    @hookimpl
    def evstore_register_projections(self, register: Any) -> None:
        projection = Projection("counts", tables=["counts"], lifecycle="async", migrations=[
            Migration("1", "CREATE TABLE counts (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)")
        ])

        @projection.on("counted")
        def one(db: Any, event: Any) -> None:
            db.execute("INSERT INTO counts VALUES (?, ?)", (event.id, event.payload["n"]))

        @projection.on_batch
        def many(db: Any, events: Any) -> None:
            db.executemany("INSERT INTO counts VALUES (?, ?)", [(e.id, e.payload["n"]) for e in events])

        register(projection)


def test_a_failing_batch_is_applied_event_by_event(open_store: Any) -> None:
    store = open_store(_Batcher(), permissive=True)
    store.append_many([NewEvent(workflow_id="w", event_type="counted", payload={"n": n}) for n in range(5)])
    # An event stored without validation (no "n"): the batch handler fails, the per-event
    # path finds the event, and the skip policy keeps the projection going.
    store.append(NewEvent(workflow_id="w", event_type="counted", payload={}))
    store.append(NewEvent(workflow_id="w", event_type="counted", payload={"n": 9}))
    Worker(store).run(until_caught_up=True)
    assert store.reader.fetchall("SELECT n FROM counts ORDER BY id") == [(0,), (1,), (2,), (3,), (4,), (9,)]
    status = {s.name: s for s in store.projection_status()}["counts"]
    assert status.status == "ok" and status.skipped == 1 and "does not match" in (status.last_skip or "")
