"""What people read: tables at 80 columns and on a pipe never cut an event type into
`workflow_st…`, progress bars (count, rate, ETA) only on a terminal, and shell completion
as documented."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
from pathlib import Path

import pytest
from cli_support import EVSTORE, PLUGINS, event, init_with_history, jsonl, run, run_process

from evstore import EventStore, NewEvent

LONG_WORKFLOW = "workflow-with-a-rather-long-identifier-0001"
TYPES = ["workflow_started", "step_started", "step_completed", "workflow_completed"]


def _store_with_long_names(db: Path) -> None:
    history = [
        event(LONG_WORKFLOW, "workflow_started", payload={"initial_step": "plan"}),
        event(LONG_WORKFLOW, "step_started", step_id="a-long-step-identifier-for-planning", role="planner"),
        event(LONG_WORKFLOW, "step_completed", step_id="a-long-step-identifier-for-planning",
              payload={"output": {"ok": True}}),
        event("wf-2", "workflow_started"),
        event(LONG_WORKFLOW, "workflow_completed"),
    ]
    init_with_history(db, history)


def _column(text: str, header: str, next_header: str) -> list[str]:
    """Each row's cell under ``header``, its wrapped pieces joined (a row starts with
    its position)."""
    lines = text.splitlines()
    head = next(line for line in lines if header in line and next_header in line)
    start, end = head.index(header), head.index(next_header)
    first_gap = head.index("   ")  # the end of the first column, the position
    cells: list[str] = []
    for line in lines[lines.index(head) + 2:]:
        piece = line[start:end].strip()
        if line[:first_gap].strip():
            cells.append(piece)
        elif cells:
            cells[-1] += piece
    return cells


def _assert_nothing_cut(text: str, words: list[str]) -> None:
    assert "…" not in text and "..." not in text, text
    tokens = set(text.split())
    for word in words:
        assert word in tokens, (word, text)


def test_events_table_at_80_columns_keeps_types_and_positions_whole(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    _store_with_long_names(db)
    result = run("--db", db, "events", COLUMNS="80")
    assert result.exit_code == 0, result.output
    assert all(len(line) <= 80 for line in result.stdout.splitlines()), result.stdout
    _assert_nothing_cut(result.stdout, [*TYPES, "1", "5"])
    # Long ids wrap onto more lines rather than losing characters.
    assert _column(result.stdout, "workflow", "ver") == [LONG_WORKFLOW] * 3 + ["wf-2", LONG_WORKFLOW]
    assert _column(result.stdout, "type", "step") == [
        "workflow_started", "step_started", "step_completed", "workflow_started", "workflow_completed",
    ]


def test_events_table_on_a_pipe_is_one_row_per_line_without_trailing_spaces(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    _store_with_long_names(db)
    result = run_process("--db", db, "events")  # stdout is a pipe, COLUMNS unset
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    rows = [line for line in lines if line.lstrip()[:1].isdigit() and "event(s)" not in line]
    assert len(rows) == 5 and all(LONG_WORKFLOW in row for row in rows if "wf-2" not in row)
    assert all(line == line.rstrip() for line in lines)
    _assert_nothing_cut(result.stdout, [*TYPES, "a-long-step-identifier-for-planning", "planner"])


def test_event_types_too_long_for_a_table_get_one_line_each(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    very_long = "component_completed_after_a_very_long_review_by_the_board"
    appended = run("--db", db, "append", "--permissive", input=jsonl(event("wf-1", very_long), event("wf-1", "short")))
    assert appended.exit_code == 0, appended.output
    result = run("--db", db, "events", COLUMNS="80", EVSTORE_PLUGINS="")
    assert result.exit_code == 0, result.output
    _assert_nothing_cut(result.stdout, [very_long, "short"])
    assert len(result.stdout.splitlines()) == 3  # a count, then one line per event
    _store_with_long_names(tmp_path / "other.db")  # a terminal too narrow for any table
    narrow = run("--db", tmp_path / "other.db", "events", COLUMNS="50")
    _assert_nothing_cut(narrow.stdout, [*TYPES, LONG_WORKFLOW])


def test_status_and_catch_up_tables_at_80_columns(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    init_with_history(db)
    status = run("--db", db, "status", COLUMNS="80")
    catch_up = run("--db", db, "catch-up", COLUMNS="80")
    for result in (status, catch_up):
        assert result.exit_code == 0, result.output
        table = result.stdout[result.stdout.index("projection"):]
        assert all(len(line) <= 80 for line in table.splitlines()), table
        _assert_nothing_cut(result.stdout, ["steps", "workflows", "ok"])


# --- progress -------------------------------------------------------------------------------------


def _in_a_terminal(*args: str | Path) -> tuple[int, str, str]:
    """Run evstore with stderr on a pseudo-terminal (where bars are drawn) and stdout on
    a pipe; returns the exit status, what the terminal showed, and stdout."""
    leader, follower = pty.openpty()
    env = {**{k: v for k, v in os.environ.items() if k != "EVSTORE_DB"}, "EVSTORE_PLUGINS": PLUGINS,
           "COLUMNS": "120"}
    process = subprocess.Popen([*EVSTORE, *map(str, args)], stdout=subprocess.PIPE, stderr=follower, env=env)
    os.close(follower)
    shown = bytearray()
    while True:
        ready, _, _ = select.select([leader], [], [], 0.1)
        if ready:
            try:
                data = os.read(leader, 65536)
            except OSError:  # the terminal closed with the process
                break
            if not data:
                break
            shown += data
        elif process.poll() is not None:
            break
    os.close(leader)
    assert process.stdout is not None
    out = process.stdout.read().decode()
    return process.wait(timeout=60), shown.decode(errors="replace"), out


@pytest.fixture(scope="module")
def big_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("progress") / "store.db"
    with EventStore.open(db, autoload=False, permissive=True, durability="normal") as store:
        store.append_many(
            NewEvent(workflow_id=f"wf-{n % 100}", event_type="workflow_started" if n < 100 else "step_started",
                     step_id="s", role="r")
            for n in range(60_000)
        )
    return db


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_rebuild_draws_a_bar_with_count_rate_and_eta_on_a_terminal(big_store: Path) -> None:
    status, shown, out = _in_a_terminal("--db", big_store, "rebuild", "--all")
    assert status == 0, shown
    assert "60000/60000" in shown and "ev/s" in shown and "ETA" in shown, shown[-500:]
    assert "rebuilt steps, workflows up to position 60,000" in out


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_import_of_a_file_shows_bytes_events_and_eta(big_store: Path, tmp_path: Path) -> None:
    exported = tmp_path / "log.jsonl"
    assert run("--db", big_store, "export", "-o", exported).exit_code == 0
    status, shown, out = _in_a_terminal("--db", tmp_path / "copy.db", "import", exported)
    assert status == 0, shown
    assert "events" in shown and "ETA" in shown and "MB" in shown, shown[-500:]
    assert "imported 60,000 new events" in out


def test_no_bar_off_a_terminal(big_store: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy.db"
    exported = tmp_path / "log.jsonl"
    assert run("--db", big_store, "export", "-o", exported).exit_code == 0
    result = run_process("--db", copy, "import", exported)
    assert result.returncode == 0
    assert "ETA" not in result.stderr and "\x1b[" not in result.stderr
    rebuild = run_process("--db", copy, "rebuild", "--all")
    assert rebuild.returncode == 0 and rebuild.stderr == ""


# --- shell completion -----------------------------------------------------------------------------


def test_shell_completion_as_documented() -> None:
    script = run_process(_EVSTORE_COMPLETE="bash_source")
    assert script.returncode == 0 and "_evstore_completion" in script.stdout
    completed = run_process(_EVSTORE_COMPLETE="bash_complete", COMP_WORDS="evstore ba", COMP_CWORD="1")
    assert completed.returncode == 0
    assert {"plain,backup"} <= set(completed.stdout.split()), completed.stdout
    docs = (Path(__file__).parents[1] / "docs" / "operations.md").read_text()
    assert "_EVSTORE_COMPLETE=bash_source evstore" in docs
    assert "_EVSTORE_COMPLETE=zsh_source evstore" in docs
