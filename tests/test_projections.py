"""The projection runtime: inline apply, failure isolation, catch-up, rebuild, ownership."""

from __future__ import annotations

import gc
import logging
from typing import Any

import pytest

from evstore import (
    EventStore,
    EventType,
    Migration,
    MigrationError,
    NewEvent,
    Projection,
    ProjectionAccessError,
    ProjectionConflictError,
    ProjectionError,
    ProjectionFailedError,
    TransactionError,
    UnknownProjectionError,
    hookimpl,
)
from evstore._replay import collection_paused

from kernel_support import LedgerPlugin, balances, deposit, raw_connection


def status_of(store: EventStore, name: str = "balances") -> Any:
    return next(s for s in store.projection_status() if s.name == name)


def test_rows_and_position_commit_with_the_event(store: EventStore) -> None:
    store.append(deposit("a", 5))
    store.append_many([deposit("b", 1), deposit("a", 2)])
    assert [(r[0], r[1]) for r in balances(store)] == [("a", 7), ("b", 1)]
    status = status_of(store)
    assert (status.position, status.lag, status.status) == (3, 0, "ok")


def test_rolled_back_transaction_leaves_no_rows(store: EventStore) -> None:
    with pytest.raises(KeyError), store.transaction() as tx:
        tx.append(deposit("a", 5))
        raise KeyError("abort")
    assert balances(store) == [] and status_of(store).position == 0


def test_failing_handler_is_isolated_and_marked(
    store: EventStore, ledger: LedgerPlugin, caplog: pytest.LogCaptureFixture
) -> None:
    store.append(deposit("a", 1))
    ledger.fail_on.add(13)
    with caplog.at_level(logging.ERROR, logger="evstore"):
        position = store.append(deposit("a", 13))
    assert position == 2 and store.head() == 2  # the event is stored
    assert balances(store)[0][1] == 1  # the handler's partial write was rolled back
    status = status_of(store)
    assert (status.status, status.position) == ("failing", 1)
    assert "projection 'balances'" in status.error and "event 2" in status.error
    assert "evstore catch-up balances" in status.error and "RuntimeError" in status.error
    assert "marked failing" in caplog.text
    # Skipped while failing: later events are stored but not applied.
    store.append(deposit("b", 4))
    assert [r[0] for r in balances(store)] == ["a"]
    # Fixed: catch-up replays from the failing position.
    ledger.fail_on.clear()
    assert store.catch_up(["balances"]) == []
    assert [(r[0], r[1]) for r in balances(store)] == [("a", 14), ("b", 4)]
    assert (status_of(store).status, status_of(store).position) == ("ok", 3)


def test_catch_up_that_fails_again_stays_failing(store: EventStore, ledger: LedgerPlugin) -> None:
    ledger.fail_on.add(13)
    store.append(deposit("a", 13))
    assert store.catch_up() == ["balances"]
    assert status_of(store).status == "failing" and balances(store) == []


def test_strict_projection_rejects_the_append(open_store: Any) -> None:
    plugin = LedgerPlugin(strict=True)
    store = open_store(plugin)
    store.append(deposit("a", 1))
    plugin.fail_on.add(13)
    with pytest.raises(ProjectionFailedError, match="strict, so the append was rejected"):
        store.append(deposit("a", 13))
    assert store.head() == 1 and balances(store)[0][1] == 1 and status_of(store).status == "ok"


def test_strict_failure_dooms_the_surrounding_transaction(open_store: Any) -> None:
    plugin = LedgerPlugin(strict=True)
    plugin.fail_on.add(13)
    store = open_store(plugin)
    with pytest.raises(TransactionError, match="can only be rolled back"), store.transaction() as tx:
        tx.append(deposit("a", 1))
        try:
            tx.append(deposit("a", 13))
        except ProjectionFailedError:
            pass
        tx.append(deposit("a", 2))  # refused: the transaction can only roll back
    assert store.head() == 0


def test_rebuild_reproduces_identical_rows(store: EventStore) -> None:
    for n in range(1, 30):
        store.append(deposit(f"acct-{n % 4}", n))
    before = balances(store)
    assert store.rebuild() == 29
    assert balances(store) == before
    assert store.rebuild(["balances"]) == 29


def test_rebuild_error_keeps_the_old_tables(store: EventStore, ledger: LedgerPlugin) -> None:
    store.append_many([deposit("a", 1), deposit("a", 13)])
    before = balances(store)
    ledger.fail_on.add(13)
    with pytest.raises(ProjectionError, match="rebuild was rolled back"):
        store.rebuild()
    assert balances(store) == before



def test_replays_pause_the_garbage_collector_and_restore_it(store: EventStore, ledger: LedgerPlugin) -> None:
    """A replay batch runs with automatic collection off (see collection_paused); the
    collector is as it was after every rebuild and catch-up, failed ones included, and
    one that was off is not turned on."""
    store.append_many([deposit("a", n) for n in range(1, 5)])
    seen: list[bool] = []

    class Watching(set[int]):
        """The handler asks it about every deposit: note the collector's state."""

        def __contains__(self, amount: object) -> bool:
            seen.append(gc.isenabled())
            return super().__contains__(amount)

    ledger.fail_on = Watching()
    assert gc.isenabled()
    store.rebuild()
    assert seen and not any(seen), "the handlers ran with the collector on"
    assert gc.isenabled()
    ledger.fail_on.add(3)
    with pytest.raises(ProjectionError):
        store.rebuild()
    assert gc.isenabled()
    gc.disable()
    try:
        ledger.fail_on.clear()
        store.rebuild()
        assert not gc.isenabled(), "a rebuild turned on a collector its caller had turned off"
    finally:
        gc.enable()


def test_collection_paused_restores_the_collector_on_an_interrupt() -> None:
    with pytest.raises(KeyboardInterrupt), collection_paused():
        with collection_paused():
            assert not gc.isenabled()
        assert not gc.isenabled(), "a nested pause turned the collector back on early"
        raise KeyboardInterrupt
    assert gc.isenabled()

def test_unknown_projection_name(store: EventStore) -> None:
    with pytest.raises(UnknownProjectionError, match="no loaded projection is named 'nope'"):
        store.rebuild(["nope"])
    with pytest.raises(UnknownProjectionError):
        store.catch_up("nope")


def test_new_projection_catches_up_on_open(open_store: Any) -> None:
    bare = open_store(permissive=True)
    bare.append_many([deposit("a", 2), deposit("b", 3)])
    bare.close()
    store = open_store(LedgerPlugin())
    assert [(r[0], r[1]) for r in balances(store)] == [("a", 2), ("b", 3)]


def test_projection_behind_because_another_writer_lacked_it(open_store: Any) -> None:
    with_ledger = open_store(LedgerPlugin())
    with_ledger.append(deposit("a", 1))
    without = open_store(permissive=True)
    without.append(deposit("a", 10))  # the ledger projection is not loaded here
    with_ledger.append(deposit("a", 100))  # must apply 10 before 100, never skip it
    assert balances(with_ledger)[0][1] == 111
    assert status_of(with_ledger).lag == 0


def test_version_bump_rebuilds_on_open(open_store: Any) -> None:
    store = open_store(LedgerPlugin())
    store.append(deposit("a", 4))
    with raw_connection(store) as conn:  # simulate a stale row the new version must not keep
        conn.execute("UPDATE balances SET amount = -1")
    store.close()
    store = open_store(LedgerPlugin(version=2))
    assert balances(store)[0][1] == 4 and status_of(store).version == 2


def test_migrations_are_recorded_once_per_projection(open_store: Any) -> None:
    open_store(LedgerPlugin()).close()
    store = open_store(LedgerPlugin())
    assert store.reader.fetchall("SELECT projection, name FROM evstore_migrations") == [("balances", "0001_create")]


def make_plugin(projection: Projection, *types: str, name: str = "custom") -> object:
    class Plugin:
        evstore_plugin_name = name

        @hookimpl
        def evstore_register_event_types(self, register: Any) -> None:
            for event_type in types:
                register(EventType(event_type))

        @hookimpl
        def evstore_register_projections(self, register: Any) -> None:
            register(projection)

    return Plugin()


def test_writing_a_table_it_does_not_own_marks_the_projection_failing(open_store: Any) -> None:
    intruder = Projection(
        "intruder", tables=["mine"],
        migrations=[Migration("1", "CREATE TABLE mine (x INTEGER)")],
    )

    @intruder.on("poke")
    def poke(db: Any, event: Any) -> None:
        db.execute("INSERT INTO mine VALUES (1)")
        db.execute("DELETE FROM balances")

    ledger = LedgerPlugin()
    store = open_store(ledger, make_plugin(intruder, "poke"))
    store.append(deposit("a", 1))
    store.append(NewEvent(workflow_id="a", event_type="poke"))
    assert balances(store)[0][1] == 1
    status = status_of(store, "intruder")
    assert status.status == "failing" and "writing table 'balances'" in status.error
    assert store.reader.fetchall("SELECT * FROM mine") == []


FORBIDDEN_EVERYWHERE = [
    "INSERT INTO events (workflow_id) VALUES ('x')",
    "UPDATE evstore_projections SET position = 0",
    "DELETE FROM evstore_tables",
    "COMMIT",
    "ROLLBACK",
    "SAVEPOINT x",
    "CREATE TABLE sneaky (x INTEGER)",
    "CREATE INDEX mine_x ON mine (x)",  # its own table, but outside a migration
    "DROP TABLE evstore_meta",
]
FORBIDDEN_ON_SQLITE = ["ATTACH DATABASE ':memory:' AS other", "PRAGMA synchronous = OFF"]
FORBIDDEN_ON_POSTGRESQL = [
    "SET synchronous_commit = off",
    "SELECT pg_advisory_unlock_all()",
    "SELECT set_config('search_path', 'public', true)",
    "LOCK TABLE events",
    "COPY events TO STDOUT",
    "DO $$ BEGIN DELETE FROM events; END $$",
    "WITH gone AS (DELETE FROM events RETURNING id) SELECT count(*) FROM gone",
    "SELECT * FROM (SELECT 1) AS x WHERE EXISTS (SELECT 1 FROM mine) UNION SELECT nextval('s')",
    "EXPLAIN ANALYZE DELETE FROM events",
    "SELECT 1 INTO copied",
    "INSERT INTO mine VALUES (1); DELETE FROM events",
    "TRUNCATE evstore_projections",
    "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1'",
]


@pytest.mark.parametrize("statement", FORBIDDEN_EVERYWHERE)
def test_forbidden_statements_in_handlers(open_store: Any, statement: str) -> None:
    _assert_refused(open_store, statement)


@pytest.mark.evstore_backends("sqlite")
@pytest.mark.parametrize("statement", FORBIDDEN_ON_SQLITE)
def test_forbidden_sqlite_statements_in_handlers(open_store: Any, statement: str) -> None:
    _assert_refused(open_store, statement)


@pytest.mark.evstore_backends("postgresql")
@pytest.mark.parametrize("statement", FORBIDDEN_ON_POSTGRESQL)
def test_forbidden_postgresql_statements_in_handlers(open_store: Any, statement: str) -> None:
    _assert_refused(open_store, statement)


def _assert_refused(open_store: Any, statement: str) -> None:
    projection = Projection(
        "p", tables=["mine"], strict=True, migrations=[Migration("1", "CREATE TABLE mine (x INTEGER)")]
    )

    @projection.on("poke")
    def poke(db: Any, event: Any) -> None:
        db.execute(statement)

    store = open_store(make_plugin(projection, "poke"))
    with pytest.raises(ProjectionFailedError) as caught:
        store.append(NewEvent(workflow_id="a", event_type="poke"))
    assert isinstance(caught.value.__cause__, ProjectionAccessError)
    assert "projection 'p'" in str(caught.value.__cause__)
    assert store.head() == 0


def test_migration_creating_an_undeclared_table_is_a_startup_error(open_store: Any) -> None:
    projection = Projection("p", tables=["mine"], migrations=[
        Migration("1", "CREATE TABLE mine (x INTEGER); CREATE TABLE not_mine (y INTEGER);")
    ])
    with pytest.raises(MigrationError, match="changing table 'not_mine'") as caught:
        open_store(make_plugin(projection))
    assert "remove it from the plugins=[...] passed to the store" in str(caught.value)
    tables = open_store().reader.table_names()  # all-or-nothing: 'mine' was not kept either
    assert "mine" not in tables and "not_mine" not in tables


def test_declared_table_never_created_is_a_startup_error(open_store: Any) -> None:
    projection = Projection(
        "p", tables=["mine", "forgotten"], migrations=[Migration("1", "CREATE TABLE mine (x INTEGER)")]
    )
    with pytest.raises(ProjectionError, match="forgotten"):
        open_store(make_plugin(projection))


def test_two_projections_claiming_one_table(open_store: Any) -> None:
    clash = Projection("other", tables=["balances"], migrations=[])
    with pytest.raises(ProjectionConflictError, match="table 'balances' is claimed by"):
        open_store(LedgerPlugin(), make_plugin(clash))


def test_callable_migration_and_new_migration_on_existing_store(open_store: Any) -> None:
    def create(db: Any) -> None:
        db.execute("CREATE TABLE t (x INTEGER)")

    first = Projection("p", tables=["t"], migrations=[Migration("1", create)])
    open_store(make_plugin(first)).close()
    second = Projection("p", tables=["t"], migrations=[
        Migration("1", create), Migration("2", "CREATE INDEX t_x ON t (x)")
    ])
    store = open_store(make_plugin(second))
    assert [o[1] for o in store.reader.schema_objects() if o[0] == "index" and o[2] == "t"] == ["t_x"]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"name": "has space"}, "identifier"),
        ({"name": "p", "version": 0}, "version"),
        ({"name": "p", "tables": ["events"]}, "belong to the kernel"),
        ({"name": "p", "tables": ["evstore_x"]}, "belong to the kernel"),
        ({"name": "p", "tables": ["bad-name"]}, "not an identifier"),
        ({"name": "p", "migrations": [Migration("1", ""), Migration("1", "")]}, "duplicate migration"),
    ],
)
def test_bad_projection_declarations(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ProjectionError, match=match):
        Projection(**kwargs)


def test_readers_cannot_write(store: EventStore) -> None:
    with pytest.raises(ProjectionAccessError):
        store.reader.execute("DELETE FROM balances")


def test_swallowed_failure_cannot_commit(open_store: Any) -> None:
    plugin = LedgerPlugin(strict=True)
    plugin.fail_on.add(13)
    store = open_store(plugin)
    with pytest.raises(TransactionError, match="rolled back"), store.transaction() as tx:
        tx.append(deposit("a", 1))
        try:
            tx.append(deposit("a", 13))
        except ProjectionFailedError:
            pass  # the caller ignores the failure and leaves the block normally
    assert store.head() == 0


def test_readers_may_introspect_the_schema(store: EventStore) -> None:
    assert store.reader.column_names("balances") == ["account", "amount", "last_position", "updated_at"]
    assert {"balances", "events", "evstore_projections"} <= set(store.reader.table_names())
    assert ("table", "balances", "balances") in [o[:3] for o in store.reader.schema_objects()]


@pytest.mark.evstore_backends("sqlite")
def test_sqlite_readers_may_read_pragmas_but_not_set_them(store: EventStore) -> None:
    columns = [row[1] for row in store.reader.fetchall("PRAGMA table_info(balances)")]
    assert columns == ["account", "amount", "last_position", "updated_at"]
    with pytest.raises(ProjectionAccessError, match="setting PRAGMA"):
        store.reader.execute("PRAGMA journal_mode = DELETE")


def test_has_projection(store: EventStore) -> None:
    assert store.has_projection("balances") and not store.has_projection("nope")


def test_rebuild_and_catch_up_report_progress(store: EventStore) -> None:
    store.append_many([deposit(f"acct-{n % 7}", n) for n in range(1, 4501)])
    seen: list[int] = []
    assert store.rebuild(progress=seen.append) == 4500
    assert seen == [2000, 4000, 4500]  # after each replayed batch, the last one included


def test_snapshot_reads_are_consistent(store: EventStore, open_store: Any) -> None:
    store.append(deposit("a", 1))
    other = open_store(LedgerPlugin())
    with store.snapshot() as reader:
        assert store.head() == 1
        other.append(deposit("a", 2))  # another connection commits meanwhile
        assert store.head() == 1 and len(store.read_all()) == 1
        assert reader.fetchvalue("SELECT amount FROM balances") == 1
    assert store.head() == 2


def test_transaction_exposes_its_connection(store: EventStore) -> None:
    with pytest.raises(RuntimeError), store.transaction() as tx:
        tx.append(deposit("a", 1))
        assert tx.connection.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 1
        raise RuntimeError
    assert store.head() == 0


def test_failure_in_a_rolled_back_transaction_is_not_reported(
    store: EventStore, ledger: LedgerPlugin, caplog: pytest.LogCaptureFixture
) -> None:
    ledger.fail_on.add(13)
    with caplog.at_level(logging.ERROR, logger="evstore"), pytest.raises(RuntimeError), store.transaction() as tx:
        tx.append(deposit("a", 13))
        raise RuntimeError("the caller gives up")
    assert "marked failing" not in caplog.text
    assert status_of(store).status == "ok" and store.head() == 0


def test_sqlite_column_types_keep_their_range_on_every_backend(open_store: Any) -> None:
    """INTEGER is 64-bit and REAL an 8-byte float in SQLite; a migration written with
    them must hold the same values on PostgreSQL (where INTEGER and REAL are 4 bytes
    unless the kernel maps them), or a projection fails there on input SQLite took."""
    projection = Projection("wide", tables=["wide"], migrations=[
        Migration("1", "CREATE TABLE wide (n INTEGER PRIMARY KEY, big INTEGER NOT NULL, tiny REAL NOT NULL)")
    ])

    @projection.on("wide_recorded")
    def recorded(db: Any, event: Any) -> None:
        db.execute("INSERT INTO wide VALUES (?, ?, ?)", (event.id, event.payload["big"], event.payload["tiny"]))
        db.execute("UPDATE wide SET tiny = tiny + ? WHERE n = ?", (event.payload["tiny"], event.id))

    store = open_store(make_plugin(projection), permissive=True)
    store.append(NewEvent(workflow_id="w", event_type="wide_recorded", payload={"big": 2**62, "tiny": 1e-300}))
    assert store.reader.fetchall("SELECT big, tiny FROM wide") == [(2**62, 2e-300)]
    assert status_of(store, "wide").status == "ok"


def test_a_projection_writing_values_into_its_sql_text_keeps_the_caches_bounded(open_store: Any) -> None:
    from evstore._backend import StatementCache

    literal = Projection(
        "literal", tables=["seen"], migrations=[Migration("1", "CREATE TABLE seen (n INTEGER)")],
    )

    @literal.on("poke")
    def poke(db: Any, event: Any) -> None:
        # A new statement text per event, as an IN list of ids or a formatted value makes.
        db.execute(f"INSERT INTO seen (n) VALUES ({event.payload['n']})")

    store = open_store(make_plugin(literal, "poke"))
    count = StatementCache.LIMIT + 50
    store.append_many([NewEvent(workflow_id="a", event_type="poke", payload={"n": n}) for n in range(count)])
    assert store.reader.fetchvalue("SELECT COUNT(*) FROM seen") == count
    scope = store._local.state.scopes.projection_scopes["literal"]
    # The texts stay checked (the rows are right) but are not all remembered.
    assert 0 < len(scope.cache) <= StatementCache.LIMIT
    # And a refusal is still a refusal after the cache started over.
    store.append(NewEvent(workflow_id="a", event_type="poke", payload={"n": "1); DELETE FROM events; --"}))
    assert status_of(store, "literal").status == "failing"
    assert store.head() == count + 1


def test_in_list_keeps_a_few_statement_texts_and_refuses_an_empty_list() -> None:
    from evstore import in_list

    assert in_list(["a", "b", "c"]) == ("(?, ?, ?, ?, ?, ?, ?, ?)", ["a", "b", "c", "c", "c", "c", "c", "c"])
    assert {in_list(list(range(n)))[0].count("?") for n in range(1, 300)} == {8, 16, 32, 64, 128, 256, 512}
    with pytest.raises(ValueError, match="at least one value"):
        in_list([])
