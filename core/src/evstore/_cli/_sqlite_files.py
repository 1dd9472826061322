"""What the command line does with SQLite files directly: which files make up a store,
refusing output targets that would destroy one, and copying a store with SQLite's online
backup API. Kept in one module so it can move behind the backend interface; a server
store (PostgreSQL) never reaches it.
"""

from __future__ import annotations

import os
import sqlite3
import stat
import tempfile
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

from ._shared import CommandError

# The files SQLite keeps beside a database: the write-ahead log, its index and the
# rollback journal. Writing over any of them destroys or corrupts the store.
COMPANION_SUFFIXES = ("-wal", "-shm", "-journal")
BACKUP_STEP_PAGES = 1024  # 4 MiB at the default page size: progress a few times a second


def store_files(database: Path) -> list[Path]:
    return [database, *(database.with_name(database.name + suffix) for suffix in COMPANION_SUFFIXES)]


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        found = path.stat()
    except OSError:
        return None
    return (found.st_dev, found.st_ino)


def _resolved(path: Path) -> Path:
    return path.resolve(strict=False)


def check_output_target(target: Path, database: Path | None, *, what: str = "output") -> None:
    """Refuse a target that is one of the store's files (by resolved path, and by inode
    for hard links and bind mounts), a symbolic link (writing through it clobbers
    whatever it points at), or anything but a regular file (a device, a folder, a FIFO).
    A missing target is fine: it will be created."""
    try:
        found = target.lstat()
    except FileNotFoundError:
        found = None
    except OSError as error:
        raise CommandError(f"cannot use {str(target)!r} as the {what}: {error.strerror}") from None
    if found is not None:
        if stat.S_ISLNK(found.st_mode):
            raise CommandError(
                f"the {what} {str(target)!r} is a symbolic link; refusing to write through it. "
                "Name the real file, or a new path."
            )
        if not stat.S_ISREG(found.st_mode):
            kind = _kind(found.st_mode)
            hint = "; to write to stdout use -o -" if what == "output" else ""
            raise CommandError(f"the {what} {str(target)!r} is {kind}, not a regular file{hint}")
    if database is None:
        return
    target_identity = _identity(target)
    for part in store_files(database):
        same_path = _resolved(part) == _resolved(target)
        same_file = target_identity is not None and target_identity == _identity(part)
        if same_path or same_file:
            role = "the store itself" if part == database else f"the store's {part.name[len(database.name):]} file"
            raise CommandError(
                f"the {what} {str(target)!r} is {role} ({str(part)!r}); writing it would destroy the "
                "store. Choose another path."
            )


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


@contextmanager
def replacing(target: Path, database: Path | None, *, what: str = "output") -> Iterator[Path]:
    """Yield a new empty file beside ``target`` to write, and rename it over the target
    once complete and synced, so a failure halfway (a full disk, Ctrl-C) never leaves a
    truncated file that looks complete, and the target is never truncated in place. The
    target is checked again just before the rename, in case it was swapped meanwhile."""
    check_output_target(target, database, what=what)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    except OSError as error:
        raise CommandError(f"cannot write {str(target)!r}: {error.strerror}") from None
    os.close(handle)
    temporary = Path(name)
    try:
        yield temporary
        _sync(temporary)
        check_output_target(target, database, what=what)
        os.replace(temporary, target)
    except BaseException:
        for part in store_files(temporary):
            part.unlink(missing_ok=True)
        raise
    _sync_folder(target.parent)


def _sync(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _sync_folder(folder: Path) -> None:
    """Make the rename itself durable (where the platform allows opening a folder)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


# --- backup and restore ---------------------------------------------------------------------


@dataclass(frozen=True)
class Copied:
    pages: int
    bytes: int
    events: int


def read_only_connection(path: Path, busy_timeout: float) -> sqlite3.Connection:
    # mode=ro: a backup must never write to its source, not even the WAL switch an
    # ordinary open would make.
    conn = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True, timeout=busy_timeout)
    conn.isolation_level = None
    return conn


def events_in(conn: sqlite3.Connection, path: Path) -> int:
    """The event count, checking on the way that this is an evstore store."""
    try:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as error:
        raise CommandError(f"{str(path)!r} is not a readable SQLite database: {error}") from None
    if not {"events", "evstore_meta"} <= tables:
        raise CommandError(f"{str(path)!r} is a SQLite database but not an evstore store (no events table)")
    return int(conn.execute("SELECT COUNT(*) FROM events").fetchone()[0])


def _check_integrity(conn: sqlite3.Connection, path: Path) -> None:
    problems = [row[0] for row in conn.execute("PRAGMA integrity_check(5)")]
    if problems != ["ok"]:
        raise CommandError(f"{str(path)!r} failed SQLite's integrity check: {'; '.join(problems)}")


def _pages(progress: Callable[[int, int], None]) -> Callable[[int, int, int], None]:
    """SQLite reports (status, pages left, pages in all); we report pages done."""
    return lambda _status, left, total: progress(total - left, total)


def copy_database(
    source: Path, target: Path, *, busy_timeout: float, progress: Callable[[int, int], None]
) -> Copied:
    """Copy the store at ``source`` into a new file ``target`` with SQLite's online
    backup API, while other processes keep appending.

    The source connection holds one read transaction for the whole copy. In WAL mode a
    reader never blocks writers, and the backup steps all read that one snapshot, so the
    copy is the store as it was at one commit, never pages from two (without the held
    transaction each step would see the newest commit and SQLite would restart the copy
    after every write by another process: under steady appends it might never finish).
    The copy is checked (integrity, evstore schema) before it replaces ``target``.
    """
    with closing(read_only_connection(source, busy_timeout)) as live:
        live.execute("BEGIN")
        events = events_in(live, source)  # the first read fixes the snapshot
        with replacing(target, source, what="backup") as temporary, closing(sqlite3.connect(temporary)) as copy:
            live.backup(copy, pages=BACKUP_STEP_PAGES, progress=_pages(progress))
            _check_integrity(copy, target)
            pages = int(copy.execute("PRAGMA page_count").fetchone()[0])
            copied_events = events_in(copy, target)
        live.execute("ROLLBACK")
    assert copied_events == events, (copied_events, events)
    return Copied(pages, target.stat().st_size, events)


def restore_database(
    backup: Path, target: Path, *, force: bool, busy_timeout: float, progress: Callable[[int, int], None]
) -> Copied:
    """Restore ``backup`` into the store at ``target``.

    A new path gets a new file (written beside it, renamed into place). An existing
    store is replaced only with ``force``, and then through the backup API into the live
    database, under its write lock, in one step: processes that have it open see the old
    store or the restored one at their next transaction, never a mix, and never a file
    swapped under their open descriptors (which a rename would do, leaving them writing
    to a deleted file).
    """
    with closing(read_only_connection(backup, busy_timeout)) as source:
        _check_integrity(source, backup)
        events = events_in(source, backup)
        if not target.exists():
            stale = [p for p in store_files(target)[1:] if p.exists()]
            if stale:
                raise CommandError(
                    f"no store at {str(target)!r}, but {str(stale[0])!r} is there: SQLite would apply "
                    "it to the restored file. Remove the stale file, or restore to another path."
                )
            with (
                replacing(target, None, what="restore target") as temporary,
                closing(sqlite3.connect(temporary)) as copy,
            ):
                source.backup(copy, pages=BACKUP_STEP_PAGES, progress=_pages(progress))
            return Copied(int(source.execute("PRAGMA page_count").fetchone()[0]), target.stat().st_size, events)
        check_output_target(target, None, what="restore target")
        with closing(sqlite3.connect(target, timeout=busy_timeout)) as live:
            live.isolation_level = None
            existing = events_in(live, target)
            if not force:
                raise CommandError(
                    f"a store already exists at {str(target)!r} ({existing:,} events); restoring would "
                    "replace it. Pass --force to replace it, or restore into a new path with --db."
                )
            pages = int(source.execute("PRAGMA page_count").fetchone()[0])
            source.backup(live, pages=-1)
            progress(pages, pages)
            _check_integrity(live, target)
    return Copied(pages, target.stat().st_size, events)
