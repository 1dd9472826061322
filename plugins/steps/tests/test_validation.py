"""Bad step events are rejected at append time, and nothing is written."""

from __future__ import annotations

from typing import Any

import pytest

from evstore import EventStore, InvalidEventError, NewEvent, PayloadValidationError
from evstore_steps import get_step, list_steps

STEP_TYPES = [
    "step_started", "step_applying", "step_completed", "step_failed", "step_retried", "step_status_changed",
]


@pytest.fixture
def head(store: EventStore) -> int:
    """The log already holds one valid step, so "nothing written" is not trivially true."""
    store.append(NewEvent(workflow_id="wf", event_type="step_started", step_id="ok", role="r"))
    return store.head()


@pytest.mark.parametrize("role", [None, "", "   "])
def test_step_started_without_a_role_is_rejected(store: EventStore, head: int, role: Any) -> None:
    # The original silently dropped such a step; here the caller hears about it.
    with pytest.raises(InvalidEventError, match="'step_started' requires role"):
        store.append(NewEvent(workflow_id="wf", event_type="step_started", step_id="s", role=role))
    assert store.head() == head
    assert get_step(store, "s") is None


@pytest.mark.parametrize("event_type", STEP_TYPES)
def test_every_step_event_requires_a_step_id(store: EventStore, head: int, event_type: str) -> None:
    with pytest.raises(InvalidEventError, match=f"'{event_type}' requires step_id"):
        store.append(NewEvent(workflow_id="wf", event_type=event_type, role="r"))
    assert store.head() == head


@pytest.mark.parametrize(
    ("event_type", "payload", "field"),
    [
        ("step_started", {"gates": "lint"}, "gates"),
        ("step_started", {"gates": ["lint", 3]}, "gates"),
        ("step_started", {"gates": None}, "gates"),
        ("step_started", {"context": ["a"]}, "context"),
        ("step_started", {"context": "text"}, "context"),
        ("step_completed", {"output": "done"}, "output"),
        ("step_completed", {"output": [1, 2]}, "output"),
        ("step_failed", {"error": {"code": 1}}, "error"),
        ("step_failed", {"error": 42}, "error"),
    ],
)
def test_wrong_payload_types_are_rejected(
    store: EventStore, head: int, event_type: str, payload: dict[str, Any], field: str
) -> None:
    with pytest.raises(PayloadValidationError, match=f"{event_type}.*{field}"):
        store.append(
            NewEvent(workflow_id="wf", event_type=event_type, step_id="s", role="r", payload=payload)
        )
    assert store.head() == head
    assert get_step(store, "s") is None


def test_one_bad_event_rejects_its_whole_batch(store: EventStore, head: int) -> None:
    good = NewEvent(workflow_id="wf", event_type="step_started", step_id="s", role="r")
    no_role = NewEvent(workflow_id="wf", event_type="step_started", step_id="t")
    with pytest.raises(InvalidEventError):
        store.append_many([good, no_role])
    assert store.head() == head
    assert [s.id for s in list_steps(store, "wf")] == ["ok"]


def test_extra_payload_keys_are_accepted_and_kept_in_the_log(store: EventStore, head: int) -> None:
    payload = {"gates": ["g"], "context": {}, "model": "x-1"}
    store.append(
        NewEvent(workflow_id="wf", event_type="step_started", step_id="s", role="r", payload=payload)
    )
    assert store.read("wf")[-1].payload == payload
    step = get_step(store, "s")
    assert step is not None and step.gates == ["g"]
