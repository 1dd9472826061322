"""Read the features projection: plain functions taking the store.

They read through ``store.reader``, so inside an open ``store.transaction()`` they see
that transaction's writes.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from evstore import EventStore, require_projection

from ._models import Component, ComponentStatus, Feature, Phase
from ._projection import PROJECTION_NAME

_FEATURE_COLUMNS = "id, title, description, status, created_at, completed_at"
_PHASE_COLUMNS = "id, feature_id, title, sequence, status, interfaces, created_at"
_COMPONENT_COLUMNS = (
    "c.id, c.phase_id, c.title, c.description, c.files, c.depends_on, c.status, "
    "c.assigned_role, c.output, c.error, c.created_at"
)
# Phase order, then creation order: C2 before C10, unlike the original's text order.
# A component whose phase is unknown sorts last.
_COMPONENT_ORDER = (
    "ORDER BY p.sequence IS NULL, p.sequence, p.created_position, c.created_position"
)


def _feature(row: Any) -> Feature:
    return Feature(
        id=row[0],
        title=row[1],
        description=row[2],
        status=row[3],
        created_at=datetime.fromisoformat(row[4]),
        completed_at=datetime.fromisoformat(row[5]) if row[5] else None,
    )


def _phase(row: Any) -> Phase:
    return Phase(
        id=row[0],
        feature_id=row[1],
        title=row[2],
        sequence=row[3],
        status=row[4],
        interfaces=json.loads(row[5]),
        created_at=datetime.fromisoformat(row[6]),
    )


def _component(row: Any) -> Component:
    return Component(
        id=row[0],
        phase_id=row[1],
        title=row[2],
        description=row[3],
        files=json.loads(row[4]),
        depends_on=json.loads(row[5]),
        status=row[6],
        assigned_role=row[7],
        output=json.loads(row[8]) if row[8] is not None else None,
        error=row[9],
        created_at=datetime.fromisoformat(row[10]),
    )


def get_feature(store: EventStore, feature_id: str) -> Feature | None:
    require_projection(store, PROJECTION_NAME, package="evstore_features")
    row = store.reader.fetchone(f"SELECT {_FEATURE_COLUMNS} FROM features WHERE id = ?", (feature_id,))
    return None if row is None else _feature(row)


def get_phase(store: EventStore, phase_id: str) -> Phase | None:
    require_projection(store, PROJECTION_NAME, package="evstore_features")
    row = store.reader.fetchone(f"SELECT {_PHASE_COLUMNS} FROM phases WHERE id = ?", (phase_id,))
    return None if row is None else _phase(row)


def get_phases(store: EventStore, feature_id: str) -> list[Phase]:
    """The feature's phases by sequence (then creation order)."""
    require_projection(store, PROJECTION_NAME, package="evstore_features")
    rows = store.reader.fetchall(
        f"SELECT {_PHASE_COLUMNS} FROM phases WHERE feature_id = ? "
        "ORDER BY sequence, created_position",
        (feature_id,),
    )
    return [_phase(row) for row in rows]


def get_component(store: EventStore, component_id: str) -> Component | None:
    require_projection(store, PROJECTION_NAME, package="evstore_features")
    row = store.reader.fetchone(
        f"SELECT {_COMPONENT_COLUMNS} FROM components c WHERE c.id = ?", (component_id,)
    )
    return None if row is None else _component(row)


def get_components(store: EventStore, feature_id: str) -> list[Component]:
    """The feature's components by phase sequence, then creation order."""
    require_projection(store, PROJECTION_NAME, package="evstore_features")
    rows = store.reader.fetchall(
        f"SELECT {_COMPONENT_COLUMNS} FROM components c LEFT JOIN phases p ON p.id = c.phase_id "
        f"WHERE c.feature_id = ? {_COMPONENT_ORDER}",
        (feature_id,),
    )
    return [_component(row) for row in rows]


def get_components_by_status(store: EventStore, status: ComponentStatus | str) -> list[Component]:
    """Every component with ``status``, across features, in creation order."""
    require_projection(store, PROJECTION_NAME, package="evstore_features")
    value = ComponentStatus(status).value
    rows = store.reader.fetchall(
        f"SELECT {_COMPONENT_COLUMNS} FROM components c WHERE c.status = ? ORDER BY c.created_position",
        (value,),
    )
    return [_component(row) for row in rows]


def get_ready_components(store: EventStore, feature_id: str) -> list[Component]:
    """The feature's pending components whose dependencies are all completed, in the
    order of :func:`get_components`. A dependency on an unknown component is never
    completed, so it keeps the component waiting."""
    require_projection(store, PROJECTION_NAME, package="evstore_features")
    rows = store.reader.fetchall(
        f"SELECT {_COMPONENT_COLUMNS} FROM components c LEFT JOIN phases p ON p.id = c.phase_id "
        f"WHERE c.feature_id = ? AND c.status = 'pending' {_COMPONENT_ORDER}",
        (feature_id,),
    )
    pending = [_component(row) for row in rows]
    # The dependency lists are JSON text: read in Python, so the SQL stays portable
    # (no json_each), then one lookup of which dependencies are completed.
    wanted = sorted({dep for component in pending for dep in component.depends_on})
    completed = _completed_ids(store, wanted)
    return [c for c in pending if all(dep in completed for dep in c.depends_on)]


_ID_BATCH = 500  # ids per IN (...) list: well under either backend's parameter limit


def _completed_ids(store: EventStore, ids: list[str]) -> set[str]:
    """Which of ``ids`` are components with status completed."""
    found: set[str] = set()
    for start in range(0, len(ids), _ID_BATCH):
        batch = ids[start:start + _ID_BATCH]
        marks = ", ".join("?" * len(batch))
        found.update(
            row[0] for row in store.reader.fetchall(
                f"SELECT id FROM components WHERE status = 'completed' AND id IN ({marks})", tuple(batch)
            )
        )
    return found


def is_feature_blocked(store: EventStore, feature_id: str) -> bool:
    """True when the feature has pending components but none can make progress: no
    component is being worked on (implementing, testing, review) and no pending one is
    ready (each waits on a failed, pending-forever or unknown dependency, or on a cycle).

    A feature with no pending components is not blocked (it is done, failed, or has
    work under way), and neither is an unknown feature.
    """
    require_projection(store, PROJECTION_NAME, package="evstore_features")
    counts = store.reader.fetchone(
        "SELECT COUNT(*) FILTER (WHERE status = 'pending'), "
        "COUNT(*) FILTER (WHERE status IN ('implementing', 'testing', 'review')) "
        "FROM components WHERE feature_id = ?",
        (feature_id,),
    )
    pending, active = counts
    if pending == 0 or active > 0:
        return False
    return not get_ready_components(store, feature_id)
