"""``evstore migrate``: a store copied between SQLite and PostgreSQL keeps every event as
it was (export byte-identical), its projections' rows, resumes after an interruption,
and refuses to write into the source itself or onto a different log."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from cli_support import EVSTORE, PLUGINS, assert_clean_error, event, init_with_history, jsonl, run

from evstore import EventStore
from evstore._cli import migrate
from evstore.testing import TargetFactory

# Each test needs a PostgreSQL store beside a SQLite file: it runs in the PostgreSQL pass.
pytestmark = pytest.mark.evstore_backends("postgresql")


def _export(db: Path | str) -> bytes:
    result = run("--db", db, "export")
    assert result.exit_code == 0, result.output
    return result.stdout_bytes


def _migrate(db: Path | str, to: Path | str, *args: str, **env: str | None) -> dict[str, Any]:
    result = run("--db", db, "migrate", "--to", to, "--json", *args, **env)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def _odd_history() -> list[dict[str, Any]]:
    """What a faithful copy must keep byte for byte: non-ASCII, key order, big and tiny
    numbers, metadata, the optional envelope fields."""
    return [
        event("wf-x", "custom", payload={"z": 1, "a": "naïve ☃ \"q\"\n", "n": [1, 2.5, None, {"b": True}],
                                         "big": 2**70, "tiny": 1e-300}, metadata={"who": "ops"},
                                         timestamp="2025-01-02T03:04:05.000006+00:00"),
        event("wf-x", "custom", payload={}, role="r", component_id="c", status="s"),
    ]


def _store_with_history(db: Path | str) -> None:
    init_with_history(db)
    assert run("--db", db, "append", "--permissive", input=jsonl(*_odd_history())).exit_code == 0


@pytest.mark.parametrize("lifecycle", ["inline", "async"])
def test_sqlite_to_postgresql_keeps_every_event_and_every_row(
    tmp_path: Path, evstore_target_factory: TargetFactory, lifecycle: str
) -> None:
    source, target = tmp_path / "store.db", evstore_target_factory("copy")
    env = {"EVSTORE_ASYNC_PROJECTIONS": "steps"} if lifecycle == "async" else {}
    _store_with_history(source)
    outcome = _migrate(source, target, **env)
    assert outcome["copied"] == 15 and outcome["already_there"] == 0 and outcome["ok"]
    assert {p["name"]: p["rows_equal"] for p in outcome["projections"]} == {"steps": True, "workflows": True}
    assert all(p["position"] == 15 for p in outcome["projections"])
    assert _export(target) == _export(source)
    verified = run("--db", target, "verify", **env)
    assert verified.exit_code == 0, verified.output
    with EventStore.open(source, autoload=False) as a, EventStore.open(target, autoload=False) as b:
        assert [e.to_dict() for e in a.read_all()] == [e.to_dict() for e in b.read_all()]


def test_rerunning_copies_only_what_is_new(tmp_path: Path, evstore_target_factory: TargetFactory) -> None:
    source, target = tmp_path / "store.db", evstore_target_factory("copy")
    init_with_history(source)
    _migrate(source, target)
    again = _migrate(source, target)
    assert (again["copied"], again["already_there"]) == (0, 13)
    assert run("--db", source, "append", input=jsonl(event("wf-9", "workflow_started"))).exit_code == 0
    third = _migrate(source, target)
    assert (third["copied"], third["already_there"]) == (1, 13)
    assert _export(target) == _export(source)


def test_postgresql_to_sqlite_and_verify_passes_on_the_copy(
    tmp_path: Path, evstore_target_factory: TargetFactory
) -> None:
    source, target = evstore_target_factory("live"), tmp_path / "debug.db"
    _store_with_history(source)
    outcome = _migrate(source, target)
    assert outcome["copied"] == 15 and outcome["ok"]
    assert _export(target) == _export(source)
    verified = run("--db", target, "verify")
    assert verified.exit_code == 0, verified.output
    assert "matches its rebuild" in verified.stdout


def test_an_interrupted_migration_leaves_whole_batches_and_resumes(
    tmp_path: Path, evstore_target_factory: TargetFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, target = tmp_path / "store.db", evstore_target_factory("copy")
    init_with_history(source)
    committed = migrate._commit
    calls = []

    def interrupted_on_the_third(copy: EventStore, batch: Any) -> None:
        calls.append(len(batch))
        if len(calls) == 3:
            raise KeyboardInterrupt  # Ctrl-C inside the third batch, before it commits
        committed(copy, batch)

    monkeypatch.setattr(migrate, "_commit", interrupted_on_the_third)
    result = run("--db", source, "migrate", "--to", target, "--batch-size", "3")
    assert result.exit_code != 0
    assert f"the target holds the first {sum(calls[:2])} events; run the same command again" in result.stderr
    with EventStore.open(target, autoload=False) as partial:
        assert partial.head() == sum(calls[:2])  # the two committed batches, nothing of the third
    monkeypatch.setattr(migrate, "_commit", committed)
    resumed = _migrate(source, target, "--batch-size", "3")
    assert resumed["already_there"] == sum(calls[:2]) and resumed["ok"]
    assert _export(target) == _export(source)


def test_refuses_the_source_itself(tmp_path: Path, evstore_target_factory: TargetFactory) -> None:
    db = tmp_path / "store.db"
    init_with_history(db)
    before = _export(db)
    assert_clean_error(run("--db", db, "migrate", "--to", tmp_path / "." / "store.db"), "is the source store itself")
    url = evstore_target_factory("live")
    init_with_history(url)
    assert_clean_error(run("--db", url, "migrate", "--to", url), "is the source store itself")
    assert _export(db) == before


def test_refuses_a_target_holding_another_log(tmp_path: Path, evstore_target_factory: TargetFactory) -> None:
    source, other = tmp_path / "store.db", evstore_target_factory("other")
    init_with_history(source)
    assert run("--db", other, "append", input=jsonl(event("wf-other", "workflow_started"))).exit_code == 0
    assert_clean_error(run("--db", source, "migrate", "--to", other), "holds a different log", "at position 1")
    longer = evstore_target_factory("longer")
    init_with_history(longer)
    assert run("--db", longer, "append", input=jsonl(event("wf-more", "workflow_started"))).exit_code == 0
    assert_clean_error(run("--db", source, "migrate", "--to", longer), "holds 14 events and the source only 13")
    with EventStore.open(other, autoload=False) as untouched:
        assert untouched.head() == 1


def test_ctrl_c_mid_copy_exits_130_and_the_copy_resumes(tmp_path: Path, evstore_target_factory: TargetFactory) -> None:
    """A real SIGINT, landing wherever the copy is (often inside a projection's statement
    on the server): the interrupt wins over any clean-up error, and the target resumes."""
    source, target = tmp_path / "store.db", evstore_target_factory("copy")
    history = [event(f"wf-{n % 20}", "step_started", step_id=f"s{n}", role="r") for n in range(6000)]
    init_with_history(source, [event(f"wf-{n}", "workflow_started") for n in range(20)] + history)
    environment = {**os.environ, "EVSTORE_PLUGINS": PLUGINS}
    environment.pop("EVSTORE_DB", None)
    copying = subprocess.Popen(
        [*EVSTORE, "--db", str(source), "migrate", "--to", target, "--batch-size", "100"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment,
    )
    with EventStore.open(target, autoload=False) as copy:
        deadline = time.monotonic() + 60
        while copy.head() < 500 and copying.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        copying.send_signal(signal.SIGINT)
        _, stderr = copying.communicate(timeout=60)
        assert copying.returncode == 130, stderr
        assert "run the same command again to resume" in stderr and "Traceback" not in stderr
        assert 0 < copy.head() < 6020 and copy.head() % 100 == 0  # whole batches only
    assert _migrate(source, target)["ok"]
    assert _export(target) == _export(source)


def test_every_installed_plugin_survives_the_round_trip(tmp_path: Path, evstore_target_factory: TargetFactory) -> None:
    """The supervisor demo's history through every installed projection, SQLite ->
    PostgreSQL -> SQLite: each copy's rows equal its source's, and the log is unchanged."""
    everything = {"EVSTORE_PLUGINS": None}
    source, server, back = tmp_path / "store.db", evstore_target_factory("copy"), tmp_path / "back.db"
    demo = run("--db", source, "demo", **everything)
    assert demo.exit_code == 0, demo.output
    for frm, to in ((source, server), (server, back)):
        outcome = _migrate(frm, to, **everything)
        assert outcome["ok"] and all(p["rows_equal"] for p in outcome["projections"]), outcome
        assert len(outcome["projections"]) >= 6
    assert _export(source) == _export(server) == _export(back)
