"""``evstore verify``: projections compared row by row with a rebuild in a scratch copy."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import psycopg
import pytest
from cli_support import init_with_history, run, run_process, sample_history, table_rows

from evstore import EventStore, EventType, Migration, NewEvent, Projection, hookimpl
from evstore.testing import TargetFactory


def _verify_json(db: Path | str, *names: str) -> tuple[int, dict[str, Any]]:
    result = run("--db", db, "verify", "--json", *names)
    assert result.exit_code in (0, 1), result.output
    return result.exit_code, json.loads(result.stdout)


def test_verify_passes_on_an_untouched_store(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    init_with_history(db)
    code, report = _verify_json(db)
    assert code == 0 and report["ok"] is True
    assert [(p["name"], p["ok"], p["tables"]) for p in report["projections"]] == [
        ("steps", True, []), ("workflows", True, []),
    ]
    text = run("--db", db, "verify")
    assert text.exit_code == 0 and "steps: matches its rebuild" in text.stdout


def test_verify_finds_tampered_rows_and_leaves_the_live_store_alone(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    init_with_history(db)
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE steps SET role = 'intruder' WHERE id = 'plan'")
        conn.execute("DELETE FROM steps WHERE id = 'build'")
        conn.execute(
            "INSERT INTO steps (id, workflow_id, status, created_at, updated_at, created_position) "
            "VALUES ('ghost', 'wf-9', 'done', 'then', 'then', 99)"
        )
    tampered = table_rows(db, "steps"), table_rows(db, "workflows")

    code, report = _verify_json(db)
    assert code == 1 and report["ok"] is False
    steps, workflows = report["projections"]
    assert workflows == {**workflows, "name": "workflows", "ok": True, "tables": []}
    assert (steps["name"], steps["ok"]) == ("steps", False)
    (table,) = steps["tables"]
    assert (table["table"], table["only_live"], table["only_rebuilt"]) == ("steps", 2, 2)
    assert {(r["id"], r["role"]) for r in table["sample_live"]} == {("plan", "intruder"), ("ghost", None)}
    assert {(r["id"], r["role"]) for r in table["sample_rebuilt"]} == {("plan", "planner"), ("build", "builder")}
    # verify reports; it does not repair, and it leaves no scratch files behind.
    assert (table_rows(db, "steps"), table_rows(db, "workflows")) == tampered
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("store.db")) == []

    text = run("--db", db, "verify", "steps")
    assert text.exit_code == 1
    assert "steps: DIFFERS from its rebuild" in text.stdout
    assert "2 row(s) only in the live table, 2 only in the rebuild" in text.stdout
    assert "role: live 'intruder', rebuilt 'planner'" in text.stdout
    assert "only live:" in text.stdout and "'ghost'" in text.stdout
    assert "workflows" not in text.stdout  # only the named projection was checked


def test_verify_reports_a_table_whose_columns_differ(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    init_with_history(db, sample_history()[:1])
    with sqlite3.connect(db) as conn:
        conn.execute("ALTER TABLE workflows DROP COLUMN error")
    code, report = _verify_json(db, "workflows")
    assert code == 1
    (table,) = report["projections"][0]["tables"]
    assert "error" not in table["columns_live"] and "error" in table["columns_rebuilt"]
    text = run("--db", db, "verify", "workflows")
    assert text.exit_code == 1 and "columns differ" in text.stdout


def test_verify_exit_status_from_the_console_entry_point(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    init_with_history(db)
    assert run_process("--db", db, "verify").returncode == 0
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE workflows SET status = 'odd'")
    result = run_process("--db", db, "verify", "workflows")
    assert result.returncode == 1, result.stderr
    assert "DIFFERS" in result.stdout


class _Peeker:
    """Two projections where the first decides from the second's table while the log
    replays: live (and rebuilt together) it sees the second as of each event; rebuilt
    alone, the second is already at the head. Only a rebuild alone shows the fault."""

    evstore_plugin_name = "peeker"

    @hookimpl
    def evstore_register_event_types(self, register: Any) -> None:
        register(EventType("ticked"))

    @hookimpl
    def evstore_register_projections(self, register: Any) -> None:
        peeking = Projection("a_peeking", tables=["peeked"], migrations=[
            Migration("1", "CREATE TABLE peeked (id INTEGER PRIMARY KEY, seen INTEGER)")
        ])
        counter = Projection("b_counter", tables=["ticks"], migrations=[
            Migration("1", "CREATE TABLE ticks (id INTEGER PRIMARY KEY)")
        ])

        @peeking.on("ticked")
        def peek(db: Any, event: Any) -> None:
            seen = db.fetchvalue("SELECT COUNT(*) FROM ticks")  # another projection's table
            db.execute("INSERT INTO peeked VALUES (?, ?)", (event.id, seen))

        @counter.on("ticked")
        def count(db: Any, event: Any) -> None:
            db.execute("INSERT INTO ticks VALUES (?)", (event.id,))

        register(peeking)
        register(counter)


def test_verify_rebuilds_each_projection_alone(tmp_path: Path, evstore_register_plugin: Any) -> None:
    evstore_register_plugin(_Peeker(), "peeker")
    db = tmp_path / "store.db"
    with EventStore.open(db, plugins=[_Peeker()], autoload=False) as store:
        store.append_many([NewEvent(workflow_id="w", event_type="ticked") for _ in range(3)])
        store.rebuild()  # all together: the same as live, so no help
    result = run("--db", db, "verify", "--json", EVSTORE_PLUGINS="peeker")
    code, report = result.exit_code, json.loads(result.stdout)
    assert code == 1, report
    assert {p["name"]: p["ok"] for p in report["projections"]} == {"a_peeking": False, "b_counter": True}


@pytest.mark.evstore_backends("postgresql")
def test_verify_on_a_postgresql_store(evstore_target_factory: TargetFactory) -> None:
    """Pulled down into a SQLite scratch file (log and live rows from one snapshot) and
    rebuilt there: a match passes, tampered rows on the server are found."""
    url = evstore_target_factory()
    init_with_history(url)
    result = run("--db", url, "verify")
    assert result.exit_code == 0, result.output
    assert "steps: matches its rebuild" in result.stdout and "workflows: matches its rebuild" in result.stdout
    schema = evstore_target_factory.schema()
    with psycopg.connect(evstore_target_factory.postgres_url, autocommit=True) as conn:
        conn.execute(f"UPDATE \"{schema}\".steps SET role = 'intruder' WHERE id = 'plan'")
    code, report = _verify_json(url, "steps")
    assert code == 1
    (table,) = report["projections"][0]["tables"]
    assert {(r["id"], r["role"]) for r in table["sample_live"]} == {("plan", "intruder")}
