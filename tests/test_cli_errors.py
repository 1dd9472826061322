"""Exit statuses and error lines: a stuck writer, a version conflict, numbers SQLite cannot
hold, a damaged or incomplete store, a full disk, a closed pipe, Ctrl-C. Each is one line
on stderr and a documented status, never a traceback."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
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
)

HOLD_LOCK = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
conn.execute("INSERT INTO evstore_meta VALUES ('held', 'yes')")
print("locked", flush=True)
time.sleep(120)
"""


def _env(**extra: str) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if k != "EVSTORE_DB"}, "EVSTORE_PLUGINS": PLUGINS, **extra}


# --- a second process holds the write lock --------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [["append", "-"], ["import", "-"], ["catch-up"], ["rebuild", "--all"], ["init"]],
)
def test_busy_timeout_turns_a_stuck_writer_into_one_line_and_exit_2(tmp_path: Path, command: list[str]) -> None:
    db = tmp_path / "store.db"
    init_with_history(db)
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(db)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        line = jsonl(event("wf-9", "workflow_started", event_id="0190b2d4-5f6e-7a8b-9c0d-1e2f3a4b5c6d",
                           timestamp="2026-01-01T00:00:00+00:00"))
        started = time.monotonic()
        result = run_process("--db", db, *command[:1], "--busy-timeout", "0.2", *command[1:], input=line)
        waited = time.monotonic() - started
    finally:
        holder.kill()
        holder.wait()
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "write lock" in result.stderr and "--busy-timeout" in result.stderr
    assert waited < 60  # the library default would wait minutes; the 60 s is only a hang guard
    assert event_count(db) == 13  # nothing was written


def test_busy_timeout_from_the_root_option_and_the_environment(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    init_with_history(db)
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(db)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        line = jsonl(event("wf-9", "workflow_started"))
        by_root = run_process("--db", db, "--busy-timeout", "0.1", "append", input=line)
        by_env = run_process("--db", db, "append", input=line, EVSTORE_BUSY_TIMEOUT="0.1")
    finally:
        holder.kill()
        holder.wait()
    for result in (by_root, by_env):
        assert result.returncode == 2 and "write lock" in result.stderr, result.stderr


@pytest.mark.parametrize("value", ["nan", "inf", "-1", "-inf", "soon"])
def test_busy_timeout_must_be_a_finite_number(tmp_path: Path, value: str) -> None:
    db = tmp_path / "store.db"
    init_with_history(db)
    assert_clean_error(run("--db", db, "status", "--busy-timeout", value), "--busy-timeout")
    assert_clean_error(run("--db", db, "--busy-timeout", value, "status"), "--busy-timeout")
    assert_clean_error(run("--db", db, "status", EVSTORE_BUSY_TIMEOUT=value), "EVSTORE_BUSY_TIMEOUT")


# --- numbers --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["events", "--after", str(2**63)],
        ["events", "--after", str(2**64 + 5)],
        ["events", "--limit", str(2**63)],
        ["events", "--follow", "--timeout", "nan"],
        ["events", "--follow", "--timeout", "inf"],
        ["events", "--follow", "--timeout", "1", "--interval", "nan"],
        ["import", "--batch-size", str(2**63), "-"],
        ["append", "--max-payload-bytes", str(2**64), "-"],
        ["append", "--expected-version", str(2**63), "-"],
    ],
)
def test_numbers_out_of_range_are_usage_errors(tmp_path: Path, args: list[str]) -> None:
    db = tmp_path / "store.db"
    init_with_history(db)
    result = run("--db", db, *args, input=jsonl(event("wf-1", "workflow_completed")))
    assert_clean_error(result)
    assert event_count(db) == 13


def test_the_largest_position_is_accepted(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    init_with_history(db)
    result = run("--db", db, "events", "--json", "--after", str(2**63 - 1))
    assert result.exit_code == 0 and result.stdout == ""


# --- a version conflict ---------------------------------------------------------------------


def test_version_conflict_exits_3_from_the_console_entry_point(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    init_with_history(db)
    result = run_process(
        "--db", db, "append", "--expected-version", "0", input=jsonl(event("wf-1", "workflow_completed"))
    )
    assert result.returncode == 3, result.stderr
    assert "line 1: workflow 'wf-1': expected version 0, but it is at version 4" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    help_text = run("--help").stdout
    assert "3    version conflict" in help_text and "130  interrupted" in help_text


# --- a damaged or incomplete store, a full disk --------------------------------------------------


@pytest.mark.parametrize("command", [["status"], ["events"], ["export"], ["append", "-"], ["catch-up"]])
def test_dropped_events_table_is_one_line(tmp_path: Path, command: list[str]) -> None:
    db = tmp_path / "store.db"
    init_with_history(db)
    with sqlite3.connect(db) as conn:
        conn.execute("DROP TABLE events")
    result = run("--db", db, *command, input=jsonl(event("wf-1", "workflow_completed")))
    assert_clean_error(result, "events")
    assert len(result.stderr.strip().splitlines()) == 1


def _limit_file_size(limit: int) -> None:
    import resource

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails (EFBIG) instead of killing us
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_FSIZE is POSIX")
def test_a_full_disk_during_append_is_one_line_and_nothing_is_committed(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    init_with_history(db)
    size = db.stat().st_size + Path(f"{db}-wal").stat().st_size if Path(f"{db}-wal").exists() else db.stat().st_size
    lines = jsonl(*(event(f"wf-{n}", "workflow_started", payload={"pad": "x" * 2000}) for n in range(3000)))
    result = subprocess.run(
        [*EVSTORE, "--db", str(db), "append"], input=lines, capture_output=True, text=True, env=_env(),
        preexec_fn=lambda: _limit_file_size(size + 200_000), timeout=120, check=False,
    )
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "disk" in result.stderr
    assert event_count(db) == 13


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_export_to_a_full_disk_is_one_line(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    init_with_history(db)
    with open("/dev/full", "wb") as full:
        result = subprocess.run([*EVSTORE, "--db", str(db), "export"], stdout=full, stderr=subprocess.PIPE,
                                text=True, env=_env(), timeout=120, check=False)
    assert result.returncode == 2, result.stderr
    assert "No space left on device" in result.stderr and "Traceback" not in result.stderr


# --- pipes and signals ----------------------------------------------------------------------------


def test_a_reader_that_goes_away_stops_the_command_quietly(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    init_with_history(db, [event(f"wf-{n}", "workflow_started") for n in range(5000)])
    producer = subprocess.Popen([*EVSTORE, "--db", str(db), "events", "--json"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=_env())
    assert producer.stdout is not None and producer.stderr is not None
    first = producer.stdout.readline()
    producer.stdout.close()  # like `| head -1`
    assert json.loads(first)["id"] == 1
    producer.wait(timeout=60)
    assert producer.returncode == 141
    assert producer.stderr.read() == b""


def test_ctrl_c_exits_130_and_leaves_the_store_usable(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    init_with_history(db)
    importer = subprocess.Popen([*EVSTORE, "--db", str(db), "import", "-"], stdin=subprocess.PIPE,
                                stderr=subprocess.PIPE, stdout=subprocess.PIPE, env=_env(), text=True)
    assert importer.stdin is not None
    importer.stdin.write(jsonl(event("wf-i", "workflow_started", event_id="0190b2d4-5f6e-7a8b-9c0d-1e2f3a4b5c6d",
                                     timestamp="2026-01-01T00:00:00+00:00")))
    importer.stdin.flush()
    time.sleep(1.5)  # let it start and wait for more input
    importer.send_signal(signal.SIGINT)
    _, err = importer.communicate(timeout=60)
    assert importer.returncode == 130, err
    assert "aborted" in err and "Traceback" not in err
    result = run("--db", db, "append", "--busy-timeout", "1", input=jsonl(event("wf-1", "workflow_completed")))
    assert result.exit_code == 0, result.output
