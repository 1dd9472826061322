"""``evstore import-seed``, run as a user would, on real original databases."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections import Counter
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from original_supervisor import OriginalSupervisor
from supervisor_cli_support import assert_clean_error, json_output, run, run_process

from evstore_supervisor import Database

NOW = datetime.now(UTC).replace(microsecond=0)
START = NOW - timedelta(days=2)
GRAPH = {
    "nodes": [{"id": "plan"}, {"id": "code"}, {"id": "test"}, {"id": "ship"}],
    "edges": [
        {"source": "plan", "target": "code"},
        {"source": "code", "target": "test"},
        {"source": "test", "target": "ship"},
        {"source": "test", "target": "code", "loop_key": "fix", "max_iterations": 3, "condition": "failure"},
    ],
}


# The original's three time formats (defect 9).
def sqlite_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")  # CURRENT_TIMESTAMP: UTC without a zone


def naive_iso(moment: datetime) -> str:
    return moment.replace(tzinfo=None).isoformat()


def zoned_iso(moment: datetime) -> str:
    return moment.astimezone(timezone(timedelta(hours=2))).isoformat()


def at(minutes: int) -> datetime:
    return START + timedelta(minutes=minutes)


def build_seed(path: Path) -> None:
    """A supervisor history as the original would have left it: a logged workflow, a
    feature worked through events, statuses and dependencies set in place, its cascade,
    checkpoints, metrics from two CLIs, and a graph execution that looped once."""
    o = OriginalSupervisor(path)
    o.append_event("wf-1", "workflow_started", payload={"initial_step": "plan", "context": {"repo": "app"}},
                   when=sqlite_time(at(0)))
    o.append_event("wf-1", "step_started", step_id="plan", role="planner", payload={"gates": ["review"]},
                   when=naive_iso(at(1)))
    o.append_event("wf-1", "gate_passed", step_id="plan", payload={"gate": "review"}, when=zoned_iso(at(2)))
    o.append_event("wf-1", "step_completed", step_id="plan", payload={"output": {"ok": True}}, when=zoned_iso(at(3)))
    o.append_event("wf-1", "step_started", step_id="impl", role="implementer", when=sqlite_time(at(4)))
    o.update_step("impl", "awaiting_approval", output={"diff": 3})  # never logged (defect 2)

    o.create_feature("F1", "Sign in", "Passkeys", when=sqlite_time(at(5)))
    o.create_phase("F1-P1", "F1", "Backend", 1, when=sqlite_time(at(5)),
                   interfaces=[{"name": "API", "type": "http", "definition": "POST /x", "locked": True}])
    o.create_phase("F1-P2", "F1", "Frontend", 2, when=sqlite_time(at(5)))
    for component, phase in (("C1", "F1-P1"), ("C2", "F1-P1"), ("C10", "F1-P2")):
        o.create_component(component, phase, f"component {component}", files=[f"{component}.py"],
                           when=sqlite_time(at(6)))
    o.update_component_dependencies("C10", ["C1", "C2"])  # a remap, never logged
    o.append_event("F1", "component_started", component_id="C1", when=sqlite_time(at(10)))
    o.append_event("F1", "component_completed", component_id="C1", payload={"output": {"tests": 4}},
                   when=sqlite_time(at(11)))
    o.append_event("F1", "component_completed", component_id="C2", when=sqlite_time(at(12)))  # the cascade
    o.update_component("C10", "review")
    o.create_feature("F2", "Dark mode", when=sqlite_time(at(13)))
    o.update_feature_status("F2", "review")

    o.create_checkpoint("wf-1", "plan", "abc123", {"after": "plan"}, when=sqlite_time(at(3)))
    o.create_checkpoint("wf-1", "impl", "def456", {"after": "impl"}, when=sqlite_time(at(3)))  # same second
    for n in range(6):
        formats = (sqlite_time, naive_iso, zoned_iso)
        o.record_metric("implementer", ("claude", "codex")[n % 2], "wf-1", n % 3 != 0, 10.0 + n,
                        task_type="implement", retry_count=n % 2, token_usage=1000 * n,
                        when=formats[n % 3](NOW - timedelta(hours=n + 1)))

    o.save_graph("g1", "pipeline", GRAPH, when=sqlite_time(at(20)))
    o.start_execution("x1", "g1", "wf-1", ["plan", "code", "test", "ship"], when=sqlite_time(at(20)))
    for node in ("plan", "code", "test"):
        o.set_node("x1", node, "running", when=sqlite_time(at(21)))
        o.set_node("x1", node, "failed" if node == "test" else "completed", error="2 tests failed" if node == "test"
                   else None, output=None if node == "test" else {"node": node}, when=sqlite_time(at(22)))
    o.count_loop("x1", "fix")
    for node in ("code", "test"):
        o.set_node("x1", node, "pending")
    o.set_node("x1", "code", "running", when=sqlite_time(at(23)))
    o.set_node("x1", "code", "completed", output={"node": "code", "attempt": 2}, when=sqlite_time(at(24)))
    o.set_node("x1", "test", "running", when=sqlite_time(at(25)))
    o.close()


def _rows(path: Path, sql: str) -> list[sqlite3.Row]:
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def _import(source: Path, target: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    result = run("--db", target, "import-seed", source, "--json", *extra)
    assert result.exit_code in (0, 1), (result.output, result.exception)
    report: dict[str, Any] = json_output(result)
    return result.exit_code, report


@pytest.fixture
def seed(tmp_path: Path) -> Path:
    path = tmp_path / "state.db"
    build_seed(path)
    return path


def test_the_imported_store_answers_the_originals_queries(seed: Path, tmp_path: Path) -> None:
    target = tmp_path / "store.db"
    before = hashlib.sha256(seed.read_bytes()).hexdigest()
    code, report = _import(seed, target)
    assert code == 0, report
    assert hashlib.sha256(seed.read_bytes()).hexdigest() == before  # the source is only read

    assert report["complete"] is True and report["not_carried"] == [] and report["differences"] == []
    original_events = len(_rows(seed, "SELECT id FROM events"))
    assert report["original_events"] == original_events and report["legacy_events"] == 0
    assert report["synthesized"] == {
        "checkpoints": 2,
        "components": 2,  # C10: the dependency remap and the status set in place
        "execution_events": len(_rows(seed, "SELECT id FROM execution_events")),
        # F2's status set in place; F1 is still planning there, as the original's
        # component_started (unlike evstore's) left the feature alone.
        "features": 2,
        # started, one loop iteration, plan and code ready-claimed-completed, test running
        "graph_executions": 10,
        "graph_workflows": 1,
        "metrics": 6,
        "phases": 2,  # F1-P1 completed by the cascade; F1-P2 still pending there
        "steps": 1,  # impl's status set in place
    }
    assert set(report["compared"]) >= {"features", "phases", "components", "steps", "checkpoints", "metrics"}

    with Database(target, autoload=False) as db:
        for row in _rows(seed, "SELECT * FROM features"):
            feature = db.get_feature(row["id"])
            assert feature is not None and (feature.title, feature.status) == (row["title"], row["status"])
        for row in _rows(seed, "SELECT * FROM phases"):
            phase = db.get_phase(row["id"])
            assert phase is not None and (phase.status, phase.sequence) == (row["status"], row["sequence"])
        for row in _rows(seed, "SELECT * FROM components"):
            component = db.get_component(row["id"])
            assert component is not None
            assert (component.status, component.depends_on) == (row["status"], json.loads(row["depends_on"]))
        assert [c.id for c in db.get_components("F1")] == ["C1", "C2", "C10"]
        for row in _rows(seed, "SELECT * FROM steps"):
            step = db.get_step(row["id"])
            assert step is not None and (step.status, step.role) == (row["status"], row["role"])
        impl = db.get_step("impl")
        assert impl is not None and impl.output == {"diff": 3}

        # The newest checkpoint is the last one written, even within one second (defect 8).
        latest = db.get_latest_checkpoint("wf-1")
        assert latest is not None and (latest["git_sha"], latest["context"]) == ("def456", {"after": "impl"})

        metrics = db.get_metrics(days=30)
        originals = _rows(seed, "SELECT * FROM metrics")
        assert len(metrics) == len(originals)
        assert Counter((m["cli"], m["success"]) for m in metrics) == Counter(
            (row["cli"], row["success"]) for row in originals)
        # Every time is aware UTC now; the zoned and naive ones were converted, not guessed differently.
        assert {m["timestamp"].endswith("+00:00") for m in metrics} == {True}
        times = sorted(datetime.fromisoformat(m["timestamp"]) for m in metrics)
        assert times == sorted(NOW - timedelta(hours=n + 1) for n in range(6))

        execution = db.store.reader.fetchone("SELECT status FROM graph_executions WHERE id = 'x1'")
        assert execution == ("running",)
        nodes = dict(db.store.reader.fetchall("SELECT node_id, status FROM node_executions WHERE execution_id = 'x1'"))
        assert nodes == {"plan": "completed", "code": "completed", "test": "running", "ship": "pending"}
        assert db.store.reader.fetchvalue("SELECT iteration_count FROM loop_counters") == 1
        history = db.get_execution_events("x1")
        assert [e["event_type"] for e in history[:3]] == ["execution_started", "node_running", "node_completed"]

    assert run("--db", target, "verify").exit_code == 0


def test_events_keep_their_order_times_and_provenance(seed: Path, tmp_path: Path) -> None:
    target = tmp_path / "store.db"
    _import(seed, target)
    events = run("--db", target, "events", "--json")
    assert events.exit_code == 0
    stored = [json.loads(line) for line in events.stdout.splitlines()]
    originals = _rows(seed, "SELECT * FROM events ORDER BY id")
    # The log comes first, in its order, at the same positions, with its times in UTC.
    for row, event in zip(originals, stored, strict=False):
        assert (event["id"], event["event_type"], event["workflow_id"]) == (row["id"], row["event_type"],
                                                                             row["workflow_id"])
        assert event["metadata"] == {"imported_from": "seed", "source_table": "events", "source_id": row["id"]}
    assert stored[0]["timestamp"] == at(0).isoformat(timespec="microseconds")  # from "YYYY-MM-DD HH:MM:SS"
    assert stored[2]["timestamp"] == at(2).isoformat(timespec="microseconds")  # from +02:00
    # Then the state the original never logged, each event saying where it came from.
    remap = [e for e in stored if e["event_type"] == "component_dependencies_set"]
    assert [(e["component_id"], e["payload"], e["metadata"]) for e in remap] == [
        ("C10", {"depends_on": ["C1", "C2"]},
         {"imported_from": "seed", "source_table": "components", "source_id": "C10"}),
    ]
    cascade = [(e["event_type"], e["payload"]) for e in stored if e["metadata"].get("source_table") == "phases"]
    assert cascade == [("phase_completed", {"phase_id": "F1-P1"}),
                       ("phase_status_changed", {"phase_id": "F1-P2", "status": "pending"})]
    # Reactors were off: nothing the cascade reactor would have appended.
    assert not [e for e in stored if "causation_id" in e["metadata"]]


def test_importing_the_same_source_again_appends_nothing(seed: Path, tmp_path: Path) -> None:
    target = tmp_path / "store.db"
    _import(seed, target)
    head = len(_rows(target, "SELECT id FROM events"))
    code, again = _import(seed, target)
    assert code == 0 and again["already_imported"] is True and again["events_appended"] == 0
    assert len(_rows(target, "SELECT id FROM events")) == head
    text = run("--db", target, "import-seed", seed)
    assert text.exit_code == 0 and "was already imported" in text.stdout


def test_refused_and_ignored_events_are_kept_as_legacy_events(tmp_path: Path) -> None:
    source = tmp_path / "state.db"
    o = OriginalSupervisor(source)
    o.append_event("wf", "workflow_started", payload={"initial_step": "a"})
    o.append_event("wf", "step_started", step_id="a")  # no role: the original dropped the step too
    o.append_event("wf", "checkpoint_created", step_id="a", payload={"git_sha": "abc", "context": {}})
    o.append_event("wf", "custom_signal", payload={"level": 3})  # a type no plugin declares
    o.create_checkpoint("wf", "a", "abc", {})
    o.close()

    code, report = _import(source, tmp_path / "store.db")
    assert code == 0, report
    assert (report["original_events"], report["legacy_events"]) == (2, 2)
    assert report["unknown_event_types"] == {"custom_signal": 1}
    with Database(tmp_path / "store.db", autoload=False) as db:
        kept = [e for e in db.get_events("wf") if e.event_type == "legacy_event"]
        assert [e.payload["event_type"] for e in kept] == ["step_started", "checkpoint_created"]
        assert "requires role" in kept[0].payload["reason"]
        assert db.get_step("a") is None
        # One checkpoint, from the table: the logged checkpoint_created added no second one.
        assert db.store.reader.fetchvalue("SELECT COUNT(*) FROM checkpoints") == 1
        assert "custom_signal" in [e.event_type for e in db.get_events("wf")]


def test_what_cannot_be_carried_over_is_listed_and_exits_1(seed: Path, tmp_path: Path) -> None:
    conn = sqlite3.connect(seed)
    with conn:
        conn.execute("PRAGMA foreign_keys = OFF")
        conn.execute("INSERT INTO graph_workflows (id, name, definition) VALUES ('g-old', 'old', "
                     "'{\"steps\": [\"a\", \"b\"]}')")
        conn.execute("INSERT INTO metrics (timestamp, role, cli, success, duration_seconds) "
                     "VALUES ('last tuesday', 'tester', 'claude', 1, 3.5)")
        conn.execute("INSERT INTO components (id, phase_id, title, status) VALUES ('C-lost', 'P-gone', 'x', "
                     "'pending')")
    conn.close()
    target = tmp_path / "store.db"
    code, report = _import(seed, target)
    assert code == 1 and report["complete"] is False
    problems = {(p["table"], p["id"]): p["reason"] for p in report["not_carried"]}
    assert "does not fit evstore-graph" in problems[("graph_workflows", "g-old")]
    assert "references unknown phase 'P-gone'" in problems[("components", "C-lost")]
    [reason] = [r for (table, _), r in problems.items() if table == "metrics"]
    assert "'last tuesday' is not a time" in reason
    # Everything else still arrived, and the rest answers as the original.
    assert report["differences"] == [] and report["synthesized"]["metrics"] == 7

    text = run("--db", tmp_path / "again.db", "import-seed", seed)
    assert text.exit_code == 1
    assert "could not be carried over (3):" in text.stdout and "graph_workflows g-old" in text.stdout


def test_a_missing_or_foreign_source_is_a_clean_error(tmp_path: Path) -> None:
    target = tmp_path / "store.db"
    assert_clean_error(run("--db", target, "import-seed", tmp_path / "nope.db"), "no file at", "nope.db")
    assert_clean_error(run("--db", target, "import-seed", tmp_path), "is a directory")

    text_file = tmp_path / "notes.txt"
    text_file.write_text("not a database at all\n" * 100)
    assert_clean_error(run("--db", target, "import-seed", text_file), "is not a SQLite database")

    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE todo (id INTEGER PRIMARY KEY, title TEXT)")
    conn.close()
    assert_clean_error(run("--db", target, "import-seed", other), "not an original supervisor database",
                       "no events table", "todo")

    odd = tmp_path / "odd.db"
    with sqlite3.connect(odd) as conn:
        conn.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, what TEXT)")
    conn.close()
    assert_clean_error(run("--db", target, "import-seed", odd), "no workflow_id, event_type column")
    assert not target.exists()  # nothing was created for a source that cannot be read


def test_a_damaged_source_is_a_clean_error(seed: Path, tmp_path: Path) -> None:
    data = bytearray(seed.read_bytes())
    page_size = int.from_bytes(data[16:18], "big")
    assert len(data) > 4 * page_size
    data[page_size:] = b"\xa5" * (len(data) - page_size)  # every page but the schema's
    seed.write_bytes(bytes(data))
    assert_clean_error(run("--db", tmp_path / "store.db", "import-seed", seed), str(seed), "damaged")


def test_a_target_holding_other_events_is_refused(seed: Path, tmp_path: Path) -> None:
    target = tmp_path / "store.db"
    with Database(target, autoload=False) as db:
        db.create_feature("F-mine", "Mine")
    assert_clean_error(run("--db", target, "import-seed", seed), "already holds 1 events", "--db")
    assert len(_rows(target, "SELECT id FROM events")) == 1
    assert_clean_error(run("--db", seed, "import-seed", seed), "is the source")


def test_the_console_command_with_installed_plugins(seed: Path, tmp_path: Path) -> None:
    done = run_process("import-seed", seed, "--json", EVSTORE_DB=str(tmp_path / "store.db"))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["complete"] is True
    missing = run_process("import-seed", tmp_path / "nope.db", EVSTORE_DB=str(tmp_path / "other.db"))
    assert missing.returncode == 2 and "Traceback" not in missing.stderr and "no file at" in missing.stderr
