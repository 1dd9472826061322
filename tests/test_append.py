"""Appending: positions, versions, expected versions, idempotent retries, transactions."""

from __future__ import annotations

import uuid

import pytest

from evstore import (
    ANY,
    EXISTS,
    NO_STREAM,
    ConcurrencyError,
    DuplicateEventError,
    EventStore,
    InvalidArgumentError,
    InvalidEventError,
    NewEvent,
    RecordedEvent,
    TransactionError,
    hookimpl,
)

from kernel_support import LedgerPlugin, balances, database_errors, deposit, raw_connection


def test_positions_are_global_and_versions_per_workflow(store: EventStore) -> None:
    positions = [store.append(deposit(account, 1)) for account in ["a", "b", "a", "a", "b"]]
    assert positions == [1, 2, 3, 4, 5]
    assert [e.version for e in store.read("a")] == [1, 2, 3]
    assert [e.version for e in store.read("b")] == [1, 2]
    assert store.version("a") == 3 and store.version("nobody") == 0
    assert store.head() == 5


def test_append_many_is_atomic_and_returns_positions(store: EventStore) -> None:
    positions = store.append_many([deposit("a", n) for n in range(1, 4)])
    assert positions == [1, 2, 3]
    with pytest.raises(InvalidEventError):
        store.append_many([deposit("a", 1), NewEvent(workflow_id="", event_type="deposited")])
    assert store.head() == 3


@pytest.mark.parametrize(
    ("expected", "current_events", "ok"),
    [
        (ANY, 0, True),
        (ANY, 2, True),
        (NO_STREAM, 0, True),
        (NO_STREAM, 1, False),
        (EXISTS, 0, False),
        (EXISTS, 1, True),
        (0, 0, True),
        (2, 2, True),
        (1, 2, False),
        (3, 2, False),
    ],
)
def test_expected_version(store: EventStore, expected: object, current_events: int, ok: bool) -> None:
    for _ in range(current_events):
        store.append(deposit("a", 1))
    if ok:
        store.append(deposit("a", 5), expected_version=expected)  # type: ignore[arg-type]
        assert store.version("a") == current_events + 1
    else:
        with pytest.raises(ConcurrencyError) as caught:
            store.append(deposit("a", 5), expected_version=expected)  # type: ignore[arg-type]
        error = caught.value
        assert (error.workflow_id, error.expected, error.actual) == ("a", expected, current_events)
        assert "'a'" in str(error) and f"version {current_events}" in str(error)
        assert store.version("a") == current_events


@pytest.mark.parametrize("bad", [-1, 1.5, "3", True, None])
def test_expected_version_must_be_a_version(store: EventStore, bad: object) -> None:
    with pytest.raises(InvalidArgumentError, match="expected_version"):
        store.append(deposit("a", 1), expected_version=bad)  # type: ignore[arg-type]
    assert store.head() == 0


def test_expected_version_needs_one_workflow(store: EventStore) -> None:
    with pytest.raises(InvalidArgumentError, match="one workflow"):
        store.append_many([deposit("a", 1), deposit("b", 1)], expected_version=NO_STREAM)


def test_retried_append_returns_the_original_position(store: EventStore) -> None:
    event = deposit("a", 10)
    first = store.append(event)
    store.append(deposit("a", 1))
    assert store.append(event) == first
    # A retry that carries the expected version of its first attempt is still a retry.
    retried = deposit("b", 3)
    assert store.append(retried, expected_version=NO_STREAM) == 3
    assert store.append(retried, expected_version=NO_STREAM) == 3
    batch = [deposit("c", n) for n in (1, 2)]
    assert store.append_many(batch) == store.append_many(batch) == [4, 5]
    assert store.head() == 5
    assert balances(store)[0][1] == 11  # 10 once, not twice, plus 1


def test_same_event_id_with_other_content_is_refused(store: EventStore) -> None:
    event_id = uuid.uuid4()
    store.append(deposit("a", 1, event_id=event_id))
    with pytest.raises(DuplicateEventError) as caught:
        store.append(deposit("a", 2, event_id=event_id))
    assert caught.value.differences == ["payload"]
    assert str(event_id) in str(caught.value)
    assert store.head() == 1


def test_event_id_is_accepted_as_string_and_normalised(store: EventStore) -> None:
    event_id = uuid.uuid4()
    store.append(deposit("a", 1, event_id=str(event_id).upper()))
    assert store.read("a")[0].event_id == str(event_id)


def test_large_batch_gets_the_next_positions_and_versions(store: EventStore) -> None:
    # Large enough for PostgreSQL's COPY path (64 events and more).
    store.append(deposit("a", 1))
    batch = [deposit("ab"[n % 2], n) for n in range(200)]
    positions = store.append_many(batch)
    assert positions == list(range(2, 202))
    assert [e.version for e in store.read("a")] == list(range(1, 102))
    assert [e.payload for e in store.read("b")] == [e.payload for e in batch[1::2]]
    assert store.append_many(batch) == positions  # a retried batch: the same positions
    assert store.head() == 201


def test_batch_with_repeated_event_id_is_refused(store: EventStore) -> None:
    event_id = uuid.uuid4()
    with pytest.raises(InvalidEventError, match="same event_id"):
        store.append_many([deposit("a", 1, event_id=event_id), deposit("a", 2, event_id=event_id)])
    assert store.head() == 0


def test_partly_stored_batch_is_refused(store: EventStore) -> None:
    stored = deposit("a", 1)
    store.append(stored)
    with pytest.raises(InvalidEventError, match="already stored"):
        store.append_many([stored, deposit("a", 2)])
    assert store.head() == 1


def test_transaction_commits_all_or_nothing(store: EventStore) -> None:
    with store.transaction() as tx:
        tx.append(deposit("a", 1))
        tx.append(deposit("b", 2))
        store.append(deposit("a", 3))  # joins the open transaction on this thread
        assert [e.version for e in tx_read(store, "a")] == [1, 2]
    assert store.head() == 3
    with pytest.raises(RuntimeError), store.transaction() as tx:
        tx.append(deposit("a", 4))
        tx.append(deposit("c", 5))
        raise RuntimeError("caller changed its mind")
    assert store.head() == 3
    assert [row[0] for row in balances(store)] == ["a", "b"]


def tx_read(store: EventStore, workflow_id: str) -> list[object]:
    return list(store.read(workflow_id))


def test_concurrency_error_inside_a_transaction_leaves_it_usable(store: EventStore) -> None:
    store.append(deposit("a", 1))
    with store.transaction() as tx:
        with pytest.raises(ConcurrencyError):
            tx.append(deposit("a", 2), expected_version=NO_STREAM)
        tx.append(deposit("a", 3), expected_version=1)
    assert [e.payload["amount"] for e in store.read("a")] == [1, 3]


def test_appends_that_fail_inside_a_transaction_leave_the_earlier_ones(store: EventStore) -> None:
    # On PostgreSQL a single event whose version the server fills in is inserted without
    # a savepoint: a retried or reused event id must still leave the transaction usable.
    # Batches are not probed for stored ids first there: their insert is refused whole.
    stored = deposit("a", 1)
    small, large = [deposit("c", 1) for _ in range(2)], [deposit("c", 1) for _ in range(70)]  # COPY from 64
    store.append(stored)
    store.append_many(small)
    store.append_many(large)
    with store.transaction() as tx:
        tx.append(deposit("a", 2))
        assert tx.append(stored) == 1  # a retry: the original position, nothing added
        assert tx.append_many(small) == [2, 3]
        assert tx.append_many(large) == list(range(4, 74))
        with pytest.raises(DuplicateEventError):
            tx.append(deposit("b", 99, event_id=stored.event_id))
        with pytest.raises(InvalidEventError, match="already stored"):
            tx.append_many([deposit("b", 99), large[0]])
        with pytest.raises(InvalidEventError, match="already stored"):
            tx.append_many([*(deposit("b", 99) for _ in range(70)), small[0]])
        with pytest.raises(ConcurrencyError):
            tx.append(deposit("b", 99), expected_version=EXISTS)
        tx.append(deposit("b", 3))
    assert [(e.id, e.workflow_id, e.version) for e in store.read_all()][-2:] == [(74, "a", 2), (75, "b", 1)]
    assert [row[:2] for row in balances(store)] == [("a", 3), ("b", 3), ("c", 72)]


def test_a_stale_cached_version_is_checked_against_the_stored_one(open_store) -> None:  # type: ignore[no-untyped-def]
    """Raw SQL on tx.connection appends to a workflow the transaction has a version of:
    an append expecting the cached version is refused (the insert's refusal is undone,
    not the transaction), one expecting the stored version goes in."""
    store = open_store(permissive=True)
    event = lambda: NewEvent(workflow_id="a", event_type="x")  # noqa: E731
    with store.transaction() as tx:
        tx.append(event())
        tx.connection.execute("INSERT INTO events (workflow_id, event_type) VALUES ('a', 'raw')")
        with pytest.raises(ConcurrencyError) as caught:
            tx.append(event(), expected_version=1)
        assert "2" in str(caught.value)
        assert tx.append(event(), expected_version=2) == 3
    assert [(e.version, e.event_type) for e in store.read("a")] == [(1, "x"), (2, "raw"), (3, "x")]


def test_a_transaction_the_server_aborted_is_not_reported_committed(open_store) -> None:  # type: ignore[no-untyped-def]
    """PostgreSQL refuses the rest of a transaction once a statement in it failed, and
    answers COMMIT with a rollback: the store must say so rather than return normally."""
    store = open_store(permissive=True)
    if store.dialect != "postgresql":
        pytest.skip("SQLite keeps a transaction usable after a failed statement")
    event = NewEvent(workflow_id="a", event_type="x")
    with pytest.raises(TransactionError, match="rolled back, not committed"), store.transaction() as tx:
        tx.append(event)
        with pytest.raises(database_errors()):
            tx.connection.execute("INSERT INTO no_such_table VALUES (1)")
        with pytest.raises(TransactionError, match="failed on the server"):
            tx.append(NewEvent(workflow_id="a", event_type="x"))
        for size in (2, 70):  # inserted in a savepoint, by COPY from 64
            with pytest.raises(TransactionError, match="failed on the server"):
                tx.append_many([NewEvent(workflow_id="a", event_type="x") for _ in range(size)])
    assert store.head() == 0
    assert store.append(event) == 1  # the connection is usable again


def test_versions_within_a_transaction_see_earlier_appends(store: EventStore) -> None:
    with store.transaction() as tx:
        tx.append(deposit("a", 1), expected_version=NO_STREAM)
        tx.append(deposit("a", 2), expected_version=1)
        tx.append_many([deposit("a", 3), deposit("a", 4)], expected_version=2)
    assert [e.version for e in store.read("a")] == [1, 2, 3, 4]


def test_nested_transaction_is_a_savepoint(store: EventStore) -> None:
    with store.transaction() as outer:
        outer.append(deposit("a", 1))
        with pytest.raises(ValueError), store.transaction() as inner:
            inner.append(deposit("a", 100))
            raise ValueError("inner block fails")
        outer.append(deposit("a", 2))
    events = store.read("a")
    assert [(e.version, e.payload["amount"]) for e in events] == [(1, 1), (2, 2)]
    assert [e.id for e in events] == [1, 2]
    assert balances(store)[0][1] == 3
    # The next transaction appends with the versions this one left (rolled-back block
    # included): still the next version.
    assert store.append(deposit("a", 4)) == 3 and store.read("a")[-1].version == 3


def test_transaction_cannot_be_used_after_it_ended(store: EventStore) -> None:
    with store.transaction() as tx:
        tx.append(deposit("a", 1))
    with pytest.raises(TransactionError, match="ended"):
        tx.append(deposit("a", 2))


def test_timestamps_are_aware_utc_with_microseconds(store: EventStore) -> None:
    store.append(deposit("a", 1))
    event = store.read("a")[0]
    assert event.timestamp.tzinfo is not None and event.timestamp.utcoffset().total_seconds() == 0
    assert event.timestamp_text.endswith("+00:00") and "." in event.timestamp_text


def test_default_timestamps_are_the_clock_in_the_one_stored_format(monkeypatch: pytest.MonkeyPatch) -> None:
    # utc_now formats the date and time of day once a second: a new second, the same
    # second again and one going back must each read as format_timestamp writes them.
    from datetime import UTC, datetime

    from evstore import _json

    for moment in ("2026-12-01T23:59:59.999999", "2026-12-02T00:00:00.000001", "2026-12-02T00:00:00.5",
                   "0999-01-01T00:00:00.000000", "2026-12-01T23:59:59.000000"):
        aware = datetime.fromisoformat(moment).replace(tzinfo=UTC)
        nanos = int(aware.timestamp()) * 1_000_000_000 + aware.microsecond * 1000
        monkeypatch.setattr(_json.time, "time_ns", lambda nanos=nanos: nanos)
        assert _json.utc_now() == _json.format_timestamp(aware)
    monkeypatch.undo()
    before = datetime.now(UTC)
    now = _json.parse_timestamp(_json.utc_now())
    assert before <= now <= datetime.now(UTC)


def test_metadata_round_trips(store: EventStore) -> None:
    store.append(deposit("a", 1, metadata={"correlation_id": "c-1", "user": "ann"}))
    assert store.read("a")[0].metadata == {"correlation_id": "c-1", "user": "ann"}


def test_raw_sql_insert_written_for_the_original_still_works(store: EventStore) -> None:
    store.append(deposit("a", 1))
    with raw_connection(store) as conn:
        conn.execute(
            "INSERT INTO events (workflow_id, event_type, payload) VALUES (?, ?, ?)",
            ("a", "deposited", '{"amount": 5}'),
        )
        conn.execute("INSERT INTO events (workflow_id, event_type) VALUES ('b', 'account_opened')")
    raw = store.read("a")[1]
    assert (raw.id, raw.version, raw.payload) == (2, 2, {"amount": 5})
    assert uuid.UUID(raw.event_id).version == 4  # the database's default: random
    assert raw.timestamp.tzinfo is not None and raw.timestamp_text.endswith("+00:00")
    assert store.read("b")[0].version == 1
    # The projection catches up with what raw SQL appended at the next write.
    store.append(deposit("a", 10))
    assert balances(store)[0][1] == 16


def test_events_cannot_be_changed_or_deleted(store: EventStore) -> None:
    store.append(deposit("a", 1))
    for statement in ("UPDATE events SET payload = '{}'", "DELETE FROM events"):
        with pytest.raises(database_errors(), match="append a correcting event"), raw_connection(store) as conn:
            conn.execute(statement)
    assert [e.payload for e in store.read_all()] == [{"amount": 1}]


def test_raw_sql_inside_a_transaction_between_kernel_appends(store: EventStore) -> None:
    """Rows raw SQL inserts on tx.connection are projected in order, and the kernel's
    version cache does not collide with them."""
    with store.transaction() as tx:
        tx.append(deposit("a", 1))
        tx.connection.execute(
            "INSERT INTO events (workflow_id, event_type, payload) VALUES ('a', 'deposited', '{\"amount\": 10}')"
        )
        tx.append(deposit("a", 100))
        tx.append_many([deposit("a", 1000), deposit("b", 1)])
        tx.connection.execute(
            "INSERT INTO events (workflow_id, event_type, payload) VALUES ('b', 'deposited', '{\"amount\": 5}')"
        )
    assert [(e.id, e.version) for e in store.read("a")] == [(1, 1), (2, 2), (3, 3), (4, 4)]
    assert [(r[0], r[1]) for r in balances(store)] == [("a", 1111), ("b", 6)]
    status = store.projection_status()[0]
    assert (status.position, status.lag) == (6, 0)
    before = balances(store)
    store.rebuild()
    assert balances(store) == before


def test_raw_sql_inside_a_transaction_without_projections(open_store) -> None:  # type: ignore[no-untyped-def]
    store = open_store(permissive=True)
    with store.transaction() as tx:
        tx.append_many([NewEvent(workflow_id="a", event_type="x"), NewEvent(workflow_id="a", event_type="x")])
        tx.connection.execute("INSERT INTO events (workflow_id, event_type) VALUES ('a', 'raw')")
        assert tx.append(NewEvent(workflow_id="a", event_type="x"), expected_version=3) == 4
    assert [e.version for e in store.read("a")] == [1, 2, 3, 4]


def test_raw_sql_on_the_connection_in_an_earlier_transaction(open_store, ledger: LedgerPlugin) -> None:  # type: ignore[no-untyped-def]
    """A connection carries workflows' versions from one committed transaction to the
    next; raw SQL on tx.connection appending to a workflow in between makes the carried
    version stale, which costs the next append a lookup, never the append itself (nor a
    second before_append call)."""
    seen: list[int] = []

    class Counter:
        evstore_plugin_name = "counter"

        @hookimpl
        def evstore_before_append(self, store: EventStore, events: object) -> None:
            seen.append(1)

    store = open_store(ledger, Counter())
    raw = "INSERT INTO events (workflow_id, event_type, payload) VALUES ('a', 'deposited', '{\"amount\": 10}')"
    store.append(deposit("a", 1))
    with store.transaction() as tx:
        tx.connection.execute(raw)
    store.append(deposit("a", 100))
    with store.transaction() as tx:
        tx.connection.execute(raw)
    assert store.append(deposit("a", 1000), expected_version=4) == 5
    with store.transaction() as tx:
        tx.connection.execute(raw)
    with pytest.raises(ConcurrencyError):
        store.append(deposit("a", 1), expected_version=5)
    assert [(e.id, e.version) for e in store.read("a")] == [(n, n) for n in range(1, 7)]
    assert len(seen) == 4
    assert balances(store)[0][1] == 1131


def test_raw_only_transaction_is_projected_at_commit(store: EventStore) -> None:
    with store.transaction() as tx:
        tx.connection.execute(
            "INSERT INTO events (workflow_id, event_type, payload) VALUES ('a', 'deposited', '{\"amount\": 7}')"
        )
    assert balances(store)[0][1] == 7 and store.projection_status()[0].lag == 0


def test_appends_go_on_after_the_server_forgets_prepared_statements(open_store) -> None:  # type: ignore[no-untyped-def]
    """PostgreSQL: prepared statements can vanish under the store (psycopg sends
    DEALLOCATE ALL after a ROLLBACK; raw SQL may too); appends must not fail for it."""
    store = open_store(permissive=True)
    if store.dialect != "postgresql":
        pytest.skip("prepared statements are PostgreSQL's")
    event = lambda n: NewEvent(workflow_id="a", event_type="x", payload={"n": n})  # noqa: E731
    for n in (1, 2):
        store.append(event(n))
    with store.transaction() as tx:
        tx.append(event(3))
        tx.connection.execute("DEALLOCATE ALL")
        tx.append(event(4))  # its INSERT was prepared
    store.append(event(5))  # prepares both statements again
    with store.transaction() as tx:
        tx.connection.execute("DEALLOCATE ALL")
    store.append(event(6))  # its version lookup, the transaction's first statement, was prepared
    assert [(e.id, e.version, e.payload["n"]) for e in store.read("a")] == [(n, n, n) for n in range(1, 7)]


def test_appended_events_carry_their_stored_versions(open_store) -> None:  # type: ignore[no-untyped-def]
    # Without an expected version PostgreSQL fills in versions while inserting: what
    # hooks and projections are handed must still be the versions the log holds.
    seen: list[tuple[str, int]] = []

    class Listener:
        evstore_plugin_name = "listener"

        @hookimpl
        def evstore_after_commit(self, store: EventStore, events: list[RecordedEvent]) -> None:
            seen.extend((e.workflow_id, e.version) for e in events)

    store = open_store(LedgerPlugin(), Listener())
    store.append(deposit("a", 1))
    with store.transaction() as tx:
        tx.append(deposit("a", 2))
        tx.append(deposit("b", 1))
        tx.append_many([deposit("ab"[n % 2], n) for n in range(5)])
        tx.append_many([deposit("abc"[n % 3], n) for n in range(90)])  # PostgreSQL's COPY path
        tx.append(deposit("c", 1), expected_version=30)
    stored = [(e.workflow_id, e.version) for w in "abc" for e in store.read(w)]
    assert sorted(seen) == sorted(stored)
    assert [v for w, v in seen if w == "c"] == list(range(1, 32))
