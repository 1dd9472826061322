"""Large batches keep every guarantee of a batch: all or nothing, the same errors, a
retry recognised. On PostgreSQL they are prepared while COPY sends them (a chunk of
events at a time), so a bad event is found with earlier rows already sent: these run
the bad event in a later chunk than the first."""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Any

import pytest

from evstore import EventStore, InvalidEventError, NewEvent, PayloadValidationError, hookimpl

from kernel_support import LedgerPlugin, balances, deposit

LARGE = 700  # events: several chunks of a streamed batch (256 events each)


def large_batch(count: int = LARGE) -> list[NewEvent]:
    return [deposit("ab"[k % 2], k) for k in range(count)]


def bad_deposit() -> NewEvent:
    return NewEvent(workflow_id="a", event_type="deposited", payload={"amount": "a lot"})


class Interrupting(NewEvent):
    """An event whose payload cannot be read: Ctrl-C lands while it is prepared."""

    def __getattribute__(self, name: str) -> Any:
        if name == "payload":
            raise KeyboardInterrupt
        return super().__getattribute__(name)


def test_a_bad_event_late_in_a_large_batch_stores_nothing(store: EventStore) -> None:
    store.append(deposit("a", 1))
    events = large_batch()
    events[-3] = bad_deposit()
    with pytest.raises(PayloadValidationError, match="does not match Deposit"):
        store.append_many(events)
    assert store.head() == 1
    assert [row[:2] for row in balances(store)] == [("a", 1)]
    assert store.append_many(large_batch()) == list(range(2, LARGE + 2))  # the lock was released


def test_a_bad_event_in_a_large_batch_leaves_the_transaction_usable(store: EventStore) -> None:
    with store.transaction() as tx:
        tx.append(deposit("a", 1))
        with pytest.raises(PayloadValidationError):
            tx.append_many([*large_batch(), bad_deposit()])
        tx.append(deposit("a", 2))
    assert [(e.id, e.version, e.payload["amount"]) for e in store.read_all()] == [(1, 1, 1), (2, 2, 2)]
    assert [row[:2] for row in balances(store)] == [("a", 3)]


def test_a_repeated_event_id_far_apart_in_a_large_batch_is_refused(store: EventStore) -> None:
    events = large_batch()
    events[-1] = replace(events[-1], event_id=events[3].event_id)
    with pytest.raises(InvalidEventError, match="same event_id"):
        store.append_many(events)
    assert store.head() == 0


def test_a_bad_event_is_reported_before_a_repeated_id(store: EventStore) -> None:
    # As when the whole batch was prepared before anything was sent.
    events = large_batch()
    events[1] = replace(events[1], event_id=events[0].event_id)
    events[-2] = bad_deposit()
    with pytest.raises(PayloadValidationError):
        store.append_many(events)
    assert store.head() == 0


def test_a_retried_large_batch_gets_its_positions_and_a_partly_stored_one_is_refused(store: EventStore) -> None:
    events = large_batch()
    positions = store.append_many(events)
    assert store.append_many(events) == positions
    with store.transaction() as tx:
        assert tx.append_many(events) == positions
        with pytest.raises(InvalidEventError, match="already stored"):
            tx.append_many([*large_batch(), events[-1]])
        tx.append(deposit("c", 1))
    assert store.head() == LARGE + 1
    assert [e.version for e in store.read("a")] == list(range(1, LARGE // 2 + 1))


def test_an_interrupt_while_a_large_batch_is_prepared_stores_nothing(store: EventStore) -> None:
    events = large_batch()
    events[-10] = Interrupting(workflow_id="a", event_type="deposited", payload={"amount": 1})
    with pytest.raises(KeyboardInterrupt):
        store.append_many(events)
    with pytest.raises(KeyboardInterrupt), store.transaction() as tx:
        tx.append(deposit("c", 1))
        tx.append_many(events)
    assert store.head() == 0
    assert store.append_many(large_batch()) == list(range(1, LARGE + 1))


def test_before_append_sees_a_large_batch_only_once_every_event_is_valid(open_store: Any) -> None:
    seen: list[int] = []

    class Policy:
        evstore_plugin_name = "policy"

        @hookimpl
        def evstore_before_append(self, store: EventStore, events: Any) -> None:
            seen.append(len(events))

    store = open_store(LedgerPlugin(), Policy())
    with pytest.raises(PayloadValidationError):
        store.append_many([*large_batch(), bad_deposit()])
    assert seen == []
    store.append_many(large_batch())
    assert seen == [LARGE] and store.head() == LARGE


def test_large_batches_of_worker_threads_fail_alone(store: EventStore) -> None:
    # Off the main thread appends share commits (group commit), where a streamed batch
    # is prepared inside the shared transaction: a bad one must fail only itself.
    good, bad = large_batch(), [*large_batch(), bad_deposit()]
    outcomes: dict[str, Any] = {}

    def append(name: str, events: list[NewEvent]) -> None:
        try:
            outcomes[name] = store.append_many(events)
        except Exception as error:
            outcomes[name] = error

    threads = [threading.Thread(target=append, args=(name, events)) for name, events in (("good", good), ("bad", bad))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert isinstance(outcomes["bad"], PayloadValidationError)
    assert len(outcomes["good"]) == LARGE and store.head() == LARGE
    assert [e.event_id for e in store.read_all()] == [e.event_id for e in good]
