"""The cascade: components → phase → feature, as a reactor.

The original wrote phase and feature rows directly when the last component finished,
so its log never said a phase completed and a rebuild could not reproduce it. Here the
reactor reads the tables after the projection applied the event and appends
PHASE_COMPLETED / PHASE_FAILED (and, reacting to those, FEATURE_COMPLETED /
FEATURE_FAILED) in the same transaction; the projection applies them like any event.

Rules, for a phase over its components and a feature over its phases:

- every child completed → completed;
- every child completed or failed, at least one failed → failed;
- no children → nothing: an empty phase (or a feature without phases) never ends by
  cascade, because "nothing to do" is more often "not planned yet" than "done".

An event is appended only when it changes the status, so the reactor is idempotent:
when one append batch completes two components of a phase, the reaction to the first
already sees both and completes the phase; the reaction to the second finds it
completed and appends nothing. A component event only re-evaluates its phase; the
feature is re-evaluated when a phase event lands (including a status set by hand), so
a status set by hand on a feature stays until one of its phases changes.
"""

from __future__ import annotations

from evstore import NewEvent, Reactor, RecordedEvent, ScopedConnection

from . import _events as ev
from ._projection import PROJECTION_NAME

REACTOR_NAME = "features_cascade"

_COMPONENT_EVENTS = (ev.COMPONENT_COMPLETED, ev.COMPONENT_FAILED, ev.COMPONENT_STATUS_CHANGED)
_PHASE_EVENTS = (ev.PHASE_COMPLETED, ev.PHASE_FAILED, ev.PHASE_STATUS_CHANGED)


def _outcome(total: int, completed: int, failed: int) -> str | None:
    """The status the children imply for their parent, or None while work remains."""
    if total == 0 or completed + failed < total:
        return None
    return "completed" if failed == 0 else "failed"


# One indexed query per decision: the parent (through the event's child) and the count
# of the parent's children by outcome. With no parent it gives one row of NULLs.
_PHASE_OF_COMPONENT = (
    "SELECT p.id, p.feature_id, p.status, COUNT(*), "
    "COUNT(*) FILTER (WHERE s.status = 'completed'), COUNT(*) FILTER (WHERE s.status = 'failed') "
    "FROM components c JOIN phases p ON p.id = c.phase_id JOIN components s ON s.phase_id = p.id "
    "WHERE c.id = ? GROUP BY p.id, p.feature_id, p.status"
)
_FEATURE_OF_PHASE = (
    "SELECT f.id, f.status, COUNT(*), "
    "COUNT(*) FILTER (WHERE s.status = 'completed'), COUNT(*) FILTER (WHERE s.status = 'failed') "
    "FROM phases p JOIN features f ON f.id = p.feature_id JOIN phases s ON s.feature_id = f.id "
    "WHERE p.id = ? GROUP BY f.id, f.status"
)


def _react_to_component(db: ScopedConnection, event: RecordedEvent) -> list[NewEvent]:
    if event.component_id is None:
        return []
    row = db.fetchone(_PHASE_OF_COMPONENT, (event.component_id,))
    if row is None:
        return []
    phase_id, feature_id, status, *counts = row
    outcome = _outcome(*counts)
    if outcome is None or outcome == status:
        return []
    event_type = ev.PHASE_COMPLETED if outcome == "completed" else ev.PHASE_FAILED
    return [NewEvent(workflow_id=feature_id, event_type=event_type, status=outcome,
                     payload={"phase_id": phase_id})]


def _react_to_phase(db: ScopedConnection, event: RecordedEvent) -> list[NewEvent]:
    phase_id = event.payload.get("phase_id")
    if type(phase_id) is not str:  # stored as given by a permissive store: no phase named
        return []
    row = db.fetchone(_FEATURE_OF_PHASE, (phase_id,))
    if row is None:
        return []
    feature_id, status, *counts = row
    outcome = _outcome(*counts)
    if outcome is None or outcome == status:
        return []
    event_type = ev.FEATURE_COMPLETED if outcome == "completed" else ev.FEATURE_FAILED
    return [NewEvent(workflow_id=feature_id, event_type=event_type, status=outcome,
                     payload={"feature_id": feature_id})]


def _react(db: ScopedConnection, event: RecordedEvent) -> list[NewEvent]:
    if event.event_type in _PHASE_EVENTS:
        return _react_to_phase(db, event)
    return _react_to_component(db, event)


CASCADE = Reactor(
    REACTOR_NAME,
    frozenset(_COMPONENT_EVENTS + _PHASE_EVENTS),
    _react,
    description="appends phase_/feature_ completed or failed when every child has ended",
    # It decides from the features projection's tables: while that projection is
    # failing, the kernel rejects appends that would run the cascade on stale rows.
    reads=frozenset({PROJECTION_NAME}),
)
