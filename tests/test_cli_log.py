"""``evstore init``, ``append`` and ``events``, and where the database is (--db,
EVSTORE_DB, the default), run as a user would on real files."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
from cli_support import (
    EVSTORE,
    PLUGINS,
    assert_clean_error,
    event,
    event_count,
    init_with_history,
    jsonl,
    run,
    run_process,
    sample_history,
    table_rows,
)

from evstore import EventStore, NewEvent

# --- init -----------------------------------------------------------------------------------


def test_init_creates_the_folder_and_installs_projections(tmp_path: Path) -> None:
    db = tmp_path / "deep" / "er" / "store.db"
    result = run("--db", db, "init")
    assert result.exit_code == 0, result.output
    assert db.exists()
    assert "created store" in result.stdout
    with sqlite3.connect(db) as conn:
        versions = dict(conn.execute("SELECT name, version FROM evstore_projections").fetchall())
    assert set(versions) == {"steps", "workflows"}
    # The versions are the plugins' own (they change with migrations), as the store recorded them.
    for name, version in versions.items():
        assert f"projection {name} v{version}" in result.stdout


def test_init_is_idempotent(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    init_with_history(db)
    before = event_count(db), table_rows(db, "steps")
    result = run("--db", db, "init")
    assert result.exit_code == 0, result.output
    assert "opened existing store" in result.stdout
    assert (event_count(db), table_rows(db, "steps")) == before


def test_init_refuses_a_directory_and_a_foreign_database(tmp_path: Path) -> None:
    assert_clean_error(run("--db", tmp_path, "init"), "is a directory")
    foreign = tmp_path / "other.db"
    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE customers (id INTEGER)")
    assert_clean_error(run("--db", foreign, "init"), "not an evstore store")


# --- where the database is ------------------------------------------------------------------


def test_db_comes_from_the_root_option_the_environment_or_the_command(tmp_path: Path) -> None:
    first, second, third = tmp_path / "a.db", tmp_path / "b.db", tmp_path / "c.db"
    assert run("--db", first, "init").exit_code == 0
    assert run("init", EVSTORE_DB=str(second)).exit_code == 0
    assert run("init", "--db", third, EVSTORE_DB=str(second)).exit_code == 0
    # The root option wins over the environment; a command's own --db over both.
    assert run("--db", first, "append", "-", input=jsonl(event("wf", "workflow_started")), EVSTORE_DB=str(second)
               ).exit_code == 0
    assert run("--db", first, "append", "--db", third, "-", input=jsonl(event("wf", "workflow_started"))
               ).exit_code == 0
    assert (event_count(first), event_count(second), event_count(third)) == (1, 0, 1)


def test_default_database_is_dot_evstore_in_the_working_directory(tmp_path: Path) -> None:
    result = run_process("init", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / ".evstore" / "store.db").exists()
    result = run_process("status", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["database"] == str(Path(".evstore") / "store.db")


@pytest.mark.parametrize(
    "command",
    [["status"], ["events"], ["export"], ["catch-up"], ["rebuild", "--all"], ["verify"]],
)
def test_read_commands_never_create_a_missing_database(tmp_path: Path, command: list[str]) -> None:
    db = tmp_path / "nowhere" / "store.db"
    result = run("--db", db, *command)
    assert_clean_error(result, str(db), "evstore --db", "init")
    assert not db.parent.exists()


def test_missing_database_exit_status_from_the_console_entry_point(tmp_path: Path) -> None:
    db = tmp_path / "missing.db"
    result = run_process("status", EVSTORE_DB=str(db))
    assert result.returncode == 2
    assert str(db) in result.stderr and "init" in result.stderr
    assert "Traceback" not in result.stderr
    assert not db.exists()


def test_corrupt_database_is_a_clear_error(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not a database" * 100)
    assert_clean_error(run("--db", garbage, "status"), "not a SQLite database")
    # A real store cut short: the header survives, the pages do not.
    whole = tmp_path / "whole.db"
    init_with_history(whole)
    truncated = tmp_path / "truncated.db"
    truncated.write_bytes(whole.read_bytes()[:6000])
    for command in (["status"], ["events", "--json"], ["export"], ["verify"]):
        result = run("--db", truncated, *command)
        assert_clean_error(result)
        assert "corrupt" in result.stderr or "malformed" in result.stderr
    process = run_process("--db", truncated, "events")
    assert process.returncode == 2 and "Traceback" not in process.stderr


# --- append ---------------------------------------------------------------------------------


def test_append_one_object_from_a_file(tmp_path: Path) -> None:
    db, source = tmp_path / "store.db", tmp_path / "one.json"
    # One pretty-printed object is accepted as well as JSON lines.
    source.write_text(json.dumps(event("wf-1", "workflow_started", payload={"initial_step": "plan"}), indent=2))
    result = run("--db", db, "append", "--positions", source)
    assert result.exit_code == 0, result.output
    assert result.stdout.split() == ["1"]
    with EventStore.open(db, autoload=False) as store:
        (stored,) = store.read_all()
    assert (stored.workflow_id, stored.event_type) == ("wf-1", "workflow_started")
    assert stored.payload == {"initial_step": "plan"}


def test_append_jsonl_from_stdin_with_every_envelope_field(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    given = event(
        "wf-1", "step_started", role="planner", step_id="plan", component_id="c-1", status="started",
        payload={"gates": ["review"]}, metadata={"correlation_id": "abc"},
        event_id="0190b2d4-5f6e-7a8b-9c0d-1e2f3a4b5c6d", timestamp="2025-03-04T05:06:07.000008+00:00",
    )
    result = run("--db", db, "append", "--json", input=jsonl(event("wf-1", "workflow_started"), given))
    assert result.exit_code == 0, result.output
    appended = json.loads(result.stdout)
    assert {k: v for k, v in appended.items() if k != "seconds"} == {
        "appended": 2, "already_present": 0, "first_position": 1, "last_position": 2,
    }
    with EventStore.open(db, autoload=False) as store:
        stored = store.read_all()[1].to_dict()
    assert {k: stored[k] for k in given} == given
    # The projections saw it: the append ran through the store with its plugins.
    assert [row[0] for row in table_rows(db, "steps")] == ["plan"]


def test_append_retry_with_the_same_event_id_returns_the_original_position(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    line = jsonl(event("wf-1", "workflow_started", event_id="0190b2d4-5f6e-7a8b-9c0d-1e2f3a4b5c6d"))
    assert run("--db", db, "append", "--positions", input=line).stdout.split() == ["1"]
    assert run("--db", db, "append", "--positions", input=line).stdout.split() == ["1"]
    again = run("--db", db, "append", input=line)
    assert again.stdout.startswith("appended 0 events, 1 already present at position 1:"), again.stdout
    assert event_count(db) == 1


def test_append_expected_version(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    init_with_history(db, [event("wf-1", "workflow_started")])
    ok = run("--db", db, "append", "--expected-version", "1", input=jsonl(event("wf-1", "workflow_completed")))
    assert ok.exit_code == 0, ok.output
    conflict = run(
        "--db", db, "append", "--expected-version", "no-stream", input=jsonl(event("wf-1", "workflow_failed"))
    )
    assert conflict.exit_code == 3, conflict.output  # a conflict, not a usage error
    assert "expected version no_stream" in conflict.stderr and "at version 2" in conflict.stderr
    assert event_count(db) == 2
    spanning = run(
        "--db", db, "append", "--expected-version", "exists",
        input=jsonl(event("wf-1", "workflow_failed"), event("wf-2", "workflow_started")),
    )
    assert_clean_error(spanning, "one workflow")
    assert_clean_error(run("--db", db, "append", "--expected-version", "soon", input="{}"), "soon")


def test_append_is_all_or_nothing_and_names_the_bad_line(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    init_with_history(db, [event("wf-1", "workflow_started")])
    good = json.dumps(event("wf-2", "workflow_started"))
    cases = {
        "not json": (f"{good}\n{{oops\n", "line 2: not valid JSON"),
        "not an object": (f"{good}\n\n[1, 2]\n", "line 3: expected a JSON object"),
        "missing field": (f'{good}\n{{"workflow_id": "wf-2"}}\n', "line 2: missing field(s) 'event_type'"),
        "unknown field": (f'{good}\n{{"workflow_id": "w", "event_type": "x", "colour": 1}}\n',
                          "unknown field(s) 'colour'"),
        "kernel rejects": (f'{good}\n{json.dumps(event("wf-2", "step_started", step_id="s"))}\n',
                           "line 2: event type 'step_started' requires role"),
        "payload model": (f'{good}\n{json.dumps(event("wf-2", "workflow_failed", payload={"error": 5}))}\n',
                          "line 2: payload of 'workflow_failed'"),
        "unknown type": (f'{good}\n{json.dumps(event("wf-2", "workflow_paused"))}\n',
                         "line 2: event type 'workflow_paused'"),
        "bad timestamp": (f'{good}\n{json.dumps(event("wf-2", "workflow_completed", timestamp="yesterday"))}\n',
                          "line 2: timestamp 'yesterday' is not ISO-8601"),
        "empty": ("\n\n", "no events"),
    }
    for name, (text, message) in cases.items():
        result = run("--db", db, "append", input=text)
        assert_clean_error(result, message)
        assert event_count(db) == 1, name
    invalid_utf8 = good.encode() + b'\n{"workflow_id": "\xff"}\n'
    assert_clean_error(run("--db", db, "append", input=invalid_utf8), "line 2: not valid UTF-8")
    assert event_count(db) == 1


def test_append_permissive_accepts_undeclared_types(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    assert_clean_error(run("--db", db, "append", input=jsonl(event("wf", "custom_thing"))), "custom_thing")
    result = run("--db", db, "append", "--permissive", input=jsonl(event("wf", "custom_thing")))
    assert result.exit_code == 0, result.output
    assert event_count(db) == 1


# --- events ---------------------------------------------------------------------------------


def _listed(db: Path, *args: str) -> list[dict[str, object]]:
    result = run("--db", db, "events", "--json", *args)
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_events_json_is_the_full_envelope_in_position_order(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    init_with_history(db)
    listed = _listed(db)
    assert [e["id"] for e in listed] == list(range(1, len(sample_history()) + 1))
    assert list(listed[0]) == [
        "id", "workflow_id", "event_type", "role", "step_id", "component_id", "status", "payload",
        "timestamp", "version", "event_id", "metadata",
    ]
    assert listed[0]["payload"] == {"initial_step": "plan", "context": {"n": 0, "name": "café"}}


def test_events_filters(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    init_with_history(db)
    by_workflow = _listed(db, "--workflow", "wf-1")
    assert {e["workflow_id"] for e in by_workflow} == {"wf-1"} and [e["version"] for e in by_workflow] == [1, 2, 3, 4]
    by_type = _listed(db, "-t", "step_started", "-t", "workflow_completed")
    assert {e["event_type"] for e in by_type} == {"step_started", "workflow_completed"} and len(by_type) == 7
    after = _listed(db, "--after", "10")
    assert [e["id"] for e in after] == [11, 12, 13]
    assert [e["id"] for e in _listed(db, "--limit", "2")] == [1, 2]
    combined = _listed(db, "-w", "wf-0", "-t", "step_started", "--after", "2", "-n", "5")
    assert [(e["workflow_id"], e["step_id"]) for e in combined] == [("wf-0", "build")]


def test_events_table(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    init_with_history(db)
    result = run("--db", db, "events", "-w", "wf-2", "-t", "step_started")
    assert result.exit_code == 0, result.output
    assert "2 event(s)" in result.stdout and "step_started" in result.stdout and "build" in result.stdout
    assert "workflow_started" not in result.stdout
    empty = run("--db", db, "events", "--after", "999")
    assert empty.exit_code == 0 and "No events." in empty.stdout


def test_events_table_is_capped_with_a_hint(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    with EventStore.open(db, autoload=False, permissive=True) as store:
        store.append_many([NewEvent(workflow_id=f"w{n}", event_type="tick") for n in range(1005)])
    result = run("--db", db, "events", EVSTORE_PLUGINS="")
    assert result.exit_code == 0
    assert "1000 event(s)" in result.stdout and "--json" in result.stderr
    assert len(_listed(db)) == 1005


def test_events_rejects_timeout_without_follow(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    init_with_history(db)
    result = run("--db", db, "events", "--timeout", "1")
    assert result.exit_code == 2 and "--follow" in result.stderr


def test_events_follow_prints_new_events_as_they_commit(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    init_with_history(db, [event("wf-1", "workflow_started")])
    follower = subprocess.Popen(
        [*EVSTORE, "--db", str(db), "events", "--follow", "--json", "-w", "wf-1", "--limit", "3",
         "--timeout", "60", "--interval", "0.05"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**_env(), "EVSTORE_PLUGINS": PLUGINS},
    )
    try:
        assert follower.stdout is not None
        first = json.loads(follower.stdout.readline())  # the existing event, listed first
        assert first["id"] == 1
        with EventStore.open(db, autoload=False, permissive=True) as store:
            store.append(NewEvent(workflow_id="wf-other", event_type="noise"))
            time.sleep(0.2)  # let at least one poll pass, so tailing (not the listing) finds the rest
            store.append(NewEvent(workflow_id="wf-1", event_type="workflow_completed"))
            store.append(NewEvent(workflow_id="wf-1", event_type="noise"))
            store.append(NewEvent(workflow_id="wf-1", event_type="after_the_limit"))
        out, err = follower.communicate(timeout=60)
    finally:
        follower.kill()
    assert follower.returncode == 0, err
    tailed = [json.loads(line) for line in out.splitlines()]
    assert [(e["id"], e["event_type"]) for e in tailed] == [(3, "workflow_completed"), (4, "noise")]


def test_events_follow_stops_at_the_timeout(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    init_with_history(db, [event("wf-1", "workflow_started")])
    result = run("--db", db, "events", "--follow", "--timeout", "0.2", "--interval", "0.05")
    assert result.exit_code == 0, result.output
    (line,) = result.stdout.splitlines()
    assert "wf-1 v1" in line and "workflow_started" in line


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "EVSTORE_DB"}
