"""``evstore demo``, run as a user would, on real files."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from supervisor_cli_support import assert_clean_error, json_output, run, run_process

from evstore_supervisor import Database


def _demo(*args: str | Path, **env: str | None) -> dict[str, Any]:
    result = run(*args, **env)
    assert result.exit_code == 0, (result.output, result.exception)
    report: dict[str, Any] = json_output(result)
    return report


def test_a_run_shows_the_supervisor_work_it_simulated(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    report = _demo("--db", db, "demo", "--json")

    assert (report["run"], report["workflow"], report["database"]) == (1, "demo-1", str(db))
    assert report["feature"] == {"id": "demo-1-F1", "title": "Sign in with passkeys", "status": "completed"}
    components = {c["id"]: c for c in report["components"]}
    assert {c["status"] for c in components.values()} == {"completed"}
    assert {c["role"] for c in components.values()} == {"backend", "frontend"}
    assert components["demo-1-C4"]["depends_on"] == ["demo-1-C1", "demo-1-C2"]  # the remap
    steps = {s["id"]: s for s in report["steps"]}
    assert [s["status"] for s in steps.values()] == ["completed"] * 3
    assert steps["demo-1-implement"] == {**steps["demo-1-implement"], "retries": 1, "gates": ["tests", "lint"]}

    # The cascade: the failed component failed its phase, the rework completed it, and the
    # last component completed the second phase and with it the feature.
    cascade = [(c["event"], c["target"], c["caused_by"]["event"], c["caused_by"]["target"])
               for c in report["cascade"]]
    assert cascade == [
        ("phase_failed", "demo-1-P1", "component_failed", "demo-1-C2"),
        ("phase_completed", "demo-1-P1", "component_completed", "demo-1-C2"),
        ("phase_completed", "demo-1-P2", "component_completed", "demo-1-C4"),
        ("feature_completed", "demo-1-F1", "phase_completed", "demo-1-P2"),
    ]
    assert all(c["caused_by"]["position"] < c["position"] for c in report["cascade"])

    best = {m["task_type"]: m["cli"] for m in report["metrics"] if m["best"]}
    assert best == {"plan": "claude", "implement": "codex", "review": "gemini"}
    assert {m["samples"] for m in report["metrics"]} == {4}
    assert [(c["step"], c["git_sha"]) for c in report["checkpoints"]] == [
        ("demo-1-plan", "3f9c2a1"), ("demo-1-implement", "8d41e07")]

    graph = report["graph"]
    assert graph["status"] == "completed" and graph["loop_iterations"] == {"rework": 1}
    assert {n["node"]: n["status"] for n in graph["nodes"]} == dict.fromkeys(
        ["plan", "backend", "frontend", "integrate", "review", "merge"], "completed")
    # Both workers ran a branch, at the same time; the loop ran integrate and review twice.
    assert graph["most_running_at_once"] == 2
    ran = [node for nodes in graph["ran_by"].values() for node in nodes]
    assert all(graph["ran_by"].values())
    assert sorted(ran) == sorted(["plan", "backend", "frontend", "integrate", "review", "integrate", "review",
                                  "merge"])
    assert report["events_appended"] == report["events_in_store"] > 50


def test_running_it_again_adds_a_new_run_and_the_store_verifies(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    first = _demo("--db", db, "demo", "--json")
    second = _demo("demo", "--db", db, "--json")
    assert (first["run"], second["run"]) == (1, 2)
    assert second["feature"]["id"] == "demo-2-F1" and second["graph"]["graph_version"] == 2
    assert second["events_in_store"] == first["events_in_store"] + second["events_appended"]
    # Metrics of both runs count for routing.
    assert {m["samples"] for m in second["metrics"]} == {8}

    verify = run("--db", db, "verify")
    assert verify.exit_code == 0, verify.output
    with Database(db, autoload=False) as database:
        first_feature = database.get_feature("demo-1-F1")
        assert first_feature is not None and first_feature.status == "completed"
        assert len(database.get_components("demo-1-F1")) == len(database.get_components("demo-2-F1")) == 4


def test_the_tables_and_summary_are_printed(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    result = run("--db", db, "demo")
    assert result.exit_code == 0, result.output
    for heading in ("Plan: phases and components", "Steps", "Cascade", "Metrics", "Checkpoints",
                    "Graph execution demo-1-x"):
        assert heading in result.stdout
    assert "feature_completed" in result.stdout and "#" in result.stdout
    assert "events appended in" in result.stdout and f"evstore --db {db} verify" in result.stdout


def test_the_database_comes_from_evstore_db_or_the_default(tmp_path: Path) -> None:
    from_env = tmp_path / "env.db"
    assert _demo("demo", "--json", EVSTORE_DB=str(from_env))["database"] == str(from_env)
    assert from_env.exists()

    done = run_process("demo", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / ".evstore" / "store.db").exists()
    assert "Graph execution demo-1-x" in done.stdout


def test_a_damaged_database_is_a_clean_error(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not a database, just some text" * 200)
    assert_clean_error(run("--db", garbage, "demo"), str(garbage))

    folder = tmp_path / "folder"
    folder.mkdir()
    assert_clean_error(run("--db", folder, "demo"), "is a directory")


def test_a_store_with_other_data_keeps_it(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    with Database(db, autoload=False) as database:
        database.create_feature("F-mine", "Mine")
    _demo("--db", db, "demo", "--json")
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT title, status FROM features WHERE id = 'F-mine'").fetchone() == ("Mine", "planning")


def test_the_commands_are_listed_when_the_plugin_is_installed() -> None:
    result = run("--help")
    assert result.exit_code == 0
    assert "demo" in result.stdout and "import-seed" in result.stdout
    # A plugin can be switched off; its commands go with it.
    assert "import-seed" not in run("--help", EVSTORE_DISABLE_PLUGINS="supervisor").stdout
