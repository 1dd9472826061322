"""A stand-in for the original supervisor's ``Database``, to make real seed files.

It writes what the original wrote, as /work/shared/seed/original-behaviour.md describes
it, defects included: the ``events`` table with its projections applied in a second
transaction whose failures are swallowed (a step without a role, or whose workflow was
never started, is dropped by a constraint), statuses and dependencies updated in
place, a cascade that writes phase and feature rows without logging anything,
checkpoints and metrics written straight to their tables, graph state as mutable rows,
and times in the three formats the original mixed (SQLite's ``CURRENT_TIMESTAMP``,
naive ISO-8601 and ISO-8601 with a zone).
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    workflow_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    role TEXT,
    step_id TEXT,
    component_id TEXT,
    status TEXT,
    payload JSON,
    timestamp TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);
CREATE TABLE workflows (
    id TEXT PRIMARY KEY, current_step TEXT, status TEXT NOT NULL, context JSON,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP, updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);
CREATE TABLE steps (
    id TEXT PRIMARY KEY, workflow_id TEXT NOT NULL REFERENCES workflows(id), role TEXT NOT NULL,
    status TEXT NOT NULL, gates JSON, context JSON, output JSON, error TEXT,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP, updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);
CREATE TABLE features (
    id TEXT PRIMARY KEY, title TEXT NOT NULL, description TEXT, status TEXT NOT NULL,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP, completed_at TIMESTAMP
);
CREATE TABLE phases (
    id TEXT PRIMARY KEY, feature_id TEXT NOT NULL REFERENCES features(id), title TEXT NOT NULL,
    sequence INTEGER NOT NULL, status TEXT NOT NULL, interfaces JSON,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);
CREATE TABLE components (
    id TEXT PRIMARY KEY, phase_id TEXT NOT NULL REFERENCES phases(id), title TEXT NOT NULL,
    description TEXT, files JSON, depends_on JSON, status TEXT NOT NULL, assigned_role TEXT,
    output JSON, error TEXT, created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);
CREATE TABLE checkpoints (
    id INTEGER PRIMARY KEY AUTOINCREMENT, workflow_id TEXT NOT NULL REFERENCES workflows(id),
    step_id TEXT, git_sha TEXT, context_snapshot JSON, status TEXT DEFAULT 'active',
    timestamp TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);
CREATE TABLE metrics (
    id INTEGER PRIMARY KEY AUTOINCREMENT, timestamp TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    role TEXT NOT NULL, cli TEXT NOT NULL, task_type TEXT DEFAULT 'other', workflow_id TEXT,
    success INTEGER NOT NULL, duration_seconds REAL NOT NULL, retry_count INTEGER DEFAULT 0,
    token_usage INTEGER, error_category TEXT, model_score REAL
);
CREATE TABLE graph_workflows (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, definition JSON NOT NULL, version INTEGER DEFAULT 1,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP, updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);
CREATE TABLE graph_executions (
    id TEXT PRIMARY KEY, workflow_id TEXT, graph_id TEXT NOT NULL REFERENCES graph_workflows(id),
    status TEXT NOT NULL, started_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP, completed_at TIMESTAMP, error TEXT
);
CREATE TABLE node_executions (
    id INTEGER PRIMARY KEY AUTOINCREMENT, execution_id TEXT NOT NULL REFERENCES graph_executions(id),
    node_id TEXT NOT NULL, node_type TEXT, status TEXT NOT NULL, input_data JSON, output_data JSON,
    error TEXT, version INTEGER DEFAULT 0, started_at TIMESTAMP, completed_at TIMESTAMP,
    UNIQUE (execution_id, node_id)
);
CREATE TABLE execution_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT, execution_id TEXT NOT NULL, node_id TEXT, node_type TEXT,
    event_type TEXT NOT NULL, status TEXT, payload JSON, version INTEGER DEFAULT 0,
    timestamp TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);
CREATE TABLE loop_counters (
    execution_id TEXT NOT NULL, loop_key TEXT NOT NULL, iteration_count INTEGER DEFAULT 0,
    PRIMARY KEY (execution_id, loop_key)
);
"""


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value)


class OriginalSupervisor:
    """Writes a seed file the way the original did. ``when`` arguments are stored as
    given (a string in any of the original's formats); without one, SQLite's
    ``CURRENT_TIMESTAMP`` applies, as in the original."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.conn = sqlite3.connect(path, isolation_level=None)
        self.conn.execute("PRAGMA foreign_keys = ON")
        self.conn.executescript(SCHEMA)

    def close(self) -> None:
        self.conn.close()

    def _write(self, sql: str, params: tuple[Any, ...] = ()) -> int:
        cursor = self.conn.execute(sql, params)
        return int(cursor.lastrowid or 0)

    # --- the log, and its projection in a separate, forgiving transaction ------------------

    def append_event(
        self, workflow_id: str, event_type: str, *, role: str | None = None, step_id: str | None = None,
        component_id: str | None = None, status: str | None = None, payload: dict[str, Any] | None = None,
        when: str | None = None,
    ) -> int:
        payload = payload or {}
        columns = "workflow_id, event_type, role, step_id, component_id, status, payload"
        values: tuple[Any, ...] = (workflow_id, event_type, role, step_id, component_id, status, json.dumps(payload))
        if when is not None:
            columns, values = columns + ", timestamp", (*values, when)
        event_id = self._write(
            f"INSERT INTO events ({columns}) VALUES ({', '.join('?' * len(values))})", values
        )
        moment = when or self.conn.execute("SELECT CURRENT_TIMESTAMP").fetchone()[0]
        try:
            self._project(workflow_id, event_type, role, step_id, component_id, payload, moment)
        except sqlite3.Error:
            pass  # defect 1: the original printed the error and moved on; the row is lost
        return event_id

    def _project(
        self, workflow_id: str, event_type: str, role: str | None, step_id: str | None,
        component_id: str | None, payload: dict[str, Any], moment: str,
    ) -> None:
        w = self._write
        if event_type == "workflow_started":
            w("INSERT OR REPLACE INTO workflows (id, current_step, status, context, created_at, updated_at) "
              "VALUES (?, ?, 'active', ?, ?, ?)",
              (workflow_id, payload.get("initial_step"), _json(payload.get("context", {})), moment, moment))
        elif event_type in ("workflow_completed", "workflow_failed"):
            w("UPDATE workflows SET status = ?, updated_at = ? WHERE id = ?",
              (event_type.split("_")[1], moment, workflow_id))
        elif event_type == "step_started":
            w("INSERT OR REPLACE INTO steps (id, workflow_id, role, status, gates, context, created_at, updated_at) "
              "VALUES (?, ?, ?, 'in_progress', ?, ?, ?, ?)",
              (step_id, workflow_id, role, _json(payload.get("gates", [])), _json(payload.get("context", {})),
               moment, moment))
            w("UPDATE workflows SET current_step = ?, updated_at = ? WHERE id = ?", (step_id, moment, workflow_id))
        elif event_type == "step_completed":
            w("UPDATE steps SET status = 'completed', output = ?, updated_at = ? WHERE id = ?",
              (_json(payload.get("output")), moment, step_id))
        elif event_type == "step_failed":
            w("UPDATE steps SET status = 'failed', error = ?, updated_at = ? WHERE id = ?",
              (payload.get("error"), moment, step_id))
        elif event_type == "feature_created":
            w("INSERT INTO features (id, title, description, status, created_at) VALUES (?, ?, ?, 'planning', ?)",
              (payload.get("id", workflow_id), payload["title"], payload.get("description", ""), moment))
        elif event_type == "phase_created":
            w("INSERT INTO phases (id, feature_id, title, sequence, status, interfaces, created_at) "
              "VALUES (?, ?, ?, ?, 'pending', ?, ?)",
              (payload["id"], payload.get("feature_id", workflow_id), payload["title"], payload["sequence"],
               _json(payload.get("interfaces", [])), moment))
        elif event_type == "component_created":
            w("INSERT INTO components (id, phase_id, title, description, files, depends_on, status, "
              "assigned_role, created_at) VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?)",
              (component_id, payload["phase_id"], payload["title"], payload.get("description", ""),
               _json(payload.get("files", [])), _json(payload.get("depends_on", [])),
               payload.get("assigned_role"), moment))
        elif event_type == "component_started":
            w("UPDATE components SET status = 'implementing' WHERE id = ?", (component_id,))
        elif event_type == "component_completed":
            w("UPDATE components SET status = 'completed', output = ? WHERE id = ?",
              (_json(payload.get("output", {})), component_id))
            self._cascade(str(component_id), moment)
        elif event_type == "component_failed":
            w("UPDATE components SET status = 'failed', error = ? WHERE id = ?", (payload.get("error"), component_id))
            self._cascade(str(component_id), moment)
        elif event_type == "feature_completed":
            w("UPDATE features SET status = 'completed', completed_at = ? WHERE id = ?",
              (moment, payload.get("feature_id", workflow_id)))

    def _cascade(self, component_id: str, moment: str) -> None:
        """Defect 3: phase and feature rows written directly, no event logged."""
        (phase_id,) = self.conn.execute("SELECT phase_id FROM components WHERE id = ?", (component_id,)).fetchone()
        outcome = self._outcome("SELECT status FROM components WHERE phase_id = ?", phase_id)
        if outcome is None:
            return
        self._write("UPDATE phases SET status = ? WHERE id = ?", (outcome, phase_id))
        (feature_id,) = self.conn.execute("SELECT feature_id FROM phases WHERE id = ?", (phase_id,)).fetchone()
        outcome = self._outcome("SELECT status FROM phases WHERE feature_id = ?", feature_id)
        if outcome is not None:
            completed_at = moment if outcome == "completed" else None
            self._write("UPDATE features SET status = ?, completed_at = ? WHERE id = ?",
                        (outcome, completed_at, feature_id))

    def _outcome(self, sql: str, parent: str) -> str | None:
        statuses = [row[0] for row in self.conn.execute(sql, (parent,))]
        if not statuses or any(s not in ("completed", "failed") for s in statuses):
            return None
        return "failed" if "failed" in statuses else "completed"

    # --- the original's methods ---------------------------------------------------------------

    def create_feature(self, feature_id: str, title: str, description: str = "", when: str | None = None) -> None:
        self.append_event(feature_id, "feature_created", when=when,
                          payload={"id": feature_id, "title": title, "description": description})

    def create_phase(self, phase_id: str, feature_id: str, title: str, sequence: int,
                     interfaces: list[dict[str, Any]] | None = None, when: str | None = None) -> None:
        self.append_event(feature_id, "phase_created", when=when, payload={
            "id": phase_id, "feature_id": feature_id, "title": title, "sequence": sequence,
            "interfaces": interfaces or []})

    def create_component(self, component_id: str, phase_id: str, title: str, files: list[str] | None = None,
                         depends_on: list[str] | None = None, assigned_role: str = "implementer",
                         when: str | None = None) -> None:
        (feature_id,) = self.conn.execute("SELECT feature_id FROM phases WHERE id = ?", (phase_id,)).fetchone()
        self.append_event(feature_id, "component_created", component_id=component_id, when=when, payload={
            "phase_id": phase_id, "title": title, "files": files or [], "depends_on": depends_on or [],
            "assigned_role": assigned_role, "description": ""})

    def update_step(self, step_id: str, status: str, output: dict[str, Any] | None = None,
                    error: str | None = None) -> None:
        self._write("UPDATE steps SET status = ?, output = ?, error = ?, updated_at = CURRENT_TIMESTAMP "
                    "WHERE id = ?", (status, _json(output), error, step_id))

    def update_component(self, component_id: str, status: str, output: dict[str, Any] | None = None,
                         error: str | None = None) -> None:
        self._write("UPDATE components SET status = ?, output = ?, error = ? WHERE id = ?",
                    (status, _json(output), error, component_id))
        if status in ("completed", "failed"):
            self._cascade(component_id, datetime.now().isoformat())

    def update_feature_status(self, feature_id: str, status: str) -> None:
        self._write("UPDATE features SET status = ? WHERE id = ?", (status, feature_id))

    def update_phase_status(self, phase_id: str, status: str) -> None:
        self._write("UPDATE phases SET status = ? WHERE id = ?", (status, phase_id))

    def update_component_dependencies(self, component_id: str, depends_on: list[str]) -> None:
        self._write("UPDATE components SET depends_on = ? WHERE id = ?", (json.dumps(depends_on), component_id))

    def create_checkpoint(self, workflow_id: str, step_id: str, git_sha: str, context: dict[str, Any],
                          status: str = "active", when: str | None = None) -> int:
        if when is None:
            return self._write("INSERT INTO checkpoints (workflow_id, step_id, git_sha, context_snapshot, status) "
                               "VALUES (?, ?, ?, ?, ?)", (workflow_id, step_id, git_sha, json.dumps(context), status))
        return self._write("INSERT INTO checkpoints (workflow_id, step_id, git_sha, context_snapshot, status, "
                           "timestamp) VALUES (?, ?, ?, ?, ?, ?)",
                           (workflow_id, step_id, git_sha, json.dumps(context), status, when))

    def record_metric(self, role: str, cli: str, workflow_id: str | None, success: bool, duration_seconds: float,
                      task_type: str = "other", retry_count: int = 0, token_usage: int | None = None,
                      error_category: str | None = None, when: str | None = None) -> int:
        return self._write(
            "INSERT INTO metrics (timestamp, role, cli, task_type, workflow_id, success, duration_seconds, "
            "retry_count, token_usage, error_category) VALUES (COALESCE(?, CURRENT_TIMESTAMP), ?, ?, ?, ?, ?, ?, ?, "
            "?, ?)",
            (when, role, cli, task_type, workflow_id, int(success), duration_seconds, retry_count, token_usage,
             error_category),
        )

    # --- graph state as mutable rows (defect 12) ----------------------------------------------

    def save_graph(self, graph_id: str, name: str, definition: dict[str, Any], when: str | None = None) -> None:
        self._write("INSERT INTO graph_workflows (id, name, definition, created_at, updated_at) "
                    "VALUES (?, ?, ?, COALESCE(?, CURRENT_TIMESTAMP), COALESCE(?, CURRENT_TIMESTAMP))",
                    (graph_id, name, json.dumps(definition), when, when))

    def start_execution(self, execution_id: str, graph_id: str, workflow_id: str | None, node_ids: list[str],
                        when: str | None = None) -> None:
        self._write("INSERT INTO graph_executions (id, workflow_id, graph_id, status, started_at) "
                    "VALUES (?, ?, ?, 'running', COALESCE(?, CURRENT_TIMESTAMP))",
                    (execution_id, workflow_id, graph_id, when))
        for node_id in node_ids:
            self._write("INSERT INTO node_executions (execution_id, node_id, node_type, status) "
                        "VALUES (?, ?, 'task', 'pending')", (execution_id, node_id))
        self.execution_event(execution_id, "execution_started", status="running", when=when)

    def set_node(self, execution_id: str, node_id: str, status: str, *, output: dict[str, Any] | None = None,
                 error: str | None = None, when: str | None = None) -> None:
        if status == "pending":  # a loop resets the node for another iteration
            self._write("UPDATE node_executions SET output_data = NULL, error = NULL, started_at = NULL, "
                        "completed_at = NULL WHERE execution_id = ? AND node_id = ?", (execution_id, node_id))
        started = when if status == "running" else None
        completed = when if status in ("completed", "failed", "skipped") else None
        self._write("UPDATE node_executions SET status = ?, output_data = COALESCE(?, output_data), "
                    "error = COALESCE(?, error), version = version + 1, started_at = COALESCE(?, started_at), "
                    "completed_at = COALESCE(?, completed_at) WHERE execution_id = ? AND node_id = ?",
                    (status, _json(output), error, started, completed, execution_id, node_id))
        self.execution_event(execution_id, f"node_{status}", node_id=node_id, status=status, when=when)

    def count_loop(self, execution_id: str, loop_key: str) -> None:
        self._write("INSERT INTO loop_counters (execution_id, loop_key, iteration_count) VALUES (?, ?, 1) "
                    "ON CONFLICT DO UPDATE SET iteration_count = iteration_count + 1", (execution_id, loop_key))

    def finish_execution(self, execution_id: str, status: str, error: str | None = None,
                         when: str | None = None) -> None:
        self._write("UPDATE graph_executions SET status = ?, error = ?, completed_at = COALESCE(?, CURRENT_TIMESTAMP) "
                    "WHERE id = ?", (status, error, when, execution_id))
        self.execution_event(execution_id, f"execution_{status}", status=status, when=when)

    def execution_event(self, execution_id: str, event_type: str, *, node_id: str | None = None,
                        status: str | None = None, payload: dict[str, Any] | None = None,
                        when: str | None = None) -> None:
        self._write("INSERT INTO execution_events (execution_id, node_id, node_type, event_type, status, payload, "
                    "timestamp) VALUES (?, ?, ?, ?, ?, ?, COALESCE(?, CURRENT_TIMESTAMP))",
                    (execution_id, node_id, "task" if node_id else None, event_type, status,
                     json.dumps(payload or {}), when))
