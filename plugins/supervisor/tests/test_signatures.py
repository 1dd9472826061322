"""Every method of the original ``Database`` exists with the same parameters, order,
kinds and defaults. The facade may add parameters only after them, keyword-only and
with defaults, so no call written for the original can change meaning."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import pytest

from evstore_supervisor import Database

# The original's signatures, written down from its source (supervisor/core/state.py).
ORIGINAL = {
    "__init__": "(self, db_path='.supervisor/state.db')",
    "append_event": "(self, event)",
    "get_events": "(self, workflow_id, event_types=None)",
    "get_step": "(self, step_id)",
    "update_step": "(self, step_id, status, output=None, error=None)",
    "get_feature": "(self, feature_id)",
    "get_phase": "(self, phase_id)",
    "get_phases": "(self, feature_id)",
    "get_component": "(self, component_id)",
    "get_components": "(self, feature_id)",
    "get_components_by_status": "(self, status)",
    "update_component": "(self, component_id, status, output=None, error=None)",
    "create_feature": "(self, feature_id, title, description='')",
    "create_phase": "(self, phase_id, feature_id, title, sequence, interfaces=None)",
    "create_component": (
        "(self, component_id, phase_id, title, files=None, depends_on=None, "
        "assigned_role='implementer', description='', feature_id=None)"
    ),
    "update_feature_status": "(self, feature_id, status)",
    "update_phase_status": "(self, phase_id, status)",
    "update_component_dependencies": "(self, component_id, depends_on)",
    "create_checkpoint": "(self, workflow_id, step_id, git_sha, context, status='active')",
    "get_latest_checkpoint": "(self, workflow_id)",
    "record_metric": (
        "(self, role, cli, workflow_id, success, duration_seconds, task_type='other', "
        "retry_count=0, token_usage=None, error_category=None)"
    ),
    "get_metrics": "(self, days=30, role=None, cli=None)",
    "append_execution_event": (
        "(self, execution_id, event_type, node_id=None, node_type=None, status=None, "
        "payload=None, version=0)"
    ),
    "get_execution_events": "(self, execution_id, since_id=None, limit=500)",
    "rebuild_projections": "(self)",
    "transaction": "(self)",
    "_connect": "(self)",
}


def _signature(text: str) -> inspect.Signature:
    namespace: dict[str, Callable[..., Any]] = {}
    exec(f"def original{text}: pass", namespace)
    return inspect.signature(namespace["original"])


@pytest.mark.parametrize("name", sorted(ORIGINAL))
def test_method_has_the_original_signature(name: str) -> None:
    original = list(_signature(ORIGINAL[name]).parameters.values())
    ours = list(inspect.signature(getattr(Database, name)).parameters.values())
    assert [(p.name, p.kind, p.default) for p in ours[: len(original)]] == [
        (p.name, p.kind, p.default) for p in original
    ]
    for extra in ours[len(original):]:
        assert extra.kind is inspect.Parameter.KEYWORD_ONLY, f"{name}: {extra.name} must be keyword-only"
        assert extra.default is not inspect.Parameter.empty, f"{name}: {extra.name} needs a default"


@pytest.mark.parametrize("name", ["transaction", "_connect"])
def test_context_managers_stay_context_managers(db: Database, name: str) -> None:
    manager = getattr(db, name)()
    assert hasattr(manager, "__enter__") and hasattr(manager, "__exit__")
