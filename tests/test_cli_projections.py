"""``evstore status``, ``catch-up`` and ``rebuild``: a projection that fails, is reported,
is fixed and recovers, as an operator would go through it."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from cli_support import (
    PLUGINS,
    assert_clean_error,
    event,
    event_count,
    init_with_history,
    install_flaky_plugin,
    jsonl,
    run,
    run_process,
    sample_history,
    table_rows,
)

from evstore import EventStore

WITH_FLAKY = f"{PLUGINS},flaky"


@pytest.fixture
def flaky_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    site = tmp_path / "site"
    install_flaky_plugin(site)
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delenv("FLAKY_FIXED", raising=False)
    return site


def _status(db: Path, plugins: str = PLUGINS) -> dict[str, Any]:
    result = run("--db", db, "status", "--json", EVSTORE_PLUGINS=plugins)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def _failing_store(db: Path) -> None:
    """A store whose flaky projection failed on event 3 (the events are all stored)."""
    history = [
        event("wf-1", "workflow_started"),
        event("wf-1", "flaky_event", payload={"note": "fine"}),
        event("wf-1", "flaky_event", payload={"boom": True, "note": "bad"}),
        event("wf-1", "flaky_event", payload={"note": "later"}),
    ]
    # One append each: a projection that fails inside an append of many events is marked
    # failing where that append started, which is not what these tests are about.
    for one in history:
        result = run("--db", db, "append", input=jsonl(one), EVSTORE_PLUGINS=WITH_FLAKY)
        assert result.exit_code == 0, result.output


# --- status ---------------------------------------------------------------------------------


def test_status_json_reports_the_log_and_each_projection(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    init_with_history(db)
    report = _status(db)
    count = len(sample_history())
    assert report["database"] == str(db)
    assert (report["events"], report["head"]) == (count, count)
    assert report["size_bytes"] == db.stat().st_size > 0
    with EventStore.open(db, read_only=True) as store:  # the installed plugins' versions
        installed = {name: store.registry.projections[name].projection.version for name in ("steps", "workflows")}
    assert [(p["name"], p["version"], p["position"], p["lag"], p["status"], p["error"], p["plugin"])
            for p in report["projections"]] == [
        ("steps", installed["steps"], count, 0, "ok", None, "steps"),
        ("workflows", installed["workflows"], count, 0, "ok", None, "workflows"),
    ]


def test_status_shows_lag_of_a_projection_whose_plugin_is_not_loaded(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    init_with_history(db)
    run("--db", db, "append", input=jsonl(event("wf-9", "workflow_started")), EVSTORE_PLUGINS="workflows")
    steps = next(p for p in _status(db, "workflows")["projections"] if p["name"] == "steps")
    assert (steps["status"], steps["lag"], steps["plugin"]) == ("not loaded", 1, None)


def test_status_table(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    init_with_history(db)
    result = run("--db", db, "status")
    assert result.exit_code == 0, result.output
    assert f"{len(sample_history())} events, head at position {len(sample_history())}" in result.stdout
    assert "workflows" in result.stdout and "ok" in result.stdout


def test_failing_projection_status_check_catch_up_and_recovery(tmp_path: Path, flaky_site: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "store.db"
    _failing_store(db)
    assert event_count(db) == 4
    flaky = next(p for p in _status(db, WITH_FLAKY)["projections"] if p["name"] == "flaky")
    assert (flaky["status"], flaky["position"], flaky["lag"]) == ("failing", 2, 2)
    assert "boom at 3" in flaky["error"] and "evstore catch-up flaky" in flaky["error"]

    table = run("--db", db, "status", EVSTORE_PLUGINS=WITH_FLAKY)
    assert table.exit_code == 0 and "failing" in table.stdout and "boom at 3" in table.stdout
    assert run("--db", db, "status", "--check", EVSTORE_PLUGINS=WITH_FLAKY).exit_code == 1

    # Still broken: catch-up says so with exit status 1 and leaves it failing.
    still = run("--db", db, "catch-up", "flaky", "--json", EVSTORE_PLUGINS=WITH_FLAKY)
    assert still.exit_code == 1, still.output
    (outcome,) = json.loads(still.stdout)["projections"]
    assert (outcome["name"], outcome["status"], outcome["events"]) == ("flaky", "failing", 0)

    monkeypatch.setenv("FLAKY_FIXED", "1")
    fixed = run("--db", db, "catch-up", EVSTORE_PLUGINS=WITH_FLAKY)
    assert fixed.exit_code == 0, fixed.output
    assert "flaky" in fixed.stdout and "ok" in fixed.stdout
    assert run("--db", db, "status", "--check", EVSTORE_PLUGINS=WITH_FLAKY).exit_code == 0
    assert table_rows(db, "flaky_rows") == [(2, "fine"), (3, "bad"), (4, "later")]


def test_status_check_exit_status_from_the_console_entry_point(tmp_path: Path, flaky_site: Path) -> None:
    db = tmp_path / "store.db"
    _failing_store(db)
    result = run_process("--db", db, "status", "--check", EVSTORE_PLUGINS=WITH_FLAKY, PYTHONPATH=str(flaky_site))
    assert result.returncode == 1, result.stderr
    assert "failing" in result.stdout


def test_catch_up_reports_events_replayed(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    init_with_history(db)
    result = run("--db", db, "catch-up", "steps", "--json")
    assert result.exit_code == 0, result.output
    (outcome,) = json.loads(result.stdout)["projections"]
    assert (outcome["name"], outcome["to"], outcome["status"]) == ("steps", len(sample_history()), "ok")


# --- rebuild --------------------------------------------------------------------------------


def test_rebuild_restores_tampered_tables(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    init_with_history(db)
    expected = table_rows(db, "steps"), table_rows(db, "workflows")
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM steps")
        conn.execute("UPDATE workflows SET status = 'tampered'")
    result = run("--db", db, "rebuild", "steps", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["projections"] == ["steps"] and report["position"] == len(sample_history())
    assert report["events"] > 0 and report["events_per_second"] >= 0
    assert table_rows(db, "steps") == expected[0]
    assert table_rows(db, "workflows") != expected[1]  # only the named projection was rebuilt
    result = run("--db", db, "rebuild", "--all")
    assert result.exit_code == 0, result.output
    assert "rebuilt steps, workflows" in result.stdout and "events/s" in result.stdout
    assert (table_rows(db, "steps"), table_rows(db, "workflows")) == expected


def test_rebuild_makes_a_fixed_failing_projection_ok(tmp_path: Path, flaky_site: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "store.db"
    _failing_store(db)
    broken = run("--db", db, "rebuild", "flaky", EVSTORE_PLUGINS=WITH_FLAKY)
    assert_clean_error(broken, "boom at 3", "rolled back")
    monkeypatch.setenv("FLAKY_FIXED", "1")
    assert run("--db", db, "rebuild", "flaky", EVSTORE_PLUGINS=WITH_FLAKY).exit_code == 0
    flaky = next(p for p in _status(db, WITH_FLAKY)["projections"] if p["name"] == "flaky")
    assert (flaky["status"], flaky["lag"]) == ("ok", 0)


def test_rebuild_needs_names_or_all(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    init_with_history(db)
    for args in ([], ["steps", "--all"]):
        result = run("--db", db, "rebuild", *args)
        assert result.exit_code == 2 and "--all" in result.stderr


@pytest.mark.parametrize("command", ["rebuild", "catch-up", "verify"])
def test_unknown_projection_name_is_the_kernels_message(tmp_path: Path, command: str) -> None:
    db = tmp_path / "store.db"
    init_with_history(db)
    before = table_rows(db, "steps")
    result = run("--db", db, command, "steps", "stepz")
    assert_clean_error(result, "no loaded projection is named 'stepz'", "loaded: steps, workflows")
    assert table_rows(db, "steps") == before
