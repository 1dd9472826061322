"""Every event type of the original, with minimal, missing and odd fields, appended to
the original and to the facade side by side.

For each event: both return an id (an ``int``); the facade stores what the original
stored (envelope fields and payload, as ``get_events`` reads them back); the facade's
projections stay ``ok`` and skip nothing, so replay equals incremental; and every query
the original answers about the rows, the facade answers at least as well: where the
original returns a step, feature, phase or component, the facade returns one with the
same fields (times aside: the original stamped rows with the clock).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any

import pytest

from evstore_supervisor import Database, Event

T0 = datetime(2025, 6, 1, 12, 0, 0, 123456, tzinfo=UTC)
WF = "wf-1"

# Values the original stored without looking: wrong types, nested extras.
ODD_PAYLOAD: dict[str, Any] = {
    "id": 5, "title": None, "sequence": "x", "error": {"a": 1}, "output": [1], "gates": "g",
    "context": [1], "initial_step": 7, "feature_id": 3, "phase_id": ["P1"], "interfaces": "none",
    "metadata": {"nested": [1, {"deep": True}]}, "phases": [{"id": "PX", "components": []}],
}

# Per original event type: the envelope and payload its callers gave it.
TYPICAL: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "workflow_started": ({}, {"initial_step": "plan", "context": {"branch": "main"}}),
    "workflow_completed": ({}, {}),
    "workflow_failed": ({}, {"error": "gave up"}),
    "step_started": ({"role": "planner", "step_id": "S1"}, {"gates": ["lint"], "context": {"n": 1}}),
    "step_applying": ({"step_id": "S1"}, {}),
    "step_completed": ({"step_id": "S1", "status": "completed"}, {"output": {"summary": "ok"}}),
    "step_failed": ({"step_id": "S1", "status": "failed"}, {"error": "tests failed"}),
    "step_retried": ({"step_id": "S1"}, {"attempt": 2}),
    "gate_passed": ({"step_id": "S1"}, {"gate": "lint"}),
    "gate_failed": ({"step_id": "S1"}, {"gate": "tests", "error": "2 failed"}),
    "feature_created": ({}, {"id": "F2", "title": "Search", "description": "find things"}),
    "feature_completed": ({}, {"feature_id": "F1"}),
    "phase_created": ({}, {"id": "P2", "feature_id": "F1", "title": "Frontend", "sequence": 2,
                           "interfaces": []}),
    "phase_completed": ({}, {"phase_id": "P1"}),
    "component_created": ({}, {"id": "C2", "phase_id": "P1", "title": "UI", "files": ["ui.py"],
                               "depends_on": ["C1"], "assigned_role": "implementer", "description": ""}),
    "component_started": ({"component_id": "C1"}, {}),
    "component_completed": ({"component_id": "C1"}, {"output": {"files": 2}}),
    "component_failed": ({"component_id": "C1"}, {"error": "does not build"}),
    "checkpoint_created": ({"step_id": "S1"}, {"git_sha": "abc123", "context": {"n": 1}}),
    "checkpoint_restored": ({"step_id": "S1"}, {"checkpoint_id": 1}),
    "approval_requested": ({"step_id": "S1", "role": "reviewer"}, {"question": "merge?"}),
    "approval_granted": ({"step_id": "S1"}, {"by": "ann"}),
    "approval_denied": ({"step_id": "S1"}, {"by": "bob", "reason": "no tests"}),
    "approval_skipped": ({"step_id": "S1"}, {}),
    "metadata_set": ({}, {"key": "skip", "value": {"S1": True}}),
}


def test_every_member_of_the_original_is_covered(original: ModuleType) -> None:
    assert sorted(TYPICAL) == sorted(member.value for member in original.EventType)


def _variants(event_type: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """The typical event; with nothing at all; without its envelope fields; without
    each payload key in turn; with odd payload values; with an envelope of odd ids."""
    envelope, payload = TYPICAL[event_type]
    variants = [(envelope, payload), ({}, {}), ({}, payload)]
    variants += [(envelope, {k: v for k, v in payload.items() if k != key}) for key in payload]
    variants += [(envelope, {**payload, **ODD_PAYLOAD}), ({"step_id": "", "role": " ", "component_id": "C9"}, {})]
    return variants


def _plan(facade: Database, original: Any) -> None:
    """The same prelude on both: a started workflow and step, a feature F1 with a phase
    P1 holding a component C1, so later events have rows to change."""
    for db in (facade, original):
        db.create_feature("F1", "Checkout", "pay")
        db.create_phase("P1", "F1", "Backend", 1)
        db.create_component("C1", "P1", "API", files=["api.py"])


def _event(module: Any, event_type: str, envelope: dict[str, Any], payload: dict[str, Any], n: int) -> Any:
    return module.Event(workflow_id=WF, event_type=event_type, payload=payload,
                        timestamp=T0 + timedelta(seconds=n), **envelope)


def _stored(event: Any) -> tuple[Any, ...]:
    kind = event.event_type
    return (event.workflow_id, getattr(kind, "value", kind), event.role, event.step_id, event.component_id,
            event.status, event.payload, event.timestamp)


def _answer(query: Any, *args: Any) -> Any:
    """The original's answer, or ``None`` where it raises reading its own rows (a status
    or a JSON value its models refuse): the facade need not match a crash."""
    try:
        return query(*args)
    except Exception:
        return None


STEP_FIELDS = ("id", "workflow_id", "role", "status", "gates", "context", "output", "error")
# A feature's and a phase's status follow their components in the facade (a started
# component puts its phase and feature in progress; the cascade completes them with
# logged events), where the original left them as created: compared apart.
FEATURE_FIELDS = ("id", "title", "description")
PHASE_FIELDS = ("id", "feature_id", "title", "sequence", "interfaces")
COMPONENT_FIELDS = ("id", "phase_id", "title", "description", "files", "depends_on", "status",
                    "assigned_role", "output", "error")


def _fields(model: Any, names: tuple[str, ...]) -> dict[str, Any]:
    dumped = model.model_dump(mode="json")
    return {name: dumped[name] for name in names}


def _assert_answers_at_least(facade: Database, original: Any) -> None:
    for step_id in ("S1", "", " "):
        expected = _answer(original.get_step, step_id)
        if expected is not None:
            got = facade.get_step(step_id)
            assert got is not None, step_id
            assert _fields(got, STEP_FIELDS) == _fields(expected, STEP_FIELDS)
    for feature_id in ("F1", "F2", WF, "5"):
        expected = _answer(original.get_feature, feature_id)
        if expected is not None:
            got = facade.get_feature(feature_id)
            assert got is not None, feature_id
            assert _fields(got, FEATURE_FIELDS) == _fields(expected, FEATURE_FIELDS)
    for phase_id in ("P1", "P2"):
        expected = _answer(original.get_phase, phase_id)
        if expected is not None:
            got_phase = facade.get_phase(phase_id)
            assert got_phase is not None, phase_id
            assert _fields(got_phase, PHASE_FIELDS) == _fields(expected, PHASE_FIELDS)
    for component_id in ("C1", "C2", "5"):
        expected = _answer(original.get_component, component_id)
        if expected is not None:
            got_component = facade.get_component(component_id)
            assert got_component is not None, component_id
            assert _fields(got_component, COMPONENT_FIELDS) == _fields(expected, COMPONENT_FIELDS)


@pytest.mark.parametrize("event_type", sorted(TYPICAL))
def test_every_variant_is_stored_and_answered_as_the_original_did(
    db: Database, original_db: Any, original: ModuleType, event_type: str
) -> None:
    _plan(db, original_db)
    for n, (envelope, payload) in enumerate(_variants(event_type)):
        theirs = original_db.append_event(_event(original, event_type, envelope, payload, n))
        ours = db.append_event(_event(__import__("evstore_supervisor"), event_type, envelope, payload, n))
        assert type(ours) is type(theirs) is int
        # What the original stored, the facade stored, field for field.
        theirs_read = [_stored(e) for e in original_db.get_events(WF)]
        ours_read = [_stored(e) for e in db.get_events(WF)]
        assert ours_read == theirs_read, (envelope, payload)
        # No projection fails on, or skips, an incomplete event: each projects what it can.
        for status in db.store.projection_status():
            assert (status.name, status.status, status.skipped) == (status.name, "ok", 0), (envelope, payload)
        _assert_answers_at_least(db, original_db)


def test_get_events_filters_by_type_as_the_original(db: Database, original_db: Any, original: ModuleType) -> None:
    import evstore_supervisor

    for n, event_type in enumerate(sorted(TYPICAL)):
        envelope, payload = TYPICAL[event_type]
        original_db.append_event(_event(original, event_type, envelope, payload, n))
        db.append_event(_event(evstore_supervisor, event_type, envelope, payload, n))
    wanted = ["step_started", "gate_passed"]
    theirs = original_db.get_events(WF, [original.EventType(name) for name in wanted])
    ours = db.get_events(WF, [evstore_supervisor.EventType(name) for name in wanted])
    assert [_stored(e) for e in ours] == [_stored(e) for e in theirs]
    assert [e.id for e in ours] == sorted(e.id for e in ours)


def test_a_rebuild_reproduces_what_incomplete_events_gave(db: Database, original_db: Any) -> None:
    """Replay equals incremental for the odd events too."""
    import evstore_supervisor

    _plan(db, original_db)
    n = 0
    for event_type in sorted(TYPICAL):
        for envelope, payload in _variants(event_type):
            db.append_event(_event(evstore_supervisor, event_type, envelope, payload, n))
            n += 1
    before = {t: db.store.reader.fetchall(f'SELECT * FROM "{t}" ORDER BY 1') for t in _tables(db)}
    db.rebuild_projections()
    after = {t: db.store.reader.fetchall(f'SELECT * FROM "{t}" ORDER BY 1') for t in _tables(db)}
    assert after == before


def _tables(db: Database) -> list[str]:
    return sorted(t for r in db.store.registry.projections.values() for t in r.projection.tables)


def test_the_facade_event_is_the_originals_shape(original: ModuleType) -> None:
    """Code that builds an ``Event`` builds the same one with either import."""
    import evstore_supervisor

    assert {m.value for m in original.EventType} <= {m.value for m in evstore_supervisor.EventType}
    for field in original.Event.model_fields:
        assert field in Event.model_fields


def test_an_empty_type_filter_filters_nothing_as_in_the_original(
    db: Database, original_db: Any, original: ModuleType
) -> None:
    import evstore_supervisor

    for n, event_type in enumerate(["workflow_started", "gate_passed"]):
        original_db.append_event(_event(original, event_type, {}, {}, n))
        db.append_event(_event(evstore_supervisor, event_type, {}, {}, n))
    assert [_stored(e) for e in db.get_events(WF, [])] == [_stored(e) for e in original_db.get_events(WF, [])]
    assert len(db.get_events(WF, [])) == 2
