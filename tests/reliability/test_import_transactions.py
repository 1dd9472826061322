"""`evstore import` keeps source transactions whole: the features cascade commits
component_completed, phase_completed and feature_completed in one transaction, and an
import that is killed, interrupted or stopped by a bad line never leaves a cause
committed without its follow-ups (or a follow-up without its cause)."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from evstore import NewEvent
from evstore._cli import cli, transfer
from evstore._cli._causation import Item, batches, item
from evstore_supervisor import Database

PLUGINS = "workflows,steps,features,checkpoints,metrics,graph,supervisor"
FEATURES = 40


def _env() -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if k != "EVSTORE_DB"}, "EVSTORE_PLUGINS": PLUGINS}


@pytest.fixture(scope="module")
def cascade_export(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """An export in which each feature's last component completion carries two
    follow-ups (phase_completed, feature_completed) from the cascade reactor."""
    folder = tmp_path_factory.mktemp("cascade")
    source = folder / "source.db"
    with Database(source, autoload=False) as db:
        for f in range(FEATURES):
            db.create_feature(f"F{f}", f"feature {f}")
            db.create_phase(f"P{f}", f"F{f}", "build", 1)
            for c in range(2):
                db.create_component(f"C{f}-{c}", f"P{f}", "part")
            for c in range(2):
                db.update_component(f"C{f}-{c}", "completed")
    result = CliRunner().invoke(cli, ["--db", str(source), "export"], env={"EVSTORE_PLUGINS": PLUGINS})
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert sum('"feature_completed"' in line for line in lines) == FEATURES
    return lines


def _stored(db: Path) -> list[dict[str, Any]]:
    if not db.exists():
        return []
    with sqlite3.connect(db) as conn:
        if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'events'").fetchone():
            return []  # killed while the store was being created: nothing was committed
        return [
            {"event_id": row[0], "event_type": row[1], "metadata": json.loads(row[2])}
            for row in conn.execute("SELECT event_id, event_type, metadata FROM events ORDER BY id")
        ]


def _assert_chains_whole(source_lines: list[str], db: Path, *, prefix: bool = True) -> int:
    """Every stored follow-up has its cause stored, and every stored cause has all the
    follow-ups the source committed with it. Returns how many events are stored."""
    source = [json.loads(line) for line in source_lines]
    follow_ups: dict[str, list[str]] = {}
    for event in source:
        cause = event["metadata"].get("causation_id")
        if cause:
            follow_ups.setdefault(cause, []).append(event["event_id"])
    stored = {e["event_id"] for e in _stored(db)}
    for cause, effects in follow_ups.items():
        present = [effect in stored for effect in effects]
        assert all(present) or not any(present), (cause, effects, present)
        assert (cause in stored) == all(present), ("cause without follow-ups or the reverse", cause)
    if prefix:  # the stored events are a prefix of the source (imports go in order)
        order = [e["event_id"] for e in source]
        assert order[: len(stored)] == [e["event_id"] for e in _stored(db)]
    return len(stored)


def test_batches_never_separate_a_follow_up_from_its_cause(
    cascade_export: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With one event per batch, fixed batches would cut every chain; these do not."""
    committed: list[list[str]] = []
    real_commit = transfer._commit

    def recording(store: Any, batch: Any, *args: Any, **kwargs: Any) -> None:
        committed.append([e.event_id for e in batch.items])
        real_commit(store, batch, *args, **kwargs)

    monkeypatch.setattr(transfer, "_commit", recording)
    db = tmp_path / "copy.db"
    result = CliRunner().invoke(
        cli, ["--db", str(db), "import", "--batch-size", "1", "--json", "-"],
        input="\n".join(cascade_export) + "\n", env={"EVSTORE_PLUGINS": PLUGINS},
    )
    assert result.exit_code == 0, result.output
    assert _assert_chains_whole(cascade_export, db) == len(cascade_export)
    batch_of = {event_id: index for index, ids in enumerate(committed) for event_id in ids}
    chained = [json.loads(line) for line in cascade_export if '"causation_id"' in line]
    assert len(chained) == 2 * FEATURES
    for event in chained:
        assert batch_of[event["event_id"]] == batch_of[event["metadata"]["causation_id"]]
    assert len(committed) > len(cascade_export) - 2 * FEATURES - 1  # otherwise one event per batch


def test_an_interrupt_at_any_commit_leaves_whole_chains(
    cascade_export: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A KeyboardInterrupt injected at the k-th commit, for every k (like Ctrl-C or a
    kill between two transactions): the store holds whole chains, then a second import
    completes it."""
    commits = 0
    real_commit = transfer._commit
    limit = {"at": 0}

    def interrupted(*args: Any, **kwargs: Any) -> None:
        nonlocal commits
        commits += 1
        if commits == limit["at"]:
            raise KeyboardInterrupt
        real_commit(*args, **kwargs)

    monkeypatch.setattr(transfer, "_commit", interrupted)
    text = "\n".join(cascade_export) + "\n"
    for at in range(1, 60, 3):
        db = tmp_path / f"copy-{at}.db"
        commits, limit["at"] = 0, at
        result = CliRunner().invoke(cli, ["--db", str(db), "import", "--batch-size", "2", "-"], input=text,
                                    env={"EVSTORE_PLUGINS": PLUGINS})
        assert result.exit_code != 0
        _assert_chains_whole(cascade_export, db)
        commits, limit["at"] = 0, 0
        again = CliRunner().invoke(cli, ["--db", str(db), "import", "--batch-size", "2", "-"], input=text,
                                   env={"EVSTORE_PLUGINS": PLUGINS})
        assert again.exit_code == 0, again.output
        assert _assert_chains_whole(cascade_export, db) == len(cascade_export)


@pytest.mark.slow
def test_sigkill_mid_import_leaves_whole_chains(cascade_export: list[str], tmp_path: Path) -> None:
    """A real kill while lines stream in through a pipe and batches commit."""
    rng = random.Random(20261201)
    for trial in range(6):
        db = tmp_path / f"killed-{trial}.db"
        importer = subprocess.Popen(
            [sys.executable, "-m", "evstore", "--db", str(db), "import", "--batch-size", "3", "-"],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_env(),
        )
        assert importer.stdin is not None
        stop_at = rng.randrange(20, len(cascade_export) - 20)
        try:
            for index, line in enumerate(cascade_export):
                importer.stdin.write(line.encode() + b"\n")
                importer.stdin.flush()
                if index % 10 == 0:
                    time.sleep(0.02)  # give it time to commit between our writes
                if index == stop_at:
                    time.sleep(rng.uniform(0.0, 0.3))
                    break
        finally:
            importer.send_signal(signal.SIGKILL)
            importer.wait()
        _assert_chains_whole(cascade_export, db)


def test_a_bad_follow_up_rolls_back_its_cause(cascade_export: list[str], tmp_path: Path) -> None:
    """The line of a feature_completed is damaged: its component_completed and
    phase_completed, committed with it in the source, are not imported either."""
    lines = list(cascade_export)
    bad = next(i for i, line in enumerate(lines) if '"feature_completed"' in line)
    lines[bad] = lines[bad].replace('"feature_completed"', '"feature_completed_oops"')
    text = "\n".join(lines) + "\n"
    db = tmp_path / "stopped.db"
    stopped = CliRunner().invoke(cli, ["--db", str(db), "import", "--batch-size", "1", "-"], input=text,
                                 env={"EVSTORE_PLUGINS": PLUGINS})
    assert stopped.exit_code == 2, stopped.output
    assert f"line {bad + 1}:" in stopped.stderr
    stored = _assert_chains_whole(lines, db)
    assert stored < bad - 1  # the cause (two lines before) was not committed

    skipping = tmp_path / "skipping.db"
    skipped = CliRunner().invoke(cli, ["--db", str(skipping), "import", "--batch-size", "1", "--skip-bad", "--json",
                                       "-"], input=text, env={"EVSTORE_PLUGINS": PLUGINS})
    assert skipped.exit_code == 0, skipped.output
    report = json.loads(skipped.stdout)
    chain = [s["line"] for s in report["skipped"]]
    assert chain == [bad - 1, bad, bad + 1], report["skipped"]  # component, phase, feature
    assert "in the causal chain of line" in report["skipped"][0]["error"]
    assert report["imported"] == len(lines) - 3
    _assert_chains_whole(cascade_export, skipping, prefix=False)


# --- the batching rule, as a property -------------------------------------------------------------

_UUID = "0190b2d4-5f6e-7a8b-9c0d-{:012x}"


@st.composite
def _transactions(draw: st.DrawFn) -> list[list[tuple[int, int | None]]]:
    """Source transactions: each a few direct events, then follow-ups of earlier events
    of the same transaction (what reactors append)."""
    transactions: list[list[tuple[int, int | None]]] = []
    counter = 0
    for _ in range(draw(st.integers(1, 12))):
        events: list[tuple[int, int | None]] = []
        for _ in range(draw(st.integers(1, 4))):
            events.append((counter, None))
            counter += 1
        for _ in range(draw(st.integers(0, 4))):
            cause = draw(st.sampled_from([e for e, _ in events]))
            events.append((counter, cause))
            counter += 1
        transactions.append(events)
    return transactions


@settings(max_examples=200, deadline=None)
@given(_transactions(), st.integers(1, 6))
def test_no_batch_cut_crosses_a_causal_link(transactions: list[list[tuple[int, int | None]]], size: int) -> None:
    def as_item(number: int, cause: int | None) -> Item:
        metadata = {} if cause is None else {"causation_id": _UUID.format(cause), "correlation_id": _UUID.format(cause)}
        return item(number + 1, NewEvent(workflow_id="w", event_type="t", event_id=_UUID.format(number),
                                         metadata=metadata))

    flat = [as_item(n, cause) for events in transactions for n, cause in events]
    longest = max(len(events) for events in transactions)
    cut = list(batches(flat, size, lookahead=longest))
    assert [e.line for batch in cut for e in batch.items] == [e.line for e in flat]  # order kept, nothing lost
    batch_of = {e.event_id: index for index, batch in enumerate(cut) for e in batch.items}
    for entry in flat:
        for cause in entry.refers_to:
            assert batch_of[cause] == batch_of[entry.event_id], (entry.line, cause)
