"""``evstore worker`` and the lifecycle variables, as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

from cli_support import assert_clean_error, event, init_with_history, jsonl, run, table_rows


def test_a_worker_applies_what_the_appends_left_to_it(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    init_with_history(db)
    env = {"EVSTORE_ASYNC_PROJECTIONS": "steps"}
    started = jsonl(event("wf-9", "step_started", step_id="x", role="r"))
    assert run("--db", db, "append", "-", input=started, **env).exit_code == 0
    assert not any(row[0] == "x" for row in table_rows(db, "steps"))  # left to a worker
    before = run("--db", db, "status", "--json", **env)
    steps = next(p for p in json.loads(before.output)["projections"] if p["name"] == "steps")
    assert steps["lifecycle"] == "async" and steps["lag"] == 1
    result = run("--db", db, "worker", "--until-caught-up", **env)
    assert result.exit_code == 0, result.output
    assert "steps: 1 event, at position" in result.stderr and "worker stopped" in result.stderr
    assert any(row[0] == "x" for row in table_rows(db, "steps"))
    assert "warning" not in result.stderr


def test_a_misspelt_lifecycle_name_is_pointed_out(tmp_path: Path) -> None:
    """A store ignores names it has no projection for (the same variables reach
    processes with other plugins); the commands that read them say so, or the
    projection would stay inline without a sign."""
    db = tmp_path / "store.db"
    init_with_history(db)
    typo = {"EVSTORE_ASYNC_PROJECTIONS": "step", "EVSTORE_INLINE_PROJECTIONS": "zzz"}
    refused = run("--db", db, "worker", "--until-caught-up", **typo)
    assert_clean_error(refused, "no async projection is loaded", "EVSTORE_ASYNC_PROJECTIONS names 'step'",
                       "did you mean 'steps'?")
    status = run("--db", db, "status", **typo)
    assert status.exit_code == 0
    assert "warning: EVSTORE_ASYNC_PROJECTIONS names 'step'" in status.output
    assert "warning: EVSTORE_INLINE_PROJECTIONS names 'zzz', which no loaded projection has; ignored" in status.output
    mixed = run("--db", db, "worker", "--until-caught-up",
                EVSTORE_ASYNC_PROJECTIONS="steps,workflow")
    assert mixed.exit_code == 0, mixed.output
    assert "warning: EVSTORE_ASYNC_PROJECTIONS names 'workflow'" in mixed.stderr
    assert "did you mean 'workflows'?" in mixed.stderr
