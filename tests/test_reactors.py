"""Reactors append follow-ups in the same transaction, during live appends only."""

from __future__ import annotations

from typing import Any

import pytest

from evstore import (
    EventStore,
    EventType,
    NewEvent,
    ProjectionAccessError,
    Reactor,
    ReactorDepthError,
    ReactorError,
    RecordedEvent,
    ScopedConnection,
    hookimpl,
)

from kernel_support import LedgerPlugin, balances, deposit


class BonusPlugin:
    """Every deposit of 100 or more earns a bonus deposit of 1 (itself below 100)."""

    evstore_plugin_name = "bonus"

    def __init__(self) -> None:
        self.seen_balances: list[int] = []
        self.explode = False

    @hookimpl
    def evstore_register_event_types(self, register: Any) -> None:
        register(EventType("bonus_granted"))

    @hookimpl
    def evstore_register_reactors(self, register: Any) -> None:
        def react(db: ScopedConnection, event: RecordedEvent) -> list[NewEvent]:
            if self.explode:
                raise ValueError("bonus service down")
            # The projection has already applied the triggering event.
            self.seen_balances.append(db.fetchvalue(
                "SELECT amount FROM balances WHERE account = ?", (event.workflow_id,)))
            if event.payload["amount"] < 100:
                return []
            return [
                deposit(event.workflow_id, 1),
                NewEvent(workflow_id=event.workflow_id, event_type="bonus_granted"),
            ]

        register(Reactor("bonus", frozenset({"deposited"}), react, reads=frozenset({"balances"})))


@pytest.fixture
def bonus() -> BonusPlugin:
    return BonusPlugin()


@pytest.fixture
def store(open_store: Any, ledger: LedgerPlugin, bonus: BonusPlugin) -> EventStore:
    return open_store(ledger, bonus)


def test_follow_ups_are_appended_and_projected_in_the_same_transaction(
    store: EventStore, bonus: BonusPlugin
) -> None:
    assert store.append(deposit("a", 150)) == 1
    events = store.read("a")
    assert [(e.id, e.event_type, e.version) for e in events] == [
        (1, "deposited", 1), (2, "deposited", 2), (3, "bonus_granted", 3)
    ]
    assert balances(store)[0][1] == 151
    assert bonus.seen_balances == [150, 151]
    follow_up = events[1]
    assert follow_up.metadata["causation_id"] == events[0].event_id
    assert follow_up.metadata["correlation_id"] == events[0].event_id


def test_follow_ups_roll_back_with_their_transaction(store: EventStore) -> None:
    with pytest.raises(RuntimeError), store.transaction() as tx:
        tx.append(deposit("a", 500))
        raise RuntimeError("abort")
    assert store.head() == 0 and balances(store) == []


def test_reactor_error_rejects_the_append(store: EventStore, bonus: BonusPlugin) -> None:
    store.append(deposit("a", 1))
    bonus.explode = True
    with pytest.raises(ReactorError, match="reactor 'bonus' of plugin 'bonus' failed on event 2"):
        store.append(deposit("a", 200))
    assert store.head() == 1 and balances(store)[0][1] == 1


def test_rebuild_and_catch_up_never_run_reactors(store: EventStore, bonus: BonusPlugin) -> None:
    store.append(deposit("a", 300))
    before = (store.head(), balances(store))
    bonus.seen_balances.clear()
    store.rebuild()
    store.catch_up()
    assert (store.head(), balances(store)) == before
    assert bonus.seen_balances == []


def test_reactor_depth_is_bounded(open_store: Any, ledger: LedgerPlugin) -> None:
    class Echo:
        evstore_plugin_name = "echo"

        @hookimpl
        def evstore_register_reactors(self, register: Any) -> None:
            register(Reactor("echo", frozenset({"deposited"}), lambda db, e: [deposit(e.workflow_id, 1)]))

    store = open_store(ledger, Echo(), max_reactor_depth=3)
    with pytest.raises(ReactorDepthError, match="4 levels deep"):
        store.append(deposit("a", 1))
    assert store.head() == 0


def test_reactor_must_return_events(open_store: Any, ledger: LedgerPlugin) -> None:
    class Wrong:
        evstore_plugin_name = "wrong"

        @hookimpl
        def evstore_register_reactors(self, register: Any) -> None:
            register(Reactor("wrong", frozenset({"deposited"}), lambda db, e: [{"not": "an event"}]))

    store = open_store(ledger, Wrong())
    with pytest.raises(ReactorError, match="must return NewEvent"):
        store.append(deposit("a", 1))
    assert store.head() == 0


def test_reactor_cannot_write(open_store: Any, ledger: LedgerPlugin) -> None:
    class Sneaky:
        evstore_plugin_name = "sneaky"

        @hookimpl
        def evstore_register_reactors(self, register: Any) -> None:
            def react(db: ScopedConnection, event: RecordedEvent) -> None:
                db.execute("UPDATE balances SET amount = 0")

            register(Reactor("sneaky", frozenset({"deposited"}), react))

    store = open_store(ledger, Sneaky())
    with pytest.raises(ProjectionAccessError, match=r"reactor 'sneaky' of plugin 'sneaky'.*read-only"):
        store.append(deposit("a", 5))
    assert store.head() == 0


def test_reactor_refuses_to_decide_from_a_failing_projection(store: EventStore, ledger: LedgerPlugin) -> None:
    store.append(deposit("a", 1))
    ledger.fail_on.add(7)
    # The projection fails on this event, so the reactor that reads it would decide from
    # stale tables: the append is rejected instead, and nothing is stored.
    with pytest.raises(ReactorError, match=r"decides from projection 'balances', which is failing"):
        store.append(deposit("a", 7))
    assert store.head() == 1
    assert [s.status for s in store.projection_status()] == ["ok"]
    ledger.fail_on.clear()
    store.append(deposit("a", 150))
    assert balances(store)[0][1] == 152


def test_a_projection_a_reactor_reads_cannot_be_made_async(open_store: Any, ledger: LedgerPlugin,
                                                           bonus: BonusPlugin) -> None:
    from evstore import PluginError

    # The reactor would decide from tables a worker has not brought up to date yet.
    with pytest.raises(PluginError, match=r"reactor 'bonus' of plugin 'bonus' decides from projection 'balances', "
                                          r"which is async here.*EVSTORE_INLINE_PROJECTIONS=balances"):
        open_store(ledger, bonus, async_projections=["balances"])


def test_without_reactors_a_projection_they_read_may_be_async(open_store: Any, ledger: LedgerPlugin,
                                                              bonus: BonusPlugin) -> None:
    # An import (reactors=False) never runs the reactor, so nothing decides from stale tables.
    store = open_store(ledger, bonus, async_projections=["balances"], reactors=False)
    store.append(deposit("a", 150))
    assert store.head() == 1  # no bonus: the reactor did not run
    assert [(s.name, s.lifecycle) for s in store.projection_status()] == [("balances", "async")]


def test_reactor_reading_a_projection_nobody_provides(open_store: Any, bonus: BonusPlugin) -> None:
    from evstore import PluginError

    with pytest.raises(PluginError, match="reads projection 'balances', which no loaded plugin provides"):
        open_store(bonus)


def test_reactors_can_be_switched_off_for_imports(open_store: Any, ledger: LedgerPlugin, bonus: BonusPlugin) -> None:
    store = open_store(ledger, bonus, reactors=False)
    store.append(deposit("a", 500))
    assert store.head() == 1 and bonus.seen_balances == []
