"""Bad input gets a typed error that says what was wrong, and changes nothing."""

from __future__ import annotations

import sqlite3
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from evstore import (
    EventStore,
    EvstoreError,
    InvalidArgumentError,
    InvalidEventError,
    NewEvent,
    PayloadSerializationError,
    PayloadTooLargeError,
    PayloadValidationError,
    SchemaVersionError,
    StoreClosedError,
    StoreOpenError,
    UnknownEventTypeError,
)

from kernel_support import LedgerPlugin, contents, deposit


def event(**fields: Any) -> NewEvent:
    fields.setdefault("workflow_id", "a")
    fields.setdefault("event_type", "deposited")
    fields.setdefault("payload", {"amount": 1})
    return NewEvent(**fields)


class Opaque:
    pass


CYCLE: dict[str, Any] = {}
CYCLE["self"] = CYCLE

BAD_EVENTS = [
    (event(event_type="account_opened", payload=CYCLE), PayloadSerializationError, "contains itself"),
    (event(workflow_id=""), InvalidEventError, "workflow_id"),
    (event(workflow_id="   "), InvalidEventError, "workflow_id"),
    (event(workflow_id=7), InvalidEventError, "workflow_id must be a string"),
    (event(workflow_id="x" * 600), InvalidEventError, "at most 512"),
    (event(workflow_id="a\x00b"), InvalidEventError, "NUL"),
    (event(event_type=""), InvalidEventError, "event_type"),
    (event(event_type=None), InvalidEventError, "event_type"),
    (event(role=3), InvalidEventError, "role must be a string"),
    (event(step_id=["s"]), InvalidEventError, "step_id must be a string"),
    (event(payload=[1, 2]), InvalidEventError, "payload"),
    (event(payload={"amount": "lots"}), PayloadValidationError, "amount"),
    (event(payload={}), PayloadValidationError, "amount"),
    (event(event_type="account_opened", payload={"tags": {"a", "b"}}), PayloadSerializationError,
     "payload.tags"),
    (event(event_type="account_opened", payload={"deep": [{"x": Opaque()}]}), PayloadSerializationError,
     r"payload.deep\[0\].x"),
    (event(event_type="account_opened", payload={"n": float("nan")}), PayloadSerializationError, "payload.n"),
    (event(metadata={"who": object()}), PayloadSerializationError, "metadata.who"),
    # PostgreSQL's text cannot hold NUL: refused on both backends, so a store can move.
    (event(event_type="account_opened", payload={"notes": ["ok", "a\x00b"]}), PayloadSerializationError,
     r"payload.notes\[1\] has a NUL"),
    (event(metadata={"k\x00": 1}), PayloadSerializationError, "NUL"),
    (event(metadata="text"), InvalidEventError, "metadata must be a dict"),
    (event(event_id="not-a-uuid"), InvalidEventError, "event_id must be a UUID"),
    (event(event_id=12), InvalidEventError, "event_id must be a UUID"),
    (event(timestamp=datetime(2026, 1, 1)), InvalidEventError, "no time zone"),
    (event(timestamp="2026-01-01"), InvalidEventError, "timestamp must be a datetime"),
    (event(event_type="account_opened", payload={"blob": "x" * 2_000_000}), PayloadTooLargeError, "limit"),
    ({"workflow_id": "a", "event_type": "deposited"}, InvalidEventError, "NewEvent"),
]


@pytest.mark.parametrize(("bad", "error", "match"), BAD_EVENTS)
def test_bad_events_are_refused_and_nothing_is_written(
    store: EventStore, bad: Any, error: type[Exception], match: str
) -> None:
    store.append(deposit("a", 1))
    before = contents(store), store.path.read_bytes() if store.path else None
    with pytest.raises(error, match=match):
        store.append(bad)
    with pytest.raises(error, match=match):
        store.append_many([deposit("a", 2), bad])
    with pytest.raises(error, match=match), store.transaction() as tx:
        tx.append(deposit("a", 3))
        tx.append(bad)
    assert store.head() == 1
    assert (contents(store), store.path.read_bytes() if store.path else None) == before


def test_unknown_type_lists_close_matches(store: EventStore) -> None:
    with pytest.raises(UnknownEventTypeError) as caught:
        store.append(event(event_type="deposit"))
    assert caught.value.close_matches == ["deposited"]
    assert "permissive=True" in str(caught.value)


def test_permissive_store_accepts_undeclared_types(open_store) -> None:  # type: ignore[no-untyped-def]
    store = open_store(permissive=True)
    assert store.append(event(event_type="anything_at_all", payload={"x": 1})) == 1


def test_permissive_store_keeps_events_its_declarations_would_refuse(open_store, ledger) -> None:  # type: ignore[no-untyped-def]
    strict = open_store(ledger)
    odd = event(payload={"amount": "not a number", "extra": [1]})
    with pytest.raises(PayloadValidationError):
        strict.append(odd)
    strict.close()
    store = open_store(ledger, permissive=True)
    position = store.append(odd)
    assert store.read_all()[0].payload == {"amount": "not a number", "extra": [1]}
    assert position == 1
    # What the envelope itself forbids stays refused, permissive or not.
    with pytest.raises(PayloadSerializationError):
        store.append(event(payload={"amount": Opaque()}))
    with pytest.raises(InvalidEventError):
        store.append(event(workflow_id=7))
    assert store.head() == 1


def test_supported_payload_values_are_encoded(store: EventStore) -> None:
    from pydantic import BaseModel

    class Inner(BaseModel):
        n: int

    moment = datetime.fromisoformat("2026-11-26T07:00:00+02:00")
    ident = uuid.uuid4()
    store.append(
        event(
            event_type="account_opened",
            payload={"at": moment, "id": ident, "path": Path("/tmp/x"), "inner": Inner(n=2),
                     "nested": {"list": [1, (2, 3)]}},
        )
    )
    assert store.read("a")[0].payload == {
        "at": "2026-11-26T05:00:00.000000+00:00",
        "id": str(ident),
        "path": "/tmp/x",
        "inner": {"n": 2},
        "nested": {"list": [1, [2, 3]]},
    }


def test_values_inside_a_pydantic_model_follow_the_same_rules(store: EventStore) -> None:
    """A model in a payload is encoded as its JSON dump, so what is refused outside a
    model is refused inside one too, named by its path (a NaN used to become null)."""
    from pydantic import BaseModel

    class Inner(BaseModel):
        x: float
        note: str = ""

    for inner, problem in [(Inner(x=float("nan")), "payload.inner.x"), (Inner(x=1, note="a\x00"), "NUL")]:
        with pytest.raises(PayloadSerializationError, match=problem):
            store.append(event(event_type="account_opened", payload={"inner": inner}))
    assert store.head() == 0


def test_payload_may_be_the_declared_model(store: EventStore) -> None:
    from kernel_support import Deposit

    store.append(NewEvent(workflow_id="a", event_type="deposited", payload=Deposit(amount=4)))
    assert store.read("a")[0].payload == {"amount": 4}


# --- opening --------------------------------------------------------------------------


def test_path_that_is_a_directory(tmp_path: Path) -> None:
    with pytest.raises(StoreOpenError, match="is a directory"):
        EventStore.open(tmp_path, autoload=False)


def test_file_that_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("these are my notes, not a database\n" * 100)
    before = path.read_bytes()
    with pytest.raises(StoreOpenError, match="not a SQLite database"):
        EventStore.open(path, autoload=False)
    assert path.read_bytes() == before


def test_truncated_database(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with EventStore.open(path, autoload=False, permissive=True) as store:
        store.append_many([event(event_type="x") for _ in range(500)])
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    for suffix in ("-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    with pytest.raises(EvstoreError):
        store = EventStore.open(path, autoload=False, permissive=True)
        store.read_all()


def test_folder_that_cannot_be_created(tmp_path: Path) -> None:
    blocker = tmp_path / "plain-file"
    blocker.write_text("")
    with pytest.raises(StoreOpenError, match="cannot create the folder"):
        EventStore.open(blocker / "sub" / "s.db", autoload=False)


def test_database_from_a_newer_schema(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    EventStore.open(path, autoload=False).close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE evstore_meta SET value = '99' WHERE key = 'schema_version'")
    before = path.read_bytes()
    with pytest.raises(SchemaVersionError, match="newer evstore"):
        EventStore.open(path, autoload=False)
    assert path.read_bytes() == before


def test_foreign_sqlite_database_is_not_taken_over(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, workflow_id TEXT)")
    with pytest.raises(StoreOpenError, match="is not an evstore store") as refused:
        EventStore.open(path, autoload=False)
    # The core names no plugin's importer; it says where to find one and what else to do.
    message = str(refused.value)
    assert "has tables (events)" in message
    assert "`evstore --help`" in message and "choose a new path" in message and "import-seed" not in message


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"durability": "extra"}, "durability"),
        ({"busy_timeout": -1}, "busy_timeout"),
        ({"busy_timeout": "30"}, "busy_timeout"),
        ({"max_payload_bytes": 0}, "max_payload_bytes"),
        ({"max_reactor_depth": 0}, "max_reactor_depth"),
        ({"permissive": "yes"}, "permissive"),
    ],
)
def test_bad_options(tmp_path: Path, options: dict[str, Any], match: str) -> None:
    with pytest.raises(InvalidArgumentError, match=match):
        EventStore.open(tmp_path / "s.db", autoload=False, **options)
    assert not (tmp_path / "s.db").exists()


@pytest.mark.parametrize("path", ["", ":memory:", None, 3])
def test_bad_paths(path: Any) -> None:
    with pytest.raises(InvalidArgumentError, match="path"):
        EventStore.open(path, autoload=False)


def test_closed_store(tmp_path: Path) -> None:
    store = EventStore.open(tmp_path / "s.db", plugins=[LedgerPlugin()], autoload=False)
    store.close()
    with pytest.raises(StoreClosedError):
        store.append(deposit("a", 1))


def test_an_event_type_says_why_it_refuses_an_event() -> None:
    """EventType.refusal: what a strict store would refuse, for code that decides about
    events a permissive store kept (the supervisor's seed import uses it)."""
    from evstore import EventType

    from kernel_support import Deposit

    declared = EventType("deposited", payload=Deposit, requires=("role",))
    assert declared.refusal({"role": "teller"}, {"amount": 3}) is None
    assert "requires role" in (declared.refusal({"role": " "}, {"amount": 3}) or "")
    assert "requires role" in (declared.refusal({}, {"amount": 3}) or "")
    assert "does not match Deposit: amount" in (declared.refusal({"role": "teller"}, {"amount": "x"}) or "")
    assert EventType("noted").refusal({}, {"anything": object()}) is None
