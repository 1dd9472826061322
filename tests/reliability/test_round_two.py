"""Reliability, round two: what an outside tester broke, each as a test that failed before
the fix. On both backends unless a check is about one backend's specifics."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, ClassVar

import pytest

from evstore import (
    EventStore,
    EventType,
    EvstoreError,
    InvalidArgumentError,
    InvalidEventError,
    Migration,
    NewEvent,
    PayloadSerializationError,
    Projection,
    ProjectionAccessError,
    ProjectionConflictError,
    ProjectionError,
    ScopedConnection,
    StoreClosedError,
    StoreOpenError,
    TransactionError,
    hookimpl,
)
from evstore.testing import snapshot_tables

from kernel_support import LedgerPlugin, balances, contents, database_errors, deposit, raw_connection

# --- 2. close() from another thread ------------------------------------------------------

_CLOSE_RACE = r"""
import sys, threading, random
from evstore import EventStore, EvstoreError, NewEvent
target = sys.argv[1]
for trial in range(int(sys.argv[2])):
    store = EventStore.open(target, autoload=False, permissive=True, durability="normal")
    stop = threading.Event()
    errors = []
    def work(n):
        while not stop.is_set():
            try:
                store.append(NewEvent(workflow_id=f"w{n}", event_type="x", payload={"n": n}))
                store.read(f"w{n}", limit=5)
                store.reader.fetchall("SELECT COUNT(*) FROM events")
                with store.transaction() as tx:
                    tx.append(NewEvent(workflow_id=f"w{n}", event_type="x"))
            except EvstoreError as error:
                errors.append(type(error).__name__)
                if type(error).__name__ == "StoreClosedError":
                    return
    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads: t.start()
    threading.Event().wait(random.uniform(0.01, 0.05))
    store.close()
    stop.set()
    for t in threads: t.join(30)
    assert not any(t.is_alive() for t in threads), "a thread hung after close()"
    assert set(errors) <= {"StoreClosedError", "TransactionError"}, errors
print("ok")
"""


@pytest.mark.slow
def test_close_from_another_thread_never_crashes_the_interpreter(store_target: str, open_store: Any) -> None:
    open_store(permissive=True).close()
    result = subprocess.run(
        [sys.executable, "-c", _CLOSE_RACE, store_target, "25"], capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, f"exit {result.returncode} (a negative code is a crash): {result.stderr[-2000:]}"
    assert result.stdout.strip() == "ok"


def test_other_threads_get_store_closed_error(open_store: Any) -> None:
    store = open_store(LedgerPlugin())
    store.append(deposit("a", 1))
    reader = store.reader
    seen: list[BaseException] = []
    inside = threading.Event()
    release = threading.Event()

    def in_a_transaction() -> None:
        try:
            with store.transaction() as tx:
                tx.append(deposit("b", 1))
                inside.set()
                release.wait(10)
                tx.append(deposit("b", 2))
        except BaseException as error:
            seen.append(error)

    thread = threading.Thread(target=in_a_transaction)
    thread.start()
    assert inside.wait(10)
    store.close()  # while the other thread is inside its transaction
    release.set()
    thread.join(10)
    assert len(seen) == 1 and isinstance(seen[0], StoreClosedError), seen
    for call in (lambda: store.append(deposit("a", 2)), store.head, lambda: reader.fetchall("SELECT 1")):
        with pytest.raises(StoreClosedError):
            call()
    reopened = open_store(LedgerPlugin())
    assert [e.workflow_id for e in reopened.read_all()] == ["a"], "the interrupted transaction was kept"


# --- 5. one consumer's mutation never reaches another ---------------------------------------


class _Mutators:
    """Two projections on one event type (the first pops a key it reads) and a hook."""

    evstore_plugin_name = "mutators"

    def __init__(self) -> None:
        self.hook_saw: list[dict[str, Any]] = []

    @hookimpl
    def evstore_register_event_types(self, register: Any) -> None:
        register(EventType("noted"))

    @hookimpl
    def evstore_register_projections(self, register: Any) -> None:
        first = Projection("a_greedy", tables=["greedy"], migrations=[
            Migration("1", "CREATE TABLE greedy (id INTEGER PRIMARY KEY, gates TEXT)")
        ])
        second = Projection("b_honest", tables=["honest"], migrations=[
            Migration("1", "CREATE TABLE honest (id INTEGER PRIMARY KEY, gates TEXT)")
        ])

        @first.on("noted")
        def greedy(db: Any, event: Any) -> None:
            gates = event.payload.pop("gates")  # a careless handler
            event.payload["injected"] = True
            db.execute("INSERT INTO greedy VALUES (?, ?)", (event.id, str(gates)))

        @second.on("noted")
        def honest(db: Any, event: Any) -> None:
            assert "injected" not in event.payload
            db.execute("INSERT INTO honest VALUES (?, ?)", (event.id, str(event.payload["gates"])))

        register(first)
        register(second)

    @hookimpl
    def evstore_after_commit(self, store: Any, events: Any) -> None:
        self.hook_saw.extend(dict(e.payload) for e in events)


def test_a_handler_mutating_the_event_harms_no_other_consumer(open_store: Any) -> None:
    plugin = _Mutators()
    store = open_store(plugin)
    store.append(NewEvent(workflow_id="w", event_type="noted", payload={"gates": ["lint"]}))
    assert store.reader.fetchall("SELECT gates FROM honest") == [("['lint']",)]
    assert plugin.hook_saw == [{"gates": ["lint"]}]
    assert store.read_all()[0].payload == {"gates": ["lint"]}
    for status in store.projection_status():
        assert status.status == "ok", status
    tables = ["events", "greedy", "honest"]
    before = snapshot_tables(store, tables)
    store.rebuild(["b_honest"])  # rebuilt alone: the same rows
    assert snapshot_tables(store, tables) == before
    store.rebuild()
    assert snapshot_tables(store, tables) == before


# --- 6. the sandbox has no public doors ------------------------------------------------------


def _public_values(value: Any) -> list[Any]:
    found = []
    for name in dir(value):
        if name.startswith("_"):
            continue
        try:
            attribute = getattr(value, name)
        except Exception:
            continue
        found.append(attribute)
    return found


def _is_driver_object(value: Any) -> bool:
    import psycopg

    return isinstance(value, (sqlite3.Connection, sqlite3.Cursor, psycopg.Connection, psycopg.Cursor))


class _Prober:
    evstore_plugin_name = "prober"
    kept: ScopedConnection | None = None
    leaks: ClassVar[list[str]] = []

    @hookimpl
    def evstore_register_event_types(self, register: Any) -> None:
        register(EventType("probe"))

    @hookimpl
    def evstore_register_projections(self, register: Any) -> None:
        projection = Projection("probe", tables=["probed"], migrations=[
            Migration("1", "CREATE TABLE probed (id INTEGER PRIMARY KEY)")
        ])

        @projection.on("probe")
        def probe(db: Any, event: Any) -> None:
            rows = db.execute("SELECT 1")
            for value in (db, rows, iter(rows), event):
                for attribute in _public_values(value):
                    if _is_driver_object(attribute):
                        _Prober.leaks.append(f"{type(value).__name__} leads to {type(attribute).__name__}")
            assert not hasattr(rows, "connection")
            _Prober.kept = db
            db.execute("INSERT INTO probed VALUES (?)", (event.id,))

        register(projection)

    @hookimpl
    def evstore_after_commit(self, store: Any, events: Any) -> None:
        kept = _Prober.kept
        assert kept is not None
        with pytest.raises(ProjectionAccessError, match="outside the call"):
            kept.execute("DELETE FROM probed")


def test_no_public_object_reaches_the_driver_and_kept_connections_refuse(open_store: Any) -> None:
    _Prober.leaks = []
    store = open_store(_Prober())
    store.append(NewEvent(workflow_id="w", event_type="probe"))
    assert _Prober.leaks == []
    assert store.reader.fetchvalue("SELECT COUNT(*) FROM probed") == 1
    kept = _Prober.kept
    assert kept is not None
    with pytest.raises(ProjectionAccessError, match="outside the call"):
        kept.execute("INSERT INTO probed VALUES (99)")
    errors: list[BaseException] = []
    thread = threading.Thread(target=lambda: _record(errors, lambda: kept.execute("DELETE FROM probed")))
    thread.start()
    thread.join()
    assert isinstance(errors[0], ProjectionAccessError)
    reader = store.reader
    thread = threading.Thread(target=lambda: _record(errors, lambda: reader.fetchall("SELECT 1")))
    thread.start()
    thread.join()
    assert isinstance(errors[1], TransactionError)
    assert store.reader.fetchvalue("SELECT COUNT(*) FROM probed") == 1


def _record(errors: list[BaseException], call: Any) -> None:
    try:
        call()
    except BaseException as error:
        errors.append(error)


# --- 7. version skew between processes -------------------------------------------------------


def test_an_older_process_never_writes_into_a_newer_projection(open_store: Any) -> None:
    old = open_store(LedgerPlugin(version=1))
    old.append(deposit("a", 1))
    new = open_store(LedgerPlugin(version=2))  # rebuilds to v2
    new.append(deposit("a", 10))
    old.append(deposit("a", 100))  # must not apply v1 handlers to v2 tables
    status = {s.name: s for s in old.projection_status()}["balances"]
    assert status.status == "outdated"
    assert "version 1 here" in (status.error or "") and "version 2" in (status.error or "")
    with pytest.raises(ProjectionError, match="version 1 here"):
        old.rebuild(["balances"])
    new.append(deposit("a", 1000))  # the newer process catches up on what the old one appended
    assert balances(new)[0][1] == 1111
    reopened_old = open_store(LedgerPlugin(version=1))  # no ping-pong: the old one does not rebuild back
    assert {s.name: s.version for s in reopened_old.projection_status()}["balances"] == 2
    assert balances(new)[0][1] == 1111


# --- 8. a disabled plugin's tables are not up for grabs -------------------------------------


def test_a_table_owned_in_the_store_cannot_be_claimed_while_its_owner_is_absent(open_store: Any) -> None:
    store = open_store(LedgerPlugin())
    store.append(deposit("a", 5))
    store.close()
    taker = Projection("taker", tables=["balances"], migrations=[
        Migration("1", "DROP TABLE IF EXISTS balances; CREATE TABLE balances (x INTEGER)")
    ])

    class Taker:
        evstore_plugin_name = "taker"

        @hookimpl
        def evstore_register_projections(self, register: Any) -> None:
            register(taker)

    with pytest.raises(ProjectionConflictError, match=r"owned by projection 'balances'.*not loaded"):
        open_store(Taker())
    back = open_store(LedgerPlugin())
    assert balances(back)[0][1] == 5


# --- 10. raw SQL keeps the kernel's invariants -------------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO events (id, workflow_id, event_type) VALUES (10, 'w', 'x')",  # a gap
        "INSERT INTO events (id, workflow_id, event_type) VALUES (1, 'w', 'x')",  # taken
        "INSERT INTO events (id, workflow_id, event_type) VALUES (9223372036854775807, 'w', 'x')",
        "INSERT INTO events (id, workflow_id, event_type) VALUES (-1, 'w', 'x')",
        "INSERT INTO events (workflow_id, event_type, version) VALUES ('a', 'x', 5)",  # a version gap
        "INSERT INTO events (workflow_id, event_type, version) VALUES ('new', 'x', 2)",
        "INSERT INTO events (workflow_id, event_type, payload) VALUES ('w', 'x', '{\"a\": NaN}')",
        "INSERT INTO events (workflow_id, event_type, payload) VALUES ('w', 'x', '[1, 2]')",
        "INSERT INTO events (workflow_id, event_type, payload) VALUES ('w', 'x', 'not json')",
        "INSERT INTO events (workflow_id, event_type, metadata) VALUES ('w', 'x', '{')",
    ],
)
def test_raw_inserts_breaking_the_log_are_refused(open_store: Any, statement: str) -> None:
    store = open_store(LedgerPlugin())
    store.append(deposit("a", 1))
    before = contents(store)
    with pytest.raises(database_errors()), raw_connection(store) as conn:
        conn.execute(statement)
    assert contents(store) == before
    store.append(deposit("a", 2))
    assert [e.id for e in store.read_all()] == [1, 2]


def test_raw_inserts_the_kernel_would_make_are_accepted(open_store: Any) -> None:
    store = open_store(LedgerPlugin())
    store.append(deposit("a", 1))
    with raw_connection(store) as conn:
        conn.execute("INSERT INTO events (id, workflow_id, event_type, payload) VALUES (2, 'a', 'deposited', ?)",
                     ('{"amount": 2}',))
        conn.execute("INSERT INTO events (workflow_id, event_type, version, payload) VALUES ('a', 'deposited', 3, ?)",
                     ('{"amount": 3}',))
    store.append(deposit("a", 4))
    assert [(e.id, e.version) for e in store.read("a")] == [(1, 1), (2, 2), (3, 3), (4, 4)]
    assert balances(store)[0][1] == 10


# --- 11 and 12. poison and careless input --------------------------------------------------


def _nested(depth: int) -> dict[str, Any]:
    value: Any = 1
    for _ in range(depth - 1):
        value = [value]
    return {"deep": value}


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda: NewEvent(workflow_id="w", event_type="x", payload=_nested(101)), PayloadSerializationError, "100"),
        (lambda: NewEvent(workflow_id="w", event_type="x", payload={1: "a", "1": "b"}), PayloadSerializationError,
         "keys are strings"),
        (lambda: NewEvent(workflow_id="w", event_type="x", payload={"s": "\ud800"}), PayloadSerializationError,
         "surrogate"),
        (lambda: NewEvent(workflow_id="w", event_type="x", metadata={"s": "\udfff"}), PayloadSerializationError,
         "surrogate"),
        (lambda: NewEvent(workflow_id="w", event_type="x\x00y"), InvalidEventError, "NUL"),
        (lambda: NewEvent(workflow_id="w", event_type="x" * 600), InvalidEventError, "at most 512"),
        (lambda: NewEvent(workflow_id="w\ud800", event_type="x"), InvalidEventError, "workflow_id"),
        (lambda: NewEvent(workflow_id="w", event_type="x",
                          timestamp=datetime(9999, 12, 31, 23, tzinfo=timezone(timedelta(hours=-5)))),
         InvalidEventError, "outside the years"),
        (lambda: NewEvent(workflow_id="w", event_type="x", payload={"n": float("inf")}), PayloadSerializationError,
         "inf"),
    ],
)
def test_poison_input_is_refused_before_anything_is_written(
    open_store: Any, make: Any, error: type[Exception], match: str
) -> None:
    store = open_store(permissive=True)
    store.append(NewEvent(workflow_id="w", event_type="x", payload=_nested(100)))  # the limit itself is fine
    before = contents(store)
    with pytest.raises(error, match=match):
        store.append(make())
    assert contents(store) == before
    assert store.read_all()[0].payload == _nested(100)  # and reads back


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda s: s.read_all(after=2**63), "after"),
        (lambda s: s.read_all(limit=2**64), "limit"),
        (lambda s: s.read("w", from_version=-1), "from_version"),
    ],
)
def test_out_of_range_numbers_are_typed(open_store: Any, call: Any, match: str) -> None:
    with pytest.raises(InvalidArgumentError, match=match):
        call(open_store(permissive=True))


@pytest.mark.parametrize("timeout", [float("nan"), float("inf"), -1, 10**12])
def test_busy_timeouts_must_be_finite(store_target: str, timeout: float) -> None:
    with pytest.raises(InvalidArgumentError, match="busy_timeout"):
        EventStore.open(store_target, autoload=False, busy_timeout=timeout)


@pytest.mark.evstore_backends("sqlite")
def test_refusing_another_applications_database_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "theirs.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY)")
    before = path.read_bytes()
    with pytest.raises(StoreOpenError, match="not an evstore store"):
        EventStore.open(path, autoload=False)
    assert path.read_bytes() == before
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"


@pytest.mark.evstore_backends("sqlite")
def test_a_dropped_kernel_table_is_a_typed_error(open_store: Any) -> None:
    store = open_store(permissive=True)
    store.append(NewEvent(workflow_id="w", event_type="x"))
    with sqlite3.connect(store.path) as conn:
        conn.execute("DROP TABLE events")  # what only a hostile operator does
    for call in (lambda: store.append(NewEvent(workflow_id="w", event_type="x")), store.head, store.read_all):
        with pytest.raises(EvstoreError, match="lacks a kernel table"):
            call()


def test_a_read_only_store_refuses_writes(open_store: Any) -> None:
    store = open_store(permissive=True)
    store.append(NewEvent(workflow_id="w", event_type="x"))
    with EventStore.open(store.location, autoload=False, read_only=True, permissive=True) as reader:
        assert reader.head() == 1
        with pytest.raises(EvstoreError, match="read-only"):
            reader.append(NewEvent(workflow_id="w", event_type="x"))


def test_handlers_cannot_run_past_their_time_budget(open_store: Any) -> None:
    projection = Projection("slow", tables=["slow"], strict=True, time_budget=0.2, migrations=[
        Migration("1", "CREATE TABLE slow (n INTEGER)")
    ])

    @projection.on("x")
    def run_away(db: Any, event: Any) -> None:
        # A query that would run for minutes: the database aborts it at the budget.
        db.execute(
            "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 100000000) "
            "SELECT COUNT(*) FROM r"
        ).fetchall()

    class Slow:
        evstore_plugin_name = "slow"

        @hookimpl
        def evstore_register_projections(self, register: Any) -> None:
            register(projection)

    store = open_store(Slow(), permissive=True)
    started = time.monotonic()
    with pytest.raises(EvstoreError, match=r"time budget of 0\.2 s"):
        store.append(NewEvent(workflow_id="w", event_type="x"))
    assert time.monotonic() - started < 30
    assert store.head() == 0
    store.append(NewEvent(workflow_id="w", event_type="y"))  # and the store goes on
