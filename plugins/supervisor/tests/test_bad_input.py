"""What the facade refuses: only what the original's callers got an error for. Each is a
typed error naming the field, and nothing is written (no event, no row)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from evstore import InvalidEventError, PayloadSerializationError, UnknownEventTypeError
from evstore_supervisor import Database, Event


class Opaque:
    pass


def _gate(payload: dict[str, Any]) -> Event:
    return Event(workflow_id="wf", event_type="gate_passed", step_id="s", payload=payload)


@pytest.mark.parametrize(
    ("payload", "path"),
    [
        ({"when": {1, 2}}, "payload.when"),
        ({"context": {"o": Opaque()}}, "payload.context.o"),
        ({"items": [1, b"raw"]}, "payload.items[1]"),
        ({"deep": {"er": [{"x": object()}]}}, "payload.deep.er[0].x"),
    ],
)
def test_a_payload_value_json_cannot_hold_is_a_type_error_naming_it(
    db: Database, payload: dict[str, Any], path: str
) -> None:
    """The original's json.dumps raised TypeError before writing; so does the facade,
    saying where the value is."""
    with pytest.raises(PayloadSerializationError, match=path.replace("[", r"\[").replace(".", r"\.")) as caught:
        db.append_event(_gate(payload))
    assert isinstance(caught.value, TypeError)
    _assert_nothing_written(db)


def test_json_friendly_objects_are_stored_as_the_original_stored_them(db: Database, tmp_path: Path) -> None:
    """The original's encoder took datetimes, Paths and pydantic models; so does the facade."""
    moment = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    db.append_event(_gate({"at": moment, "file": Path("src/app.py"), "event": _gate({"k": 1})}))
    [stored] = db.get_events("wf")
    assert stored.payload["file"] == "src/app.py"
    assert datetime.fromisoformat(stored.payload["at"]) == moment
    assert stored.payload["event"]["payload"] == {"k": 1}


@pytest.mark.parametrize("bad", [{"workflow_id": "wf", "event_type": "gate_passed"}, "gate_passed", None, 42])
def test_an_argument_that_is_not_an_event_is_a_type_error(db: Database, bad: object) -> None:
    with pytest.raises(TypeError, match="takes an Event"):
        db.append_event(bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="takes Events"):
        db.append_events([_gate({}), bad])  # type: ignore[list-item]
    _assert_nothing_written(db)


@pytest.mark.parametrize("workflow_id", [None, 7, 1.5, ["wf"]])
def test_a_workflow_id_that_is_not_a_string_is_a_validation_error_naming_it(
    db: Database, workflow_id: object
) -> None:
    """As with the original: pydantic refuses the Event, so nothing can be appended."""
    with pytest.raises(ValidationError, match="workflow_id"):
        Event(workflow_id=workflow_id, event_type="gate_passed")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="workflow_id must be a str"):
        db.get_events(workflow_id)  # type: ignore[arg-type]
    _assert_nothing_written(db)


BATCH_BREAKERS: list[tuple[str, Callable[[], Event], type[Exception]]] = [
    ("unknown type", lambda: Event(workflow_id="wf", event_type="gate_passd"), UnknownEventTypeError),
    ("evstore type missing its step", lambda: Event(workflow_id="wf", event_type="step_status_changed",
                                                    payload={"status": "completed"}), InvalidEventError),
    ("NaN", lambda: _gate({"score": float("nan")}), PayloadSerializationError),
]


@pytest.mark.parametrize(("case", "make", "error"), BATCH_BREAKERS, ids=[b[0] for b in BATCH_BREAKERS])
def test_one_bad_event_writes_nothing_of_its_batch(
    db: Database, case: str, make: Callable[[], Event], error: type[Exception]
) -> None:
    with pytest.raises(error):
        db.append_events([_gate({"n": 1}), make()])
    with pytest.raises(error):
        db.append_event(make())
    _assert_nothing_written(db)


def _assert_nothing_written(db: Database) -> None:
    assert db.store.head() == 0
    assert db.get_events("wf") == []
    assert all(status.position == 0 for status in db.store.projection_status())
