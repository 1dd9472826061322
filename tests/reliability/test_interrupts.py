"""An interrupt (KeyboardInterrupt, SystemExit) or any error at any point of a write
leaves no transaction open, no lock held and no projection half-applied; the store stays
usable on that thread and other writers never wait for it. On both backends.

Deterministic: the interrupt is injected at each step of the write path and of the
maintenance paths. Real: a child appends while its parent sends it SIGINT hundreds of
times, and a third process keeps writing with a short busy timeout.
"""

from __future__ import annotations

import faulthandler
import multiprocessing
import os
import random
import signal
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from evstore import EventStore, NewEvent, Reactor, StoreBusyError, StoreConnectionError, hookimpl
from evstore._pg_session import PostgresSession
from evstore._projector import Projector
from evstore._replay import Maintenance
from evstore._sqlite import SqliteSession
from evstore._transactions import Transaction

from interrupt_points import Interrupt, count_points, run_interrupted
from kernel_support import LedgerPlugin, balances, deposit


def _session_class(store: EventStore) -> type:
    return SqliteSession if store.dialect == "sqlite" else PostgresSession


def _after(cls: type, name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``cls.name`` do its work, then raise the interrupt (once)."""
    original = getattr(cls, name)
    fired: list[bool] = []

    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        result = original(self, *args, **kwargs)
        if not fired:
            fired.append(True)
            raise Interrupt(f"after {name}")
        return result

    monkeypatch.setattr(cls, name, wrapper)


def _before(cls: type, name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    original = getattr(cls, name)
    fired: list[bool] = []

    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        if not fired:
            fired.append(True)
            raise Interrupt(f"before {name}")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(cls, name, wrapper)


class _Echo:
    """A reactor that records each deposit as an 'echoed' event; can be armed to raise."""

    evstore_plugin_name = "echo"

    def __init__(self) -> None:
        self.raise_next: BaseException | None = None

    @hookimpl
    def evstore_register_event_types(self, register: Any) -> None:
        from evstore import EventType

        register(EventType("echoed"))

    @hookimpl
    def evstore_register_reactors(self, register: Any) -> None:
        def react(db: Any, event: Any) -> list[NewEvent]:
            if self.raise_next is not None:
                error, self.raise_next = self.raise_next, None
                raise error
            return [NewEvent(workflow_id=f"echo-{event.workflow_id}", event_type="echoed")]

        register(Reactor("echo", frozenset({"deposited"}), react))


WRITE_POINTS: dict[str, Callable[[EventStore, pytest.MonkeyPatch], None]] = {
    "after BEGIN": lambda s, mp: _after(_session_class(s), "begin_write", mp),
    "after the projections' start": lambda s, mp: _after(Transaction, "start", mp),
    "after the insert": lambda s, mp: _after(_session_class(s), "insert_events", mp),
    "after applying projections": lambda s, mp: _after(Projector, "apply", mp),
    "before recording positions": lambda s, mp: _before(Projector, "finish", mp),
    "before COMMIT": lambda s, mp: _before(_session_class(s), "commit", mp),
    "after COMMIT": lambda s, mp: _after(_session_class(s), "commit", mp),
    "in the rollback itself": lambda s, mp: (_before(_session_class(s), "commit", mp),
                                             _after(_session_class(s), "rollback", mp)),
}


@pytest.fixture
def stores(open_store: Any) -> Iterator[tuple[EventStore, EventStore, _Echo]]:
    echo = _Echo()
    store = open_store(LedgerPlugin(), echo)
    other = open_store(LedgerPlugin(), _Echo(), busy_timeout=2.0)
    yield store, other, echo


def _assert_healthy(store: EventStore, other: EventStore) -> None:
    state = store._acquire()
    try:
        assert not state.session.in_transaction or state.depth > 1, "a transaction was left open"
    finally:
        store._release(state)
    # Another connection takes the write lock at once (busy timeout 2 s, never exhausted).
    other.append(deposit("other", 1))
    store.append(deposit("a", 1))  # the interrupted thread's store still works
    events = store.read_all()
    assert [e.id for e in events] == list(range(1, len(events) + 1))
    for status in store.projection_status():
        assert status.status == "ok" and status.lag == 0, status
    live = balances(store)
    store.rebuild()
    assert balances(store) == live, "a projection was left half-applied"


@pytest.mark.parametrize("point", sorted(WRITE_POINTS))
@pytest.mark.parametrize("how", ["append", "append_many", "transaction"])
def test_interrupt_at_each_step_of_the_write_path(
    stores: tuple[EventStore, EventStore, _Echo], monkeypatch: pytest.MonkeyPatch, point: str, how: str
) -> None:
    store, other, _echo = stores
    store.append(deposit("a", 5))
    WRITE_POINTS[point](store, monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        if how == "append":
            store.append(deposit("a", 7))
        elif how == "append_many":
            store.append_many([deposit("a", 7), deposit("b", 8)])
        else:
            with store.transaction() as tx:
                tx.append(deposit("a", 7))
                tx.append(deposit("b", 8))
    monkeypatch.undo()
    stored = [e.payload.get("amount") for e in store.read_all() if e.event_type == "deposited"]
    # All or nothing: the interrupted append is stored whole (an interrupt after COMMIT)
    # or not at all.
    assert stored in ([5], [5, 7], [5, 7, 8]) and (how == "append" or stored != [5, 7])
    _assert_healthy(store, other)


@pytest.mark.parametrize("error", [KeyboardInterrupt, SystemExit, RuntimeError])
def test_interrupt_raised_by_a_handler_a_reactor_or_a_hook(open_store: Any, error: type[BaseException]) -> None:
    ledger, echo = LedgerPlugin(), _Echo()

    class Hook:
        evstore_plugin_name = "hook"
        armed = False

        @hookimpl
        def evstore_before_append(self, store: Any, events: Any) -> None:
            if Hook.armed:
                Hook.armed = False
                raise error("from a hook")

    store = open_store(ledger, echo, Hook())
    other = open_store(LedgerPlugin(), _Echo(), busy_timeout=2.0)
    store.append(deposit("a", 1))
    for arm in ("handler", "reactor", "hook"):
        if arm == "handler":
            original = ledger.fail_on

            class Raising(set[int]):
                def __contains__(self, amount: object) -> bool:
                    if amount == 99:
                        raise error("from a handler")
                    return False

            ledger.fail_on = Raising()
        elif arm == "reactor":
            echo.raise_next = error("from a reactor")
        else:
            Hook.armed = True
        if error is RuntimeError and arm == "handler":
            # An ordinary handler error marks the projection failing and keeps the event.
            store.append(deposit("a", 99))
            ledger.fail_on = original
            continue
        with pytest.raises(BaseException) as caught:
            store.append(deposit("a", 99))
        if arm == "handler":
            ledger.fail_on = original
        assert isinstance(caught.value, error) or isinstance(caught.value.__cause__, error)
    assert store.catch_up() == []
    _assert_healthy(store, other)


MAINTENANCE_POINTS = {
    "catch-up after taking the lock": lambda mp: _before(Maintenance, "catch_up", mp),
    "rebuild after dropping the tables": lambda mp: _before(Maintenance, "replay", mp),
}


@pytest.mark.parametrize("point", sorted(MAINTENANCE_POINTS))
def test_interrupt_during_catch_up_and_rebuild(
    stores: tuple[EventStore, EventStore, _Echo], monkeypatch: pytest.MonkeyPatch, point: str
) -> None:
    store, other, _echo = stores
    store.append_many([deposit("a", n) for n in range(1, 20)])
    before = balances(store)
    MAINTENANCE_POINTS[point](monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        if "catch-up" in point:
            store.catch_up()
        else:
            store.rebuild()
    monkeypatch.undo()
    assert balances(store) == before, "an interrupted rebuild left the tables changed"
    _assert_healthy(store, other)


def test_interrupt_while_opening_leaves_the_lock_free(
    open_store: Any, store_target: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    open_store(LedgerPlugin()).append(deposit("a", 1))
    _before(Maintenance, "open_all", monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        EventStore.open(store_target, plugins=[LedgerPlugin(version=2)], autoload=False)
    monkeypatch.undo()
    other = open_store(LedgerPlugin(version=2), busy_timeout=2.0)
    other.append(deposit("a", 2))
    assert balances(other)[0][1] == 3


# --- real signals --------------------------------------------------------------------------


def _interrupted_writer(target: str, ready: Any, acknowledged: Any, stop: Any) -> None:
    """Append until told to stop, carrying on after every KeyboardInterrupt. SIGINT
    raises only while a store call is running (the handler is armed around it), so
    every interrupt lands inside evstore, at whatever point of the call it reaches."""
    armed = [False]

    def interrupt(signum: int, frame: Any) -> None:
        if armed[0]:
            raise KeyboardInterrupt

    signal.signal(signal.SIGINT, interrupt)
    faulthandler.register(signal.SIGUSR1)  # the parent asks for our stacks if we hang
    store = EventStore.open(target, plugins=[LedgerPlugin()], autoload=False, durability="normal")
    ready.set()
    count = interrupted = 0
    while not stop.is_set():
        try:
            armed[0] = True
            if count % 3 == 0:
                store.append(deposit("child", 1))
            elif count % 3 == 1:
                store.append_many([deposit("child", 1), deposit("child-b", 1)])
            else:
                with store.transaction() as tx:
                    tx.append(deposit("child", 1))
                    tx.append(deposit("child-c", 1))
            armed[0] = False
            count += 1
        except (KeyboardInterrupt, StoreConnectionError):
            # psycopg may turn an interrupt in mid-statement into a broken connection,
            # which the store reports as StoreConnectionError; either way it recovers.
            armed[0] = False
            interrupted += 1
    acknowledged.value = count * 1000 + min(interrupted, 999)
    store.append(deposit("child", 1))  # the store is still usable after all of that
    store.close()


def _steady_writer(target: str, results: Any) -> None:
    store = EventStore.open(target, plugins=[LedgerPlugin()], autoload=False, durability="normal", busy_timeout=5.0)
    written = busy = 0
    deadline = time.monotonic() + 6
    while time.monotonic() < deadline:
        try:
            store.append(deposit("steady", 1))
            written += 1
        except StoreBusyError:
            busy += 1
    results.put((written, busy))
    store.close()


@pytest.mark.slow
def test_hundreds_of_sigints_never_wedge_the_store(open_store: Any, store_target: str) -> None:
    open_store(LedgerPlugin()).close()
    context = multiprocessing.get_context("spawn")
    ready, stop = context.Event(), context.Event()
    acknowledged = context.Value("i", 0)
    results = context.Queue()
    child = context.Process(target=_interrupted_writer, args=(store_target, ready, acknowledged, stop))
    child.start()
    assert ready.wait(60)
    steady = context.Process(target=_steady_writer, args=(store_target, results))
    steady.start()
    rng = random.Random(7)
    sent = 0
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and child.is_alive():
        os.kill(child.pid or 0, signal.SIGINT)
        sent += 1
        time.sleep(rng.uniform(0.0005, 0.01))
    time.sleep(0.5)  # let the last interrupt land before asking the child to stop
    stop.set()
    child.join(60)
    if child.is_alive():
        os.kill(child.pid or 0, signal.SIGUSR1)  # its threads' stacks, on stderr
        time.sleep(1)
        child.kill()
        pytest.fail("the child hangs after the interrupts (its stacks are on stderr above)")
    steady.join(60)
    written, busy = results.get(timeout=10)
    assert child.exitcode == 0, "the child died (a KeyboardInterrupt escaped outside the store?)"
    assert sent >= 200
    assert busy == 0, f"the other process hit StoreBusyError {busy} times: a lock was left held"
    completed, interrupted = divmod(acknowledged.value, 1000)
    assert written > 0 and completed > 0
    assert interrupted >= 50, f"only {interrupted} interrupts landed inside store calls"
    store = open_store(LedgerPlugin())
    events = store.read_all()
    assert [e.id for e in events] == list(range(1, len(events) + 1))
    for status in store.projection_status():
        assert status.status == "ok" and status.lag == 0
    live = balances(store)
    store.rebuild()
    assert balances(store) == live


# The store's own frames on the write path, between the calls the tests above patch. A
# signal's KeyboardInterrupt is raised where the interpreter checks for pending signals:
# as a Python function starts and as a call returns. Each call made from these frames is
# such a point, twice (the callee's first line, the return to our frame): the test raises
# the interrupt at each in turn.
def _write_path_code() -> set[Any]:
    return {
        function.__code__
        for function in (
            EventStore.append, EventStore.append_many, EventStore._append_alone, EventStore._start_write,
            EventStore._after_write, EventStore._write.__wrapped__, EventStore.transaction.__wrapped__,
        )
    }


@pytest.mark.slow
@pytest.mark.parametrize("how", ["append", "transaction"])
def test_interrupt_at_every_bytecode_of_the_store_write_path(
    stores: tuple[EventStore, EventStore, _Echo], how: str
) -> None:
    store, other, _echo = stores
    code = _write_path_code()

    def write() -> None:
        if how == "append":
            store.append(deposit("a", 5))
        else:
            with store.transaction() as tx:
                tx.append(deposit("a", 5))

    total = count_points(code, write)
    assert total > 10
    for at in range(1, total + 1):
        before = store.head()
        where = run_interrupted(code, write, at)
        # All of the append or none of it (a deposit and its echo), whatever the outcome
        # said: an interrupt after COMMIT may report a write that did commit.
        written = store.head() - before
        assert written in (0, 2), f"{where}: {written} events"
        assert where != "no interrupt" or written == 2, where
        try:
            _assert_healthy(store, other)
        except BaseException as error:
            raise AssertionError(f"the store is not healthy after the interrupt {where}") from error
