"""Installed, the plugin is found through its entry point and works beside every other."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from evstore import EventStore
from evstore.testing import EventFactory
from evstore_activity_board import activity_board


def test_evstore_plugins_lists_the_board() -> None:
    env = {**os.environ, "EVSTORE_PLUGINS": "activity_board"}
    listed = subprocess.run(
        [sys.executable, "-m", "evstore", "plugins", "--json"], env=env, check=True, capture_output=True, text=True
    )
    [plugin] = json.loads(listed.stdout)
    assert plugin["distribution"] == "evstore-activity-board"
    assert plugin["tables"] == ["activity_roles", "activity_steps"]
    assert plugin["event_types"] == []  # it only handles other plugins' events
    assert "step_completed" in plugin["projections"][0]["handles"]


def test_the_board_runs_beside_every_installed_plugin(
    evstore_all_plugins_store: EventStore, evstore_event: EventFactory
) -> None:
    store = evstore_all_plugins_store
    assert store.has_projection("activity_board") and store.has_projection("steps")
    store.append_many([
        evstore_event("workflow_started"),
        evstore_event("step_started", step_id="s1", role="planner"),
        evstore_event("step_completed", step_id="s1", payload={"output": {"plan": "ok"}}),
    ])
    assert [(line.role, line.steps_completed) for line in activity_board(store)] == [("planner", 1)]
    assert {status.name: status.status for status in store.projection_status()}["activity_board"] == "ok"
