"""``evstore demo``: a supervisor run on an embedded SQLite file, then its projections."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

import evstore_checkpoints
import evstore_graph
import evstore_metrics
import evstore_steps
from evstore.cli import database_path, db_option, echo_json

from ._database import Database
from ._demo import LOOP_KEY, MIN_SAMPLES, TASK_ROLES, DemoRun, run_demo


@click.command("demo", short_help="Simulate a supervisor run and show its projections.")
@db_option
@click.option("--json", "as_json", is_flag=True, help="Print what the run made as JSON instead of tables.")
def demo_command(db: Path | str | None, as_json: bool) -> None:
    """Simulate a realistic supervisor run through the drop-in Database: a feature with
    two phases and four components worked by backend and frontend roles, steps with
    gates, a retry and an approval, metrics from three CLIs, checkpoints, and a graph
    execution whose two branches are claimed by two workers in parallel and whose review
    loops once. Then show the projections as tables, the cascade the features plugin
    appended (with what caused each event), the best CLI per task type, and the time it
    took.

    Creates the database if missing. Each run gets ids of its own (demo-1-..., demo-2-...),
    so running it again adds a new run and leaves earlier ones as they were; `evstore
    verify` passes after any number of runs.

    Exit status: 0 ok; 2 the database cannot be opened or written.
    """
    path = database_path(db)
    with Database(path) as database:
        run = run_demo(database)
        report = _report(database, run)
    if as_json:
        echo_json({"database": str(path), **report})
    else:
        _show(report, path)


def _report(db: Database, run: DemoRun) -> dict[str, Any]:
    """Everything shown, read back from the projections in one snapshot."""
    store = db.store
    with store.snapshot():
        feature = db.get_feature(run.feature_id)
        assert feature is not None  # the run just created it
        phases = {phase.id: phase for phase in db.get_phases(run.feature_id)}
        components = [
            {"phase": phases[c.phase_id].title, "phase_status": phases[c.phase_id].status.value, "id": c.id,
             "title": c.title, "role": c.assigned_role, "depends_on": c.depends_on, "status": c.status.value}
            for c in db.get_components(run.feature_id)
        ]
        steps = [
            {"id": s.id, "role": s.role, "status": s.status.value, "gates": s.gates, "retries": s.retry_count}
            for s in evstore_steps.list_steps(store, run.workflow_id)
        ]
        checkpoints = [
            {"id": c["id"], "step": c["step_id"], "git_sha": c["git_sha"], "status": c["status"],
             "context": c["context"]}
            for c in evstore_checkpoints.list_checkpoints(store, run.workflow_id)
        ]
        execution = evstore_graph.get_execution(store, run.execution_id)
        assert execution is not None
        nodes = [
            {"node": n.node_id, "type": n.node_type, "status": n.status, "version": n.version, "worker": n.claimed_by}
            for n in evstore_graph.list_nodes(store, run.execution_id)
        ]
        report = {
            "run": run.number,
            "workflow": run.workflow_id,
            "feature": {"id": feature.id, "title": feature.title, "status": feature.status.value},
            "components": components,
            "steps": steps,
            "cascade": _cascade(db, run),
            "metrics": _metrics(db),
            "checkpoints": checkpoints,
            "graph": {
                "execution": run.execution_id, "status": execution.status, "graph_version": execution.graph_version,
                "nodes": nodes, "loop_iterations": {LOOP_KEY: evstore_graph.get_loop_count(store, run.execution_id,
                                                                                           LOOP_KEY)},
                "ran_by": run.ran_by, "most_running_at_once": _most_running(db, run),
            },
            "events_appended": run.events_appended,
            "events_in_store": store.head(),
            "seconds": round(run.seconds, 3),
        }
    return report


def _cascade(db: Database, run: DemoRun) -> list[dict[str, Any]]:
    """The events the cascade reactor appended on the feature's stream, each with the
    event that caused it (its ``causation_id`` metadata)."""
    events = db.store.read(run.feature_id)
    by_event_id = {event.event_id: event for event in events}
    cascade = []
    for event in events:
        cause_id = event.metadata.get("causation_id")
        if cause_id is None:
            continue
        cause = by_event_id.get(cause_id)
        cascade.append({
            "position": event.id, "event": event.event_type,
            "target": event.payload.get("phase_id") or event.payload.get("feature_id"),
            "caused_by": None if cause is None else {
                "position": cause.id, "event": cause.event_type,
                "target": cause.component_id or cause.payload.get("phase_id"),
            },
        })
    return cascade


def _metrics(db: Database) -> list[dict[str, Any]]:
    rows = []
    for task_type in TASK_ROLES:
        best = evstore_metrics.best_cli(db.store, task_type, min_samples=MIN_SAMPLES)
        for stats in evstore_metrics.compare_clis(db.store, task_type):
            rows.append({
                "task_type": task_type, "cli": stats.cli, "samples": stats.samples,
                "success_rate": round(stats.success_rate, 3), "avg_duration": round(stats.avg_duration, 1),
                "avg_retries": round(stats.avg_retries, 2), "best": stats.cli == best,
            })
    return rows


def _most_running(db: Database, run: DemoRun) -> int:
    """The most nodes that were running at the same time, from the execution's events."""
    running = most = 0
    for event in db.store.read(evstore_graph.execution_stream(run.execution_id)):
        if event.event_type == "node_claimed":
            running += 1
            most = max(most, running)
        elif event.event_type in ("node_completed", "node_failed", "node_reclaimed"):
            running -= 1
    return most


# --- display ---------------------------------------------------------------------------------


def _show(report: dict[str, Any], path: Path) -> None:
    console = Console(highlight=False, width=None if Console().is_terminal else 110)
    feature = report["feature"]
    console.print(f"[bold]evstore demo[/bold]: supervisor run {report['run']} on {path}")
    console.print(f"workflow {report['workflow']}, feature {feature['id']} "
                  f"'{feature['title']}': [bold]{feature['status']}[/bold]")
    console.print(_table(
        "Plan: phases and components", ["phase", "component", "title", "role", "depends on", "status"],
        [[f"{c['phase']} ({c['phase_status']})", c["id"], c["title"], c["role"], ", ".join(c["depends_on"]),
          c["status"]] for c in report["components"]],
    ))
    console.print(_table(
        "Steps", ["step", "role", "status", "gates", "retries"],
        [[s["id"], s["role"], s["status"], ", ".join(s["gates"]), s["retries"]] for s in report["steps"]],
    ))
    console.print(_table(
        "Cascade: what the features plugin appended, and why", ["#", "event", "of", "caused by"],
        [[c["position"], c["event"], c["target"], _cause(c["caused_by"])] for c in report["cascade"]],
    ))
    console.print(_table(
        f"Metrics: the best CLI per task type (★, at least {MIN_SAMPLES} samples)",
        ["task type", "cli", "samples", "success", "avg duration", "avg retries", "best"],
        [[m["task_type"], m["cli"], m["samples"], f"{m['success_rate']:.0%}", f"{m['avg_duration']:.1f}s",
          f"{m['avg_retries']:.2f}", "★" if m["best"] else ""] for m in report["metrics"]],
    ))
    console.print(_table(
        "Checkpoints", ["id", "step", "git sha", "status", "context"],
        [[c["id"], c["step"], c["git_sha"], c["status"], str(c["context"])] for c in report["checkpoints"]],
    ))
    graph = report["graph"]
    console.print(_table(
        f"Graph execution {graph['execution']} ({graph['status']}, graph version {graph['graph_version']})",
        ["node", "type", "status", "version", "worker"],
        [[n["node"], n["type"], n["status"], n["version"], n["worker"] or ""] for n in graph["nodes"]],
    ))
    console.print(f"loop '{LOOP_KEY}' taken {graph['loop_iterations'][LOOP_KEY]} time(s); "
                  f"at most {graph['most_running_at_once']} nodes running at once")
    for worker, nodes in graph["ran_by"].items():
        console.print(f"  {worker} ran {', '.join(nodes) or 'nothing'}")
    console.print(
        f"\n{report['events_appended']:,} events appended in {report['seconds']:.2f}s; "
        f"the store holds {report['events_in_store']:,}."
    )
    console.print("Run the demo again for another run. Check that every table matches a rebuild:")
    console.print(f"  evstore --db {shlex.quote(str(path))} verify")


def _cause(cause: dict[str, Any] | None) -> str:
    if cause is None:
        return "(not on this stream)"
    return f"#{cause['position']} {cause['event']} {cause['target'] or ''}".rstrip()


def _table(title: str, columns: list[str], rows: list[list[Any]]) -> Table:
    table = Table(title=title, title_justify="left", title_style="bold")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(str(value) if value is not None else "" for value in row))
    return table
