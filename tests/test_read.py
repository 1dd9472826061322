"""Reading a workflow and the global log."""

from __future__ import annotations

import pytest

from evstore import EventStore, InvalidArgumentError, NewEvent

from kernel_support import deposit


@pytest.fixture
def filled(store: EventStore) -> EventStore:
    for n in range(1, 11):
        store.append(deposit("a" if n % 2 else "b", n))
    store.append(NewEvent(workflow_id="a", event_type="account_opened"))
    return store


def test_read_forwards_backwards_from_version_and_limit(filled: EventStore) -> None:
    assert [e.version for e in filled.read("a")] == [1, 2, 3, 4, 5, 6]
    assert [e.version for e in filled.read("a", from_version=3)] == [3, 4, 5, 6]
    assert [e.version for e in filled.read("a", backwards=True)] == [6, 5, 4, 3, 2, 1]
    assert [e.version for e in filled.read("a", backwards=True, from_version=4, limit=2)] == [4, 3]
    assert [e.version for e in filled.read("a", limit=2)] == [1, 2]
    assert filled.read("nobody") == []


def test_read_by_types(filled: EventStore) -> None:
    assert [e.event_type for e in filled.read("a", types=["account_opened"])] == ["account_opened"]
    assert len(filled.read("a", types="deposited")) == 5


def test_read_all_pages_through_the_log(filled: EventStore) -> None:
    assert [e.id for e in filled.read_all(after=8)] == [9, 10, 11]
    assert [e.id for e in filled.read_all(after=2, limit=3)] == [3, 4, 5]
    assert [e.id for e in filled.read_all(types=["account_opened"])] == [11]
    assert [e.id for e in filled.iter_all(batch_size=4)] == list(range(1, 12))
    assert [e.id for e in filled.iter_all(after=9, batch_size=1)] == [10, 11]


def test_recorded_event_envelope(filled: EventStore) -> None:
    event = filled.read_all(limit=1)[0]
    data = event.to_dict()
    assert data["payload"] == {"amount": 1} and data["workflow_id"] == "a"
    assert set(data) == {
        "id", "workflow_id", "event_type", "role", "step_id", "component_id", "status",
        "payload", "timestamp", "version", "event_id", "metadata",
    }
    assert event.position == event.id == 1
    assert event == filled.read("a", limit=1)[0]


def test_unknown_event_types_read_fine(open_store, ledger, db_path) -> None:  # type: ignore[no-untyped-def]
    permissive = open_store(permissive=True)
    permissive.append(NewEvent(workflow_id="x", event_type="from_a_newer_plugin", payload={"k": 1}))
    permissive.close()
    strict = open_store(ledger)
    assert strict.read("x")[0].payload == {"k": 1}


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda s: s.read(""), "workflow_id"),
        (lambda s: s.read(5), "workflow_id"),
        (lambda s: s.read("a", from_version=-1), "from_version"),
        (lambda s: s.read("a", from_version=1.5), "from_version"),
        (lambda s: s.read("a", limit=-1), "limit"),
        (lambda s: s.read("a", types=[]), "types"),
        (lambda s: s.read_all(after=-3), "after"),
        (lambda s: s.read_all(after="1"), "after"),
        (lambda s: s.read_all(limit=True), "limit"),
        (lambda s: list(s.iter_all(batch_size=0)), "batch_size"),
        (lambda s: s.version(None), "workflow_id"),
    ],
)
def test_read_arguments_are_checked(filled: EventStore, call, match: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidArgumentError, match=match):
        call(filled)
