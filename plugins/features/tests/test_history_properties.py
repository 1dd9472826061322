"""Properties over long random histories: a rebuild reproduces every row, and the
cascade keeps each phase and feature consistent with its children."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import evstore_features as ef
from evstore import EventStore, NewEvent
from evstore.testing import strategies as evst

Rows = dict[str, list[tuple[Any, ...]]]
Op = tuple[Any, ...]

FEATURES = ["F0", "F1"]
PHASES = ["P0", "P1", "P2", "P3"]
COMPONENTS = [f"C{i}" for i in range(8)]

feature_ids = st.sampled_from(FEATURES)
phase_ids = st.sampled_from(PHASES)
component_ids = st.sampled_from(COMPONENTS)
dependency_lists = st.lists(component_ids, max_size=3, unique=True)

# Operations that only create work or move components: the cascade alone decides
# phase and feature outcomes.
WORK_OPS = st.one_of(
    st.tuples(st.just("feature"), feature_ids, evst.texts(max_size=5)),
    st.tuples(st.just("phase"), phase_ids, feature_ids, st.integers(0, 3)),
    st.tuples(st.just("component"), component_ids, phase_ids, dependency_lists),
    st.tuples(st.just("start"), component_ids),
    st.tuples(st.just("complete"), component_ids, st.dictionaries(evst.texts(max_size=3), st.integers())),
    st.tuples(st.just("fail"), component_ids, st.none() | evst.texts(max_size=5)),
    st.tuples(st.just("status"), component_ids, st.sampled_from(list(ef.ComponentStatus))),
    st.tuples(st.just("deps"), component_ids, dependency_lists),
    st.tuples(
        st.just("batch"),
        st.lists(st.tuples(component_ids, st.sampled_from(["component_completed", "component_failed"])),
                 min_size=1, max_size=4),
    ),
)
# Plus what a person or another system may do: set statuses by hand and append
# cascade events directly.
ALL_OPS = st.one_of(
    WORK_OPS,
    st.tuples(st.just("phase_status"), phase_ids, st.sampled_from(list(ef.PhaseStatus))),
    st.tuples(st.just("feature_status"), feature_ids, st.sampled_from(list(ef.FeatureStatus))),
    st.tuples(st.just("raw"), feature_ids, phase_ids,
              st.sampled_from(["phase_completed", "phase_failed", "feature_completed", "feature_failed"])),
)


def _exists(store: EventStore, table: str, row_id: str) -> bool:
    return store.reader.fetchvalue(f"SELECT 1 FROM {table} WHERE id = ?", (row_id,)) is not None


def apply(store: EventStore, op: Op) -> None:
    """Run one operation; operations on ids that do not exist yet are skipped (the
    helpers refuse them with ValueError and append nothing)."""
    kind = op[0]
    try:
        if kind == "feature":
            ef.create_feature(store, op[1], op[2])
        elif kind == "phase":
            if _exists(store, "features", op[2]):  # the cascade needs the feature row
                ef.create_phase(store, op[1], op[2], op[1], op[3])
        elif kind == "component":
            ef.create_component(store, op[1], op[2], op[1], depends_on=op[3])
        elif kind == "start":
            ef.start_component(store, op[1])
        elif kind == "complete":
            ef.complete_component(store, op[1], op[2])
        elif kind == "fail":
            ef.fail_component(store, op[1], op[2])
        elif kind == "status":
            ef.update_component(store, op[1], op[2])
        elif kind == "deps":
            ef.set_component_dependencies(store, op[1], op[2])
        elif kind == "batch":
            store.append_many(
                NewEvent(workflow_id="F0", event_type=event_type, component_id=component_id)
                for component_id, event_type in op[1]
            )
        elif kind == "phase_status":
            ef.update_phase_status(store, op[1], op[2])
        elif kind == "feature_status":
            ef.update_feature_status(store, op[1], op[2])
        elif kind == "raw":
            target = {"phase_id": op[2]} if op[3].startswith("phase") else {}
            store.append(NewEvent(workflow_id=op[1], event_type=op[3], payload=target))
    except ValueError as error:
        assert "not found" in str(error)


def run_history(ops: list[Op], check: Callable[[EventStore], None]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        store = EventStore.open(Path(folder) / "s.db", plugins=[ef], autoload=False, durability="normal")
        try:
            for op in ops:
                apply(store, op)
            assert [s.status for s in store.projection_status()] == ["ok"]
            check(store)
        finally:
            store.close()


def _outcome(children: list[str]) -> str | None:
    if not children or any(s not in ("completed", "failed") for s in children):
        return None
    return "failed" if "failed" in children else "completed"


def assert_cascade_consistent(store: EventStore) -> None:
    for phase_id, status in store.reader.fetchall("SELECT id, status FROM phases"):
        children = [r[0] for r in store.reader.fetchall(
            "SELECT status FROM components WHERE phase_id = ?", (phase_id,))]
        expected = _outcome(children)
        if expected is None:
            assert status in ("pending", "in_progress"), (phase_id, status, children)
        else:
            assert status == expected, (phase_id, status, children)
    for feature_id, status, completed_at in store.reader.fetchall(
        "SELECT id, status, completed_at FROM features"
    ):
        children = [r[0] for r in store.reader.fetchall(
            "SELECT status FROM phases WHERE feature_id = ?", (feature_id,))]
        expected = _outcome(children)
        if expected is None:
            assert status in ("planning", "in_progress"), (feature_id, status, children)
        else:
            assert status == expected, (feature_id, status, children)
        assert (completed_at is not None) == (status == "completed")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(ALL_OPS, min_size=20, max_size=80))
def test_rebuild_reproduces_every_row_after_any_history(ops: list[Op]) -> None:
    def check(store: EventStore) -> None:
        before = {
            table: store.reader.fetchall(f"SELECT * FROM {table} ORDER BY id") for table in ef.TABLES
        }
        log = [e.row() for e in store.read_all()]
        store.rebuild()
        after = {
            table: store.reader.fetchall(f"SELECT * FROM {table} ORDER BY id") for table in ef.TABLES
        }
        assert after == before
        assert [e.row() for e in store.read_all()] == log  # the reactor did not run again

    run_history(ops, check)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(WORK_OPS, min_size=20, max_size=80))
def test_the_cascade_keeps_phases_and_features_consistent_with_their_children(ops: list[Op]) -> None:
    def check(store: EventStore) -> None:
        assert_cascade_consistent(store)
        store.rebuild()
        assert_cascade_consistent(store)

    run_history(ops, check)
