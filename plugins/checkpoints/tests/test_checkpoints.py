"""Handlers, queries and append-time validation of evstore-checkpoints."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from evstore import EventStore, NewEvent, PayloadValidationError
from evstore.testing import Scenario, StoreFactory
from evstore_checkpoints import (
    CHECKPOINT_CREATED,
    CHECKPOINT_RESTORED,
    create_checkpoint,
    get_latest_checkpoint,
    list_checkpoints,
    restore_checkpoint,
)

MOMENT = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def rows(store: EventStore) -> list[tuple[Any, ...]]:
    return store.reader.fetchall("SELECT * FROM checkpoints ORDER BY id")


def created(workflow_id: str = "wf-1", step_id: str | None = "s1", **payload: Any) -> NewEvent:
    timestamp = payload.pop("timestamp", None)
    body = {"git_sha": "abc123", "context": {"k": 1}} | payload
    return NewEvent(
        workflow_id=workflow_id, event_type=CHECKPOINT_CREATED, step_id=step_id,
        payload=body, timestamp=timestamp,
    )


def restored(checkpoint_id: Any, workflow_id: str = "wf-1") -> NewEvent:
    return NewEvent(
        workflow_id=workflow_id, event_type=CHECKPOINT_RESTORED, payload={"checkpoint_id": checkpoint_id}
    )


# --- handlers --------------------------------------------------------------------------


def test_checkpoint_created_inserts_a_row_keyed_by_the_event_position(evstore_store: EventStore) -> None:
    evstore_store.append(restored(99, "other"))
    position = evstore_store.append(created(context={"b": [1, 2], "a": None}, timestamp=MOMENT))
    assert rows(evstore_store) == [
        (position, "wf-1", "s1", "abc123", '{"b":[1,2],"a":null}', "active",
         "2024-05-01T12:00:00.000000+00:00")
    ]
    assert position == 2


def test_checkpoint_created_keeps_an_explicit_status(evstore_store: EventStore) -> None:
    evstore_store.append(created(status="pending"))
    assert rows(evstore_store)[0][5] == "pending"


def test_checkpoint_restored_marks_the_named_checkpoint_restored(evstore_store: EventStore) -> None:
    first = evstore_store.append(created())
    second = evstore_store.append(created())
    evstore_store.append(restored(first))
    assert [(row[0], row[5]) for row in rows(evstore_store)] == [(first, "restored"), (second, "active")]


def test_restoring_an_unknown_checkpoint_changes_nothing_and_keeps_the_projection_healthy(
    evstore_store: EventStore,
) -> None:
    evstore_store.append(created())
    before = rows(evstore_store)
    evstore_store.append(restored(42))
    assert rows(evstore_store) == before
    (status,) = evstore_store.projection_status()
    assert (status.status, status.lag) == ("ok", 0)


def test_a_checkpoint_needs_no_workflows_row(evstore_store: EventStore) -> None:
    # No workflow_started was ever appended, and no workflows table even exists here;
    # the original failed on its foreign key in exactly this case.
    assert "workflows" not in evstore_store.reader.table_names()
    checkpoint_id = create_checkpoint(evstore_store, "never-started", "s1", "deadbeef", {"x": 1})
    latest = get_latest_checkpoint(evstore_store, "never-started")
    assert latest is not None and latest["id"] == checkpoint_id
    evstore_store.rebuild()
    assert get_latest_checkpoint(evstore_store, "never-started") == latest


# --- queries ---------------------------------------------------------------------------


def test_create_checkpoint_returns_its_id_and_get_latest_decodes_it(evstore_store: EventStore) -> None:
    checkpoint_id = create_checkpoint(evstore_store, "wf-1", "s2", "cafe", {"files": ["a.py"], "n": 2})
    assert get_latest_checkpoint(evstore_store, "wf-1") == {
        "id": checkpoint_id,
        "workflow_id": "wf-1",
        "step_id": "s2",
        "git_sha": "cafe",
        "context": {"files": ["a.py"], "n": 2},
        "status": "active",
        "timestamp": evstore_store.read_all()[0].timestamp_text,
    }


def test_latest_checkpoint_is_the_newest_by_position_when_timestamps_tie(evstore_store: EventStore) -> None:
    older = evstore_store.append(created(git_sha="old", timestamp=MOMENT))
    newer = evstore_store.append(created(git_sha="new", timestamp=MOMENT))
    latest = get_latest_checkpoint(evstore_store, "wf-1")
    assert latest is not None
    assert (latest["id"], latest["git_sha"]) == (newer, "new")
    assert older < newer


def test_latest_checkpoint_follows_position_even_against_an_earlier_timestamp(evstore_store: EventStore) -> None:
    evstore_store.append(created(git_sha="first", timestamp=MOMENT))
    evstore_store.append(created(git_sha="second", timestamp=MOMENT.replace(year=2020)))
    latest = get_latest_checkpoint(evstore_store, "wf-1")
    assert latest is not None and latest["git_sha"] == "second"


def test_latest_checkpoint_is_per_workflow(evstore_store: EventStore) -> None:
    mine = create_checkpoint(evstore_store, "wf-1", "s1", "a", {})
    create_checkpoint(evstore_store, "wf-2", "s1", "b", {})
    latest = get_latest_checkpoint(evstore_store, "wf-1")
    assert latest is not None and latest["id"] == mine
    assert get_latest_checkpoint(evstore_store, "wf-3") is None


def test_list_checkpoints_is_oldest_first_and_per_workflow(evstore_store: EventStore) -> None:
    first = create_checkpoint(evstore_store, "wf-1", "s1", "a", {"i": 1})
    create_checkpoint(evstore_store, "wf-2", "s1", "b", {})
    second = create_checkpoint(evstore_store, "wf-1", "s2", "c", {"i": 2}, status="manual")
    listed = list_checkpoints(evstore_store, "wf-1")
    assert [(c["id"], c["step_id"], c["status"], c["context"]) for c in listed] == [
        (first, "s1", "active", {"i": 1}),
        (second, "s2", "manual", {"i": 2}),
    ]
    assert list_checkpoints(evstore_store, "nobody") == []


def test_restore_checkpoint_appends_to_the_checkpoints_workflow(evstore_store: EventStore) -> None:
    checkpoint_id = create_checkpoint(evstore_store, "wf-1", "s7", "a", {})
    position = restore_checkpoint(evstore_store, checkpoint_id)
    event = evstore_store.read_all(after=position - 1)[0]
    assert (event.event_type, event.workflow_id, event.step_id, event.payload) == (
        CHECKPOINT_RESTORED, "wf-1", "s7", {"checkpoint_id": checkpoint_id}
    )
    latest = get_latest_checkpoint(evstore_store, "wf-1")
    assert latest is not None and latest["status"] == "restored"


def test_restore_checkpoint_works_inside_a_transaction(evstore_store: EventStore) -> None:
    with evstore_store.transaction():
        checkpoint_id = create_checkpoint(evstore_store, "wf-1", "s1", "a", {})
        restore_checkpoint(evstore_store, checkpoint_id)
    assert [c["status"] for c in list_checkpoints(evstore_store, "wf-1")] == ["restored"]


@pytest.mark.parametrize("unknown", [0, -1, 2, 3, 10_000])
def test_restore_checkpoint_refuses_an_unknown_id_and_writes_nothing(evstore_store: EventStore, unknown: int) -> None:
    create_checkpoint(evstore_store, "wf-1", "s1", "a", {})
    evstore_store.append(restored(1))
    head = evstore_store.head()
    with pytest.raises(ValueError, match=f"no checkpoint has id {unknown}"):
        restore_checkpoint(evstore_store, unknown)  # 2 is a position, but not a checkpoint_created
    assert evstore_store.head() == head


@pytest.mark.parametrize("bad", ["1", 1.0, True, None])
def test_restore_checkpoint_wants_an_int(evstore_store: EventStore, bad: Any) -> None:
    create_checkpoint(evstore_store, "wf-1", "s1", "a", {})
    with pytest.raises(TypeError, match="checkpoint_id must be an int"):
        restore_checkpoint(evstore_store, bad)


@pytest.mark.parametrize("bad", [None, 7, b"wf"])
def test_queries_want_a_string_workflow_id(evstore_store: EventStore, bad: Any) -> None:
    with pytest.raises(TypeError, match="workflow_id must be a str"):
        get_latest_checkpoint(evstore_store, bad)
    with pytest.raises(TypeError, match="workflow_id must be a str"):
        list_checkpoints(evstore_store, bad)


def test_an_injection_string_as_workflow_id_is_only_a_value(evstore_store: EventStore) -> None:
    create_checkpoint(evstore_store, "wf-1", "s1", "a", {})
    assert get_latest_checkpoint(evstore_store, "x' OR '1'='1") is None
    assert list_checkpoints(evstore_store, "wf-1' --") == []
    assert len(rows(evstore_store)) == 1


def test_a_checkpoint_of_the_whole_workflow_has_no_step(evstore_store: EventStore) -> None:
    """The original's create_checkpoint took ``step_id=None``: a checkpoint of the
    workflow rather than of one step."""
    checkpoint_id = create_checkpoint(evstore_store, "wf-1", None, "abc", {"k": 1})
    latest = get_latest_checkpoint(evstore_store, "wf-1")
    assert latest is not None and (latest["id"], latest["step_id"]) == (checkpoint_id, None)
    assert latest["git_sha"] == "abc" and latest["context"] == {"k": 1}


# --- bad events are rejected at append, and nothing is written -------------------------


@pytest.mark.parametrize(
    ("event", "error", "message"),
    [
        (created(git_sha=123), PayloadValidationError, "git_sha"),
        (created(git_sha=""), PayloadValidationError, "git_sha"),
        (created(context=["not", "a", "dict"]), PayloadValidationError, "context"),
        (created(status=""), PayloadValidationError, "status"),
        (created(status=None), PayloadValidationError, "status"),
        (NewEvent(workflow_id="w", event_type=CHECKPOINT_CREATED, step_id="s", payload={"context": {}}),
         PayloadValidationError, "git_sha"),
        (NewEvent(workflow_id="w", event_type=CHECKPOINT_CREATED, step_id="s", payload={"git_sha": "a"}),
         PayloadValidationError, "context"),
        (NewEvent(workflow_id="w", event_type=CHECKPOINT_RESTORED, payload={}),
         PayloadValidationError, "checkpoint_id"),
        (NewEvent(workflow_id="w", event_type=CHECKPOINT_RESTORED, payload={"checkpoint_id": "1"}),
         PayloadValidationError, "checkpoint_id"),
        (NewEvent(workflow_id="w", event_type=CHECKPOINT_RESTORED, payload={"checkpoint_id": True}),
         PayloadValidationError, "checkpoint_id"),
        (NewEvent(workflow_id="w", event_type=CHECKPOINT_RESTORED, payload={"checkpoint_id": 0}),
         PayloadValidationError, "checkpoint_id"),
    ],
)
def test_bad_events_are_rejected_at_append(
    evstore_scenario: Scenario, event: NewEvent, error: type[Exception], message: str
) -> None:
    evstore_scenario.when(event).then_error(error, match=message)  # and nothing written
    assert evstore_scenario.store.head() == 0
    assert rows(evstore_scenario.store) == []


def test_a_bad_event_in_a_batch_rejects_the_whole_batch(evstore_store: EventStore) -> None:
    with pytest.raises(PayloadValidationError):
        evstore_store.append_many([created(), created(git_sha=None)])
    assert (evstore_store.head(), rows(evstore_store)) == (0, [])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"git_sha": ""}, "git_sha"),
        ({"context": "not a dict"}, "context"),
        ({"status": ""}, "status"),
    ],
)
def test_create_checkpoint_rejects_bad_values(
    evstore_store: EventStore, kwargs: dict[str, Any], message: str
) -> None:
    arguments: dict[str, Any] = {"git_sha": "abc", "context": {}} | kwargs
    with pytest.raises(PayloadValidationError, match=message):
        create_checkpoint(evstore_store, "wf-1", "s1", **arguments)
    assert evstore_store.head() == 0


# --- plugin wiring -----------------------------------------------------------------------


def test_the_installed_entry_point_loads_this_plugin(
    evstore_store_factory: StoreFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVSTORE_PLUGINS", "checkpoints")
    opened = evstore_store_factory([], autoload=True)
    (info,) = opened.plugins
    assert (info.name, info.distribution, info.projections) == (
        "checkpoints", "evstore-checkpoints", ["checkpoints"]
    )
    assert sorted(info.event_types) == [CHECKPOINT_CREATED, CHECKPOINT_RESTORED]


def test_rows_survive_reopening_the_store(
    evstore_store_factory: StoreFactory, evstore_plugins: list[object]
) -> None:
    first = evstore_store_factory(evstore_plugins)
    create_checkpoint(first, "wf-1", "s1", "a", {"deep": {"x": [1, 2]}})
    before = rows(first)
    first.close()
    second = evstore_store_factory(evstore_plugins)  # the same file, as a restarted process opens it
    assert rows(second) == before
    assert json.loads(before[0][4]) == {"deep": {"x": [1, 2]}}
