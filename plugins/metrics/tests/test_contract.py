"""The metrics projection on random valid histories: the kit's contract (rebuild,
redelivery, unknown types, table ownership, atomicity, handler errors), and the same
answers from every query after a rebuild.

Both use one strategy, so they live in one module (under ``--import-mode=importlib``
test modules cannot import each other).
"""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

import evstore_metrics
import evstore_steps
import evstore_workflows
from evstore import EventStore, NewEvent
from evstore.testing import ProjectionContract
from evstore.testing import strategies as evst
from evstore_metrics import METRIC_RECORDED, best_cli, compare_clis, get_metrics, recent_failures, role_stats
from evstore_supervisor import strategies as svst

NOW = datetime(2024, 6, 30, tzinfo=UTC)
ROLES = ("implementer", "reviewer", "x' OR '1'='1")
CLIS = ("claude", "codex", "gemini")
TASK_TYPES = ("code", "docs")

# A few distinct moments (ties are common), some outside a 30-day window; None means
# "the moment of the append", which is long after NOW.
timestamps = st.one_of(
    st.none(), st.sampled_from([NOW - timedelta(days=d, microseconds=u) for d in (0, 1, 45) for u in (0, 1)])
)
optional_payload = st.fixed_dictionaries(
    {},
    optional={
        "task_type": st.sampled_from(TASK_TYPES),
        "retry_count": st.integers(0, 5),
        "token_usage": st.none() | st.integers(0, 10**6),
        "error_category": st.none() | st.sampled_from(("timeout", "crash")),
        "model_score": st.none() | st.floats(-1, 1, allow_nan=False, allow_subnormal=False),
    },
)
metrics = st.builds(
    lambda role, workflow_id, required, optional, timestamp, event_id: NewEvent(
        workflow_id=workflow_id, event_type=METRIC_RECORDED, role=role,
        payload=required | optional, timestamp=timestamp, event_id=event_id,
    ),
    st.sampled_from(ROLES),
    st.sampled_from(("wf-1", "wf-2")),
    st.fixed_dictionaries({
        "cli": st.sampled_from(CLIS),
        "success": st.booleans(),
        "duration_seconds": st.floats(0, 1e6, allow_nan=False, allow_subnormal=False) | st.integers(0, 100),
    }),
    optional_payload,
    timestamps,
    st.uuids(),  # drawn, so a failing example replays exactly
)
# Each inner list is one append_many call: atomic batches and single appends mixed.
histories = st.lists(st.lists(metrics, min_size=1, max_size=4), max_size=15)


class TestMetricsContract(ProjectionContract):
    plugins = (evstore_metrics,)
    projection_name = "metrics"
    events = evst.event_lists(metrics, max_size=40)


class TestMetricsContractOnSupervisorRuns(ProjectionContract):
    """A metric per finished attempt, among the step and workflow events of whole runs
    (the plugins declaring those are loaded so that the runs are validated)."""

    plugins = (evstore_metrics, evstore_steps, evstore_workflows)
    projection_name = "metrics"
    events = svst.histories(max_workflows=3, max_steps=3)
    max_examples = 10


def answers(store: EventStore) -> dict[str, Any]:
    return {
        "rows": store.reader.fetchall("SELECT * FROM metrics ORDER BY id"),
        "recent": get_metrics(store, now=NOW),
        "failures": recent_failures(store, limit=5),
        "roles": [role_stats(store, role, now=NOW) for role in ROLES],
        "compare": compare_clis(store, None, days=60, now=NOW),
        "best": [best_cli(store, kind, min_samples=2, now=NOW) for kind in (*TASK_TYPES, "other")],
    }


@settings(max_examples=40, deadline=None)
@given(histories)
def test_rebuild_reproduces_the_incrementally_built_table(history: list[list[NewEvent]]) -> None:
    with tempfile.TemporaryDirectory() as folder, EventStore.open(
        Path(folder) / "s.db", plugins=[evstore_metrics], autoload=False
    ) as store:
        positions = [p for batch in history for p in store.append_many(batch)]
        live = answers(store)

        store.rebuild()

        assert answers(store) == live
        assert [row[0] for row in live["rows"]] == positions
        assert all(row[6] in (0, 1) for row in live["rows"])
        cutoff = NOW - timedelta(days=30)
        in_window = sorted(
            ((e.timestamp, e.id) for e in store.read_all() if e.timestamp >= cutoff), reverse=True
        )
        assert [m["id"] for m in live["recent"]] == [position for _, position in in_window]
