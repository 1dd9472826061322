"""``evstore backup`` and ``evstore restore``: a consistent copy of a live store, and
putting one back. SQLite stores are copied with SQLite's online backup API (see
``_sqlite_files``); a PostgreSQL store is pg_dump's job, and these commands say how."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click

from ._console import progress_bar
from ._shared import (
    CommandError,
    Stopwatch,
    _redacted,
    busy_timeout,
    database_target,
    db_option,
    echo_json,
    sqlite_path,
)
from ._sqlite_files import Copied, copy_database, restore_database


def _server_guidance(target: Path | str, command: str) -> CommandError:
    url = _redacted(target)
    if command == "backup":
        how = (
            f"back it up with `pg_dump --format=custom --file=evstore.dump '{url}'` (consistent while "
            "others write: pg_dump reads one snapshot)"
        )
    else:
        how = (
            f"restore a pg_dump with `pg_restore --clean --if-exists --no-owner --dbname='{url}' evstore.dump` "
            "into a database nobody writes meanwhile"
        )
    return CommandError(f"evstore {command} copies SQLite files; {url!r} is a PostgreSQL store: {how}.")


@click.command("backup", short_help="Copy the store to a file, consistently, while others write.")
@click.argument("path", type=click.Path(path_type=Path))
@db_option
@click.option("--force", is_flag=True, help="Replace PATH if it exists (only once the copy is complete).")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
def backup_command(path: Path, db: Path | str | None, force: bool, as_json: bool) -> None:
    """Copy the store to PATH with SQLite's online backup API: the copy is the store as
    it was at one commit, even while other processes append (they are not blocked). The
    copy is written beside PATH, checked (SQLite's integrity check, the evstore schema)
    and then renamed to PATH. Restore it with `evstore restore PATH`, or open it
    directly. For a PostgreSQL store, prints the pg_dump command instead.

    Exit status: 0 copied; 2 PATH exists (without --force), is the store or one of its
    files, a link or a device; no database; a PostgreSQL store; or a store error.
    """
    target = database_target(db)
    source = sqlite_path(target)
    if source is None:
        raise _server_guidance(target, "backup")
    if not source.exists():
        raise CommandError(f"no database at {str(source)!r} to back up")
    if path.exists() and not force and not path.is_symlink():
        raise CommandError(f"{str(path)!r} exists; pass --force to replace it, or choose a new path")
    clock = Stopwatch()
    with progress_bar("backing up (pages)", None) as update:
        copied = copy_database(source, path, busy_timeout=busy_timeout(), progress=_pages(update))
    _report("backed up", source, path, copied, clock, as_json)


@click.command("restore", short_help="Put a backup in place of the store (--force to replace one).")
@click.argument("backup", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@db_option
@click.option("--force", is_flag=True, help="Replace the store at --db if one is there.")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
def restore_command(backup: Path, db: Path | str | None, force: bool, as_json: bool) -> None:
    """Restore BACKUP (a file made by `evstore backup`, or any copy of an evstore store)
    into the store at --db. The backup is checked first (integrity, evstore schema).

    Into a new path, the backup is copied beside it and renamed into place. A store that
    already exists there is replaced only with --force: the restore then writes into it
    under its write lock, in one step, so processes that have it open see the old store
    or the restored one, never a mix. Projections come back as they were in the backup.
    For a PostgreSQL store, prints the pg_restore command instead.

    Exit status: 0 restored; 2 a store is already there (without --force), the backup
    is damaged or not an evstore store, a PostgreSQL store, or a store error.
    """
    target = database_target(db)
    destination = sqlite_path(target)
    if destination is None:
        raise _server_guidance(target, "restore")
    clock = Stopwatch()
    with progress_bar("restoring (pages)", None) as update:
        copied = restore_database(
            backup, destination, force=force, busy_timeout=busy_timeout(), progress=_pages(update)
        )
    _report("restored", backup, destination, copied, clock, as_json)


def _pages(update: Callable[..., None]) -> Callable[[int, int], None]:
    def progress(done: int, total: int) -> None:
        update(done, total=total)

    return progress


def _report(verb: str, source: Path, target: Path, copied: Copied, clock: Stopwatch, as_json: bool) -> None:
    if as_json:
        echo_json(
            {"source": str(source), "target": str(target), "events": copied.events, "bytes": copied.bytes,
             "seconds": round(clock.seconds, 3)}
        )
        return
    click.echo(
        f"{verb} {str(source)!r} to {str(target)!r}: {copied.events:,} events, {copied.bytes:,} bytes "
        f"in {clock.seconds:.2f}s"
    )
