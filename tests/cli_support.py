"""Helpers for the command-line tests: run ``evstore`` as a user would, either in-process
with click's runner (fast) or as a real process (exit statuses of the console entry
point), on real database files."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from evstore._cli import cli

EVSTORE = [sys.executable, "-m", "evstore"]
# Two small first-party plugins: fast stores with real projections and validation.
PLUGINS = "workflows,steps"


def run(*args: str | Path, input: str | bytes | None = None, **env: str | None) -> Result:
    """``evstore ARGS`` in-process. EVSTORE_PLUGINS defaults to PLUGINS and EVSTORE_DB is
    unset unless given, so the caller's environment cannot leak in."""
    environment: dict[str, str | None] = {"EVSTORE_PLUGINS": PLUGINS, "EVSTORE_DB": None}
    environment.update(env)
    return CliRunner().invoke(cli, [str(a) for a in args], input=input, env=environment)


def run_process(
    *args: str | Path, input: str | None = None, cwd: Path | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    """``python -m evstore ARGS`` in a child process."""
    environment = {k: v for k, v in os.environ.items() if k != "EVSTORE_DB"}
    environment.update({"EVSTORE_PLUGINS": PLUGINS, **env})
    return subprocess.run(
        [*EVSTORE, *map(str, args)], input=input, capture_output=True, text=True, env=environment,
        cwd=cwd, check=False, timeout=120,
    )


def assert_clean_error(result: Result, *fragments: str) -> None:
    """Exit status 2, a one-line message on stderr naming ``fragments``, no traceback."""
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in result.stderr, (fragment, result.stderr)


def event(workflow_id: str, event_type: str, **fields: Any) -> dict[str, Any]:
    return {"workflow_id": workflow_id, "event_type": event_type, **fields}


def jsonl(*events: Mapping[str, Any]) -> str:
    return "".join(json.dumps(e) + "\n" for e in events)


def sample_history() -> list[dict[str, Any]]:
    """A few workflows through the workflows and steps plugins' event types."""
    history = []
    for n in range(3):
        wf = f"wf-{n}"
        history += [
            event(wf, "workflow_started", payload={"initial_step": "plan", "context": {"n": n, "name": "café"}}),
            event(wf, "step_started", step_id="plan", role="planner", metadata={"correlation_id": f"c{n}"}),
            event(wf, "step_completed", step_id="plan", payload={"output": {"ok": True, "score": 0.5}}),
            event(wf, "step_started", step_id="build", role="builder"),
        ]
    history.append(event("wf-0", "workflow_completed"))
    return history


def init_with_history(db: Path, history: list[dict[str, Any]] | None = None) -> None:
    result = run("--db", db, "append", "-", input=jsonl(*(sample_history() if history is None else history)))
    assert result.exit_code == 0, result.output


def table_rows(db: Path, table: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return sorted(conn.execute(f"SELECT * FROM {table}").fetchall(), key=repr)


def event_count(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM events").fetchone()[0])


FLAKY_PLUGIN = '''
import os

from evstore import EventType, Migration, Projection, hookimpl

evstore_plugin_name = "flaky"
projection = Projection(
    "flaky", 1, tables=("flaky_rows",),
    migrations=[Migration("create", "CREATE TABLE flaky_rows (position INTEGER PRIMARY KEY, note TEXT)")],
)


@projection.on("flaky_event")
def _record(db, event):
    # Fails on payloads marked boom until the operator "fixes" it (FLAKY_FIXED=1).
    if event.payload.get("boom") and os.environ.get("FLAKY_FIXED") != "1":
        raise RuntimeError("boom at " + str(event.id))
    db.execute("INSERT INTO flaky_rows VALUES (?, ?)", (event.id, event.payload.get("note")))


@hookimpl
def evstore_register_event_types(register):
    register(EventType("flaky_event"))


@hookimpl
def evstore_register_projections(register):
    register(projection)
'''


def install_flaky_plugin(site: Path) -> str:
    """Make an installed-looking distribution ``evstore-flaky`` in ``site`` (put it on
    sys.path or PYTHONPATH). Its module name is unique so no test sees another's."""
    module = f"flaky_{uuid.uuid4().hex[:8]}"
    dist = site / "evstore_flaky-0.1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: evstore-flaky\nVersion: 0.1.0\n")
    (dist / "entry_points.txt").write_text(f"[evstore]\nflaky = {module}\n")
    (site / f"{module}.py").write_text(FLAKY_PLUGIN)
    return module
