"""Property: after any history written through the facade, ``rebuild_projections()``
reproduces every projection table exactly (defects 2, 3, 4 and 12 together)."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evstore import EvstoreError
from evstore.testing import strategies as evst
from evstore_supervisor import Database, Event

WORKFLOWS = ["wf-1", "wf-2"]
STEPS = ["s-1", "s-2", "s-10"]
FEATURES = ["F1", "F2"]
PHASES = ["P1", "P2", "P3"]
COMPONENTS = ["C1", "C2", "C10"]
STEP_STATUSES = ["pending", "in_progress", "completed", "failed", "blocked", "awaiting_approval"]
COMPONENT_STATUSES = ["pending", "implementing", "testing", "review", "completed", "failed"]
small_dicts = st.dictionaries(st.sampled_from(["a", "b", "n"]), st.integers(-3, 3) | evst.texts(max_size=3), max_size=2)

Operation = Callable[[Database], Any]


def append(workflow: str, event_type: str, **fields: Any) -> Operation:
    return lambda db: db.append_event(Event(workflow_id=workflow, event_type=event_type, **fields))


operations = st.one_of(
    st.builds(lambda w, s: append(w, "workflow_started", payload={"initial_step": s}),
              st.sampled_from(WORKFLOWS), st.sampled_from(STEPS)),
    st.builds(lambda w, t: append(w, t), st.sampled_from(WORKFLOWS),
              st.sampled_from(["workflow_completed", "workflow_failed", "metadata_set", "approval_requested"])),
    st.builds(lambda w, s, c: append(w, "step_started", step_id=s, role="implementer", payload={"context": c}),
              st.sampled_from(WORKFLOWS), st.sampled_from(STEPS), small_dicts),
    st.builds(lambda w, s, t: append(w, t, step_id=s), st.sampled_from(WORKFLOWS), st.sampled_from(STEPS),
              st.sampled_from(["step_applying", "step_completed", "step_retried", "gate_passed", "gate_skipped"])),
    st.builds(lambda s, status, o: lambda db: db.update_step(s, status, output=o),
              st.sampled_from(STEPS), st.sampled_from(STEP_STATUSES), st.none() | small_dicts),
    st.builds(lambda f: lambda db: db.create_feature(f, f"title {f}"), st.sampled_from(FEATURES)),
    st.builds(lambda p, f, n: lambda db: db.create_phase(p, f, f"phase {p}", n),
              st.sampled_from(PHASES), st.sampled_from(FEATURES), st.integers(0, 3)),
    st.builds(lambda c, p: lambda db: db.create_component(c, p, f"component {c}"),
              st.sampled_from(COMPONENTS), st.sampled_from(PHASES)),
    st.builds(lambda c, status: lambda db: db.update_component(c, status),
              st.sampled_from(COMPONENTS), st.sampled_from(COMPONENT_STATUSES)),
    st.builds(lambda c, d: lambda db: db.update_component_dependencies(c, d),
              st.sampled_from(COMPONENTS), st.lists(st.sampled_from(COMPONENTS), max_size=2)),
    st.builds(lambda p, status: lambda db: db.update_phase_status(p, status),
              st.sampled_from(PHASES), st.sampled_from(["pending", "in_progress", "completed", "failed"])),
    st.builds(lambda f, status: lambda db: db.update_feature_status(f, status),
              st.sampled_from(FEATURES), st.sampled_from(["planning", "in_progress", "review", "completed"])),
    st.builds(lambda w, s, c: lambda db: db.create_checkpoint(w, s, "sha", c),
              st.sampled_from(WORKFLOWS), st.sampled_from(STEPS), small_dicts),
    st.builds(lambda w, ok, d: lambda db: db.record_metric("implementer", "claude", w, ok, d),
              st.sampled_from(WORKFLOWS), st.booleans(), st.floats(0, 100)),
    st.builds(lambda x, n: lambda db: db.append_execution_event(x, "node_started", node_id=n),
              st.sampled_from(["x1", "x2"]), st.sampled_from(["a", "b"])),
)


def run(db: Database, operation: Operation) -> None:
    head = db.store.head()
    try:
        operation(db)
    except (ValueError, EvstoreError):
        # An unknown step, phase or component: refused, and nothing was written.
        assert db.store.head() == head


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(groups=st.lists(st.lists(operations, min_size=1, max_size=4), min_size=1, max_size=12),
       grouped=st.lists(st.booleans(), min_size=12, max_size=12))
def test_rebuild_reproduces_every_table(
    groups: list[list[Operation]], grouped: list[bool], dump_tables: Callable[[Database], Any]
) -> None:
    with tempfile.TemporaryDirectory() as folder, Database(
        Path(folder) / "state.db", autoload=False, durability="normal"
    ) as db:
        for group, in_transaction in zip(groups, grouped, strict=False):
            if in_transaction:
                with db.transaction():
                    for operation in group:
                        run(db, operation)
            else:
                for operation in group:
                    run(db, operation)
        before = dump_tables(db)
        db.rebuild_projections()
        assert dump_tables(db) == before
