"""``evstore migrate``: copy a store to another backend (SQLite <-> PostgreSQL), resumably.

A migration is an export piped into an import, without the file: each source event goes
through the same JSON line and the same reader as ``evstore export`` / ``evstore import``,
so an event keeps its event id, timestamp, metadata and payload bytes, and the copy's
export is byte-identical to the source's. Positions and versions are assigned by the
target as it appends; the copy checks in every batch's transaction that they came out
equal to the source's and rolls the batch back otherwise.

Resuming: the target's log must be a prefix of the source's (the same events at the same
positions); the copy then continues after the target's head. Each batch is one
transaction (cut, like an import's, never between a cause and its follow-ups), so an
interrupted migration leaves whole batches and the next run picks up where it stopped.

Projections are not copied table by table: the log is the source of truth, so the
target's projections apply the copied events (inline ones as they are appended, async
ones in a catch-up at the end), and the copy then checks that every projection's rows
equal the source's. Reactors do not run: the log already holds their follow-ups.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from .. import EventStore, NewEvent, RecordedEvent
from ._causation import Batch, batches, item
from ._console import progress_bar
from ._lines import decode, event_from_json
from ._shared import (
    EXIT_PROBLEMS,
    CommandError,
    Stopwatch,
    StoreLocation,
    _redacted,
    database_target,
    db_option,
    echo_json,
    event_line,
    max_payload_option,
    open_store,
    sqlite_path,
    summary,
)
from .transfer import DEFAULT_BATCH, IMPORT_REQUIRED


@dataclass
class MigrationReport:
    copied: int = 0  # events appended to the target by this run
    already_there: int = 0  # events the target held before (an earlier, interrupted run)
    head: int = 0  # the source's head this run copied up to
    projections: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(p["rows_equal"] is not False for p in self.projections)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok, "copied": self.copied, "already_there": self.already_there, "head": self.head,
            "projections": self.projections,
        }


@click.command("migrate", short_help="Copy the store to another backend (resumable).")
@db_option
@click.option(
    "--to", "to", type=StoreLocation(), required=True, metavar="PATH|URL",
    help="The target store: a postgresql:// URL or a SQLite file path (created if missing).",
)
@click.option(
    "--batch-size", type=click.IntRange(min=1, max=1_000_000), default=DEFAULT_BATCH, show_default=True,
    help="Events per transaction, about: a batch grows to keep follow-ups with their cause.",
)
@max_payload_option
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
def migrate_command(
    db: Path | str | None, to: Path | str, batch_size: int, max_payload_bytes: int | None, as_json: bool
) -> None:
    """Copy the store (--db) into the store at --to, on the same or the other backend:
    every event keeps its position, version, event id, timestamp and metadata, and the
    target's projections are built from the copied log (the log is the source of truth)
    and then compared row by row with the source's.

    Run it again to resume after an interruption, or to copy what was appended since:
    the target must then hold a prefix of the source's log, and only the rest is copied.
    Each batch commits in one transaction, so Ctrl-C leaves a target that resumes
    cleanly. Reactors do not run in the target: the log already holds their follow-ups.

    Exit status: 0 copied and every projection's rows equal the source's; 1 copied, but
    a projection's rows differ (listed); 2 --to is the source itself, the target holds a
    different log, no database at --db, or a store error.
    """
    target = to
    source_target = database_target(db)
    _refuse_same_file(source_target, target)
    report = MigrationReport()
    clock = Stopwatch()
    with (
        open_store(db, read_only=True) as source,
        open_store(target, create=True, permissive=True, reactors=False, max_payload_bytes=max_payload_bytes)
        as copy,
    ):
        _refuse_same_store(source, copy)
        report.head = source.head()
        report.already_there = _check_prefix(source, copy)
        try:
            with progress_bar("migrating", report.head) as update:

                def committed(count: int, position: int) -> None:
                    report.copied += count
                    update(position)

                copy_log(source, copy, batch_size, head=report.head, committed=committed)
        except KeyboardInterrupt:
            click.echo(
                f"interrupted: the target holds the first {report.already_there + report.copied:,} events; "
                "run the same command again to resume",
                err=True,
            )
            raise
        copy.catch_up()  # async projections, and any that went failing while copying
        report.projections = _compare_projections(source, copy)
    _print(report, clock, copy.target, as_json)
    if not report.ok:
        click.get_current_context().exit(EXIT_PROBLEMS)


def copy_log(
    source: EventStore, copy: EventStore, batch_size: int = DEFAULT_BATCH, *, head: int | None = None,
    committed: Callable[[int, int], None] | None = None,
) -> None:
    """Copy the source's events after the copy's head (up to ``head``, default the
    source's) into the copy, a batch per transaction; ``committed(count, position)``
    after each."""
    last = source.head() if head is None else head
    for batch in batches(_items(source, copy.head(), last), batch_size, batch_size):
        _commit(copy, batch)
        if committed is not None:
            committed(len(batch), batch.items[-1].line)


def _refuse_same_file(source: Path | str, target: Path | str) -> None:
    """Before opening anything: ``--to`` naming the source's own file. Opening the target
    with create=True would otherwise be harmless, but appending the log onto itself is not."""
    source_path, target_path = sqlite_path(source), sqlite_path(target)
    if source_path is None or target_path is None or not target_path.exists() or not source_path.exists():
        return
    if os.path.samefile(source_path, target_path):
        raise CommandError(
            f"--to {str(target)!r} is the source store itself; give another file or a postgresql:// URL"
        )


def _refuse_same_store(source: EventStore, copy: EventStore) -> None:
    """Two URLs may name one PostgreSQL store (a host alias, another spelling): compare
    what the servers say about where each store lives."""
    if source.dialect != "postgresql" or copy.dialect != "postgresql":
        return
    if _where(source) == _where(copy):
        raise CommandError(
            f"--to {copy.target!r} is the source store itself (same server, database and schema); "
            "give another schema (?options=-csearch_path%3Dname), database or server"
        )


def _where(store: EventStore) -> tuple[Any, ...]:
    row = store.reader.fetchall(
        "SELECT inet_server_addr()::text, inet_server_port(), current_database(), current_schema()"
    )[0]
    return tuple(row)


def _check_prefix(source: EventStore, copy: EventStore) -> int:
    """The target's head, once its whole log is found to be the start of the source's,
    event for event (as export writes them); a typed error otherwise."""
    there = copy.head()
    if there == 0:
        return 0
    if there > source.head():
        raise CommandError(
            f"the target {copy.target!r} holds {there:,} events and the source only {source.head():,}: it holds "
            "a different log. Migrate into an empty store (a new file, schema or database)."
        )
    for mine, theirs in zip(source.iter_all(), copy.iter_all(), strict=False):
        if event_line(mine) != event_line(theirs):
            raise CommandError(
                f"the target {copy.target!r} holds a different log: at position {theirs.id} it has event "
                f"{theirs.event_id} ({theirs.event_type}), the source {mine.event_id} ({mine.event_type}). "
                "Migrate into an empty store (a new file, schema or database)."
            )
        if mine.id >= there:
            break
    return there


def _items(source: EventStore, after: int, head: int) -> Iterator[Any]:
    """The source's events after ``after`` up to ``head`` as import items, through the
    export's JSON line and the import's reader: what migrate writes is exactly what
    export piped into import would write."""
    for event in source.iter_all(after=after):
        if event.id > head:
            return
        yield item(event.id, _as_new(event))


def _as_new(event: RecordedEvent) -> NewEvent:
    return event_from_json(decode(event_line(event).encode("utf-8"), event.id), event.id, required=IMPORT_REQUIRED)


def _commit(copy: EventStore, batch: Batch) -> None:
    """One batch, one transaction; rolled back unless every event landed at its source
    position (the target's positions and versions are assigned by its own appends)."""
    events = [entry.event for entry in batch.items]
    wanted = [entry.line for entry in batch.items]
    with copy.transaction() as tx:
        positions = tx.append_many(events)
        if positions != wanted:
            raise CommandError(
                f"events {wanted[0]}..{wanted[-1]} of the source landed at positions {positions[0]}..{positions[-1]} "
                "of the target (the source's log has gaps, or another writer appended to the target); "
                "nothing of this batch was kept. Migrate into a store nobody else writes to."
            )


def _compare_projections(source: EventStore, copy: EventStore) -> list[dict[str, Any]]:
    """Per projection of the target: whether its rows equal the source's (None when the
    source's cannot be trusted as the reference: not loaded there, failing or behind)."""
    statuses = {s.name: s for s in source.projection_status()}
    copied = {s.name: s for s in copy.projection_status()}
    results = []
    for name in sorted(copy.registry.projections):
        mine, theirs = statuses.get(name), copied[name]
        entry: dict[str, Any] = {
            "name": name, "position": theirs.position, "status": theirs.status, "rows_equal": None,
            "differing_tables": [],
        }
        if mine is None or mine.status != "ok" or mine.position < source.head() or theirs.status != "ok":
            entry["note"] = _why_not_compared(mine, theirs, source.head())
        else:
            tables = copy.registry.projections[name].projection.tables
            entry["differing_tables"] = [t for t in sorted(tables) if _rows(source, t) != _rows(copy, t)]
            entry["rows_equal"] = not entry["differing_tables"]
        results.append(entry)
    return results


def _why_not_compared(source: Any, copy: Any, head: int) -> str:
    if copy.status != "ok":
        return f"failing in the target: {copy.error}"
    if source is None:
        return "not in the source: built from the log in the target"
    if source.status != "ok":
        return f"{source.status} in the source, so its rows are no reference; rebuilt from the log in the target"
    return f"behind in the source (at {source.position:,} of {head:,}); rebuilt from the log in the target"


def _rows(store: EventStore, table: str) -> list[tuple[Any, ...]]:
    """A table's rows in a backend-neutral order (sorted by their text), as a multiset."""
    quoted = '"' + table.replace('"', '""') + '"'
    rows = [tuple(row) for row in store.reader.fetchall(f"SELECT * FROM {quoted}")]
    return sorted(rows, key=repr)


def _print(report: MigrationReport, clock: Stopwatch, where: str, as_json: bool) -> None:
    if as_json:
        echo_json({**report.to_json(), "seconds": round(clock.seconds, 3)})
        return
    click.echo(
        f"copied {summary(report.copied, clock.seconds, clock.rate(report.copied))} to {_redacted(where)}"
        + (f" ({report.already_there:,} were there already)" if report.already_there else "")
    )
    for entry in report.projections:
        if entry["rows_equal"] is True:
            text = "rebuilt from the log; rows equal the source's"
        elif entry["rows_equal"] is False:
            text = f"rows DIFFER from the source's in {', '.join(entry['differing_tables'])}"
        else:
            text = entry["note"]
        click.echo(f"{entry['name']}: at position {entry['position']:,}, {text}")
