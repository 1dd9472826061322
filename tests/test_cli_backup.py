"""Files the command line writes: `export -o` never destroys the store or writes through
a link or a device, and `backup` / `restore` copy a live store consistently."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_support import PLUGINS, assert_clean_error, event, event_count, init_with_history, jsonl, run

from evstore import EventStore, NewEvent


def _fingerprint(db: Path) -> bytes:
    return b"".join(Path(f"{db}{suffix}").read_bytes() for suffix in ("", "-wal") if Path(f"{db}{suffix}").exists())


# --- export -o ----------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", ["", "-wal", "-shm", "-journal"])
def test_export_refuses_the_store_and_its_files(tmp_path: Path, suffix: str) -> None:
    db = tmp_path / "store.db"
    init_with_history(db)
    with EventStore.open(db, autoload=False):  # keeps -wal and -shm in place while we try
        target = Path(f"{db}{suffix}")
        target.touch()
        before = target.read_bytes()
        result = run("--db", db, "export", "-o", target)
        assert_clean_error(result, "would destroy the store")
        assert target.read_bytes() == before
    assert event_count(db) == 13


def test_export_refuses_the_store_by_another_name(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    init_with_history(db)
    hard = tmp_path / "hard-link.db"
    os.link(db, hard)
    (tmp_path / "sub").mkdir()
    dotted = tmp_path / "sub" / ".." / "store.db"
    for target in (hard, dotted):
        assert_clean_error(run("--db", db, "export", "-o", target), "would destroy the store")
    assert event_count(db) == 13


def test_export_refuses_links_devices_folders_and_pipes(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    init_with_history(db)
    victim = tmp_path / "precious.txt"
    victim.write_text("keep me")
    link = tmp_path / "link.jsonl"
    link.symlink_to(victim)
    folder = tmp_path / "folder"
    folder.mkdir()
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    cases = [(link, "symbolic link"), (folder, "a directory"), (fifo, "a named pipe")]
    if Path("/dev/null").exists():
        cases.append((Path("/dev/null"), "a device"))
    for target, message in cases:
        assert_clean_error(run("--db", db, "export", "-o", target), message)
    assert victim.read_text() == "keep me" and link.is_symlink()


def test_export_dash_is_stdout_and_a_file_is_replaced_not_truncated(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    init_with_history(db)
    to_stdout = run("--db", db, "export", "-o", "-")
    assert to_stdout.exit_code == 0 and len(to_stdout.stdout.splitlines()) == 13
    target = tmp_path / "log.jsonl"
    target.write_text("old backup\n")
    other_name = tmp_path / "old-log.jsonl"
    os.link(target, other_name)  # a second name for the old file's inode
    assert run("--db", db, "export", "-o", target).exit_code == 0
    assert target.read_bytes() == to_stdout.stdout_bytes
    assert other_name.read_text() == "old backup\n"  # written beside and renamed: the old inode is intact


def _limit_file_size(limit: int) -> None:
    import resource
    import signal

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails (EFBIG) instead of killing us
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_FSIZE is POSIX")
def test_a_failed_export_leaves_the_old_file_and_no_partial(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    init_with_history(db, [event(f"wf-{n}", "workflow_started", payload={"pad": "x" * 500}) for n in range(2000)])
    target = tmp_path / "log.jsonl"
    target.write_text("old backup\n")
    result = subprocess.run(  # the disk "fills up" after 100 kB of the export
        [sys.executable, "-m", "evstore", "--db", str(db), "export", "-o", str(target)],
        capture_output=True, text=True, env={**os.environ, "EVSTORE_PLUGINS": PLUGINS},
        preexec_fn=lambda: _limit_file_size(100_000), timeout=120, check=False,
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert target.read_text() == "old backup\n"
    assert sorted(p.name for p in tmp_path.iterdir() if "partial" in p.name) == []


# --- backup and restore ---------------------------------------------------------------------------

WRITER = """
import sys
from evstore import EventStore, NewEvent
with EventStore.open(sys.argv[1], permissive=True, durability="normal") as store:
    for n in range(100_000):
        store.append_many([NewEvent(workflow_id=f"w{n % 7}", event_type="tick", payload={"n": n, "pad": "x" * 300})
                           for _ in range(5)])
        if n == 0:
            print("writing", flush=True)
"""


def test_backup_is_consistent_while_another_process_appends(tmp_path: Path) -> None:
    db, copy = tmp_path / "store.db", tmp_path / "backups" / "copy.db"
    init_with_history(db)
    with EventStore.open(db, permissive=True, autoload=False) as store:  # a few MB, so the copy takes steps
        store.append_many([NewEvent(workflow_id=f"w{n}", event_type="tick", payload={"pad": "y" * 500})
                           for n in range(20_000)])
    env = {**os.environ, "EVSTORE_PLUGINS": PLUGINS}
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(db)], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert writer.stdout is not None and writer.stdout.readline() == "writing\n"
        result = run("--db", db, "backup", copy, "--json")
        assert writer.poll() is None, "the writer must still be appending after the backup"
        with EventStore.open(db, autoload=False) as live:
            head_after = live.head()
    finally:
        writer.kill()
        writer.wait()
    assert result.exit_code == 0, result.output
    outcome = json.loads(result.stdout)
    # The copy is the log at one commit: a prefix of the live log, whole appends only
    # (the writer appends five events at a time), and its projections match a rebuild.
    with EventStore.open(db, autoload=False) as live, EventStore.open(copy, autoload=False) as backup:
        copied = backup.read_all()
        assert outcome["events"] == len(copied) > 20_013
        assert head_after > len(copied)  # appends kept landing while the copy was made
        assert [e.to_dict() for e in copied] == [e.to_dict() for e in live.read_all(limit=len(copied))]
    assert (len(copied) - 20_013) % 5 == 0
    verify = run("--db", copy, "verify")
    assert verify.exit_code == 0, verify.output


def test_backup_refuses_existing_files_the_store_itself_and_links(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    init_with_history(db)
    existing = tmp_path / "existing.db"
    existing.write_text("not mine to replace")
    assert_clean_error(run("--db", db, "backup", existing), "--force")
    assert existing.read_text() == "not mine to replace"
    assert_clean_error(run("--db", db, "backup", "--force", db), "would destroy the store")
    assert_clean_error(run("--db", db, "backup", "--force", f"{db}-wal"), "would destroy the store")
    link = tmp_path / "link.db"
    link.symlink_to(existing)
    assert_clean_error(run("--db", db, "backup", link), "symbolic link")
    assert existing.read_text() == "not mine to replace"
    assert run("--db", db, "backup", "--force", existing).exit_code == 0
    assert event_count(existing) == 13
    assert_clean_error(run("--db", tmp_path / "missing.db", "backup", tmp_path / "b.db"), "no database")


def test_restore_into_a_fresh_path_and_refuse_a_live_store_without_force(tmp_path: Path) -> None:
    db, copy, fresh = tmp_path / "store.db", tmp_path / "copy.db", tmp_path / "new" / "restored.db"
    init_with_history(db)
    assert run("--db", db, "backup", copy).exit_code == 0
    assert run("--db", db, "append", input=jsonl(event("wf-9", "workflow_started"))).exit_code == 0

    restored = run("--db", fresh, "restore", copy)
    assert restored.exit_code == 0, restored.output
    assert event_count(fresh) == 13 and run("--db", fresh, "verify").exit_code == 0

    before = _fingerprint(db)
    refused = run("--db", db, "restore", copy)
    assert_clean_error(refused, "already exists", "14 events", "--force")
    assert _fingerprint(db) == before

    with EventStore.open(db, autoload=False) as reader:  # a process that has it open
        assert reader.head() == 14
        forced = run("--db", db, "restore", "--force", copy)
        assert forced.exit_code == 0, forced.output
        assert reader.head() == 13  # it sees the restored store, not a file swapped under it
    assert run("--db", db, "verify").exit_code == 0
    assert run("--db", db, "status", "--check").exit_code == 0


def test_restore_refuses_a_damaged_or_foreign_backup(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not sqlite at all" * 500)
    foreign = tmp_path / "foreign.db"
    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE notes (body TEXT)")
    for backup, message in ((garbage, "not"), (foreign, "not an evstore store")):
        assert_clean_error(run("--db", db, "restore", backup), message)
        assert not db.exists()


def test_restore_refuses_a_stale_wal_beside_a_fresh_path(tmp_path: Path) -> None:
    db, copy = tmp_path / "store.db", tmp_path / "copy.db"
    init_with_history(db)
    assert run("--db", db, "backup", copy).exit_code == 0
    fresh = tmp_path / "fresh.db"
    Path(f"{fresh}-wal").write_bytes(b"left over")
    assert_clean_error(run("--db", fresh, "restore", copy), "-wal")
    assert not fresh.exists()


@pytest.mark.parametrize("command", ["backup", "restore"])
def test_a_postgresql_store_gets_pg_dump_guidance(tmp_path: Path, command: str) -> None:
    backup = tmp_path / "x.dump"
    backup.write_text("")
    url = "postgresql://evstore:secret@db.example/evstore"
    result = run("--db", url, command, backup)
    assert_clean_error(result, "pg_dump" if command == "backup" else "pg_restore", "evstore:***@db.example")
    assert "secret" not in result.stderr


# --- a store on read-only media -------------------------------------------------------------------


@pytest.fixture
def read_only_store(tmp_path: Path) -> Iterator[Path]:
    """A store whose folder and files cannot be written, even by root (chattr +i)."""
    folder = tmp_path / "media"
    db = folder / "store.db"
    init_with_history(db)
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    locked = [folder, *folder.iterdir()]
    if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", *map(str, locked)],
                                                        capture_output=True, check=False).returncode != 0:
        pytest.skip("needs chattr +i (Linux, root) to make read-only media")
    try:
        yield db
    finally:
        subprocess.run(["chattr", "-i", *map(str, locked)], check=True)


@pytest.mark.parametrize(
    "command", [["events"], ["events", "--json"], ["status", "--check"], ["export"], ["verify"], ["plugins"]]
)
def test_reading_commands_work_on_read_only_media(read_only_store: Path, command: list[str]) -> None:
    before = _fingerprint(read_only_store)
    result = run("--db", read_only_store, *command)
    assert result.exit_code == 0, result.output
    assert _fingerprint(read_only_store) == before


def test_read_only_media_can_be_backed_up_and_writes_say_why_they_fail(read_only_store: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy.db"
    assert run("--db", read_only_store, "backup", copy).exit_code == 0
    assert event_count(copy) == 13
    result = run("--db", read_only_store, "append", input=jsonl(event("wf-1", "workflow_completed")))
    assert_clean_error(result)
    assert "Traceback" not in result.output
