"""``evstore export`` and ``evstore import``: the log as JSON lines, in constant memory.

An export holds every event's full envelope, one JSON object per line, in position
order. Importing it keeps each event's ``event_id``, timestamp and metadata, so:

- a second import of the same file appends nothing (the kernel recognises known ids and
  returns their original positions);
- into an empty store, every event lands at the same position and version, and
  export → import → export gives a byte-identical file.

Imports run with reactors off: the log being imported already holds the follow-up
events reactors appended the first time, and running them again would add them twice.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import click

from .. import EventStore, EvstoreError, NewEvent
from ._lines import BadLine, decode, event_from_json, numbered_lines
from ._shared import (
    CommandError,
    Stopwatch,
    db_option,
    echo_json,
    event_line,
    open_store,
    progress_bar,
    stderr_console,
    summary,
)

DEFAULT_BATCH = 1000
IMPORT_REQUIRED = ("workflow_id", "event_type", "event_id", "timestamp")
_SHOWN_SKIPS = 20

# --- export -------------------------------------------------------------------------------


@click.command("export", short_help="Write the whole log as JSON lines.")
@db_option
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
    help="Write to this file (replaced only once the export is complete) instead of stdout.",
)
def export_command(db: Path | None, output: Path | None) -> None:
    """Write the whole log as JSON lines: one event per line with its full envelope (id,
    workflow_id, event_type, role, step_id, component_id, status, payload, timestamp,
    version, event_id, metadata), in position order. Streams in constant memory and
    reads one consistent snapshot, even while others append.

    Exit status: 0 exported; 2 no database at the path, the output cannot be written, or
    a store error.
    """
    with open_store(db) as store, store.snapshot():
        head = store.head()
        clock = Stopwatch()
        with _destination(output) as sink, progress_bar("exporting", head) as update:
            count = 0
            for event in store.iter_all():
                sink.write(event_line(event).encode("utf-8") + b"\n")
                count += 1
                if count % DEFAULT_BATCH == 0:
                    update(event.id)
    where = str(output) if output is not None else "stdout"
    stderr_console().print(f"exported {summary(count, clock.seconds, clock.rate(count))} to {where}", highlight=False)


@contextmanager
def _destination(output: Path | None) -> Iterator[IO[bytes]]:
    if output is None:
        with click.open_file("-", "wb") as stream:  # stdout, binary, left open
            yield stream
            stream.flush()
        return
    # Write beside the target and rename at the end: an export that fails halfway never
    # leaves a file that looks like a complete backup.
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=f".{output.name}.", suffix=".partial", dir=output.parent)
    except OSError as error:
        raise CommandError(f"cannot write {str(output)!r}: {error.strerror}") from None
    try:
        with os.fdopen(handle, "wb") as stream:
            yield stream
        os.replace(temporary, output)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


# --- import -------------------------------------------------------------------------------


@dataclass
class ImportReport:
    imported: int = 0  # newly appended
    already_present: int = 0  # event_id already stored: the kernel returned its position
    committed_through_line: int = 0  # every line up to this one is committed
    skipped: list[tuple[int, str]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "imported": self.imported,
            "already_present": self.already_present,
            "skipped": [{"line": line, "error": reason} for line, reason in self.skipped],
        }


@click.command("import", short_help="Append an export's events, keeping their ids (idempotent).")
@click.argument("source", type=click.File("rb"))
@db_option
@click.option("--skip-bad", is_flag=True, help="Skip malformed or rejected lines (and list them) instead of stopping.")
@click.option("--permissive", is_flag=True, help="Accept event types no loaded plugin declares.")
@click.option(
    "--batch-size", type=click.IntRange(min=1), default=DEFAULT_BATCH, show_default=True,
    help="Events per transaction.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
def import_command(
    source: IO[bytes], db: Path | None, skip_bad: bool, permissive: bool, batch_size: int, as_json: bool
) -> None:
    """Append the events of SOURCE (a JSON-lines export; - for stdin), keeping their
    event ids, timestamps and metadata. Events already in the store (same event_id) are
    recognised and not stored again, so importing a file twice is harmless. Creates the
    database if missing. Reactors do not run: the export holds their follow-ups.

    Lines commit in transactions of --batch-size events. A malformed line (not UTF-8,
    not JSON, missing or unknown fields, wrong types, rejected by a plugin) stops the
    import with its line number: its transaction is rolled back and nothing after it is
    imported; earlier transactions stay committed. With --skip-bad such lines are
    skipped and listed instead.

    Exit status: 0 imported (with --skip-bad, even if lines were skipped); 2 a bad line,
    an unreadable file, or a store error.
    """
    report = ImportReport()
    with (
        open_store(db, create=True, permissive=permissive, reactors=False) as store,
        progress_bar("importing lines", None) as update,
    ):
        clock = Stopwatch()
        try:
            _import(store, _counting(source, update), report, batch_size=batch_size, skip_bad=skip_bad)
        except BadLine as error:
            raise CommandError(_failure(error, report)) from None
    count = report.imported + report.already_present
    if as_json:
        echo_json({**report.to_json(), "seconds": round(clock.seconds, 3)})
    else:
        click.echo(
            f"imported {report.imported:,} new events, {report.already_present:,} already present "
            f"({summary(count, clock.seconds, clock.rate(count))})"
        )
    for line, reason in report.skipped[:_SHOWN_SKIPS]:
        click.echo(f"skipped line {line}: {reason}", err=True)
    if len(report.skipped) > _SHOWN_SKIPS:
        click.echo(f"... and {len(report.skipped) - _SHOWN_SKIPS} more skipped lines (--json lists all)", err=True)


def _import(
    store: EventStore, lines: Iterator[bytes], report: ImportReport, *, batch_size: int, skip_bad: bool
) -> None:
    batch: list[tuple[int, NewEvent]] = []
    last_line = 0
    for number, raw in numbered_lines(lines):
        last_line = number
        try:
            batch.append((number, event_from_json(decode(raw, number), number, required=IMPORT_REQUIRED)))
        except BadLine as error:
            if not skip_bad:
                raise
            report.skipped.append((number, error.reason))
            continue
        if len(batch) >= batch_size:
            _commit(store, batch, report, skip_bad=skip_bad)
            report.committed_through_line = number
            batch = []
    _commit(store, batch, report, skip_bad=skip_bad)
    report.committed_through_line = last_line
    report.skipped.sort()  # lines rejected at commit were noted after later unparsable ones


def _commit(store: EventStore, batch: list[tuple[int, NewEvent]], report: ImportReport, *, skip_bad: bool) -> None:
    """Append one batch in one transaction; a rejected event rolls the whole batch back,
    unless skipping, where each event gets its own savepoint so that a rejection after
    writing (a strict projection) undoes only that event."""
    if not batch:
        return
    new: set[int] = set()
    skipped: list[tuple[int, str]] = []
    with store.transaction() as tx:
        head = store.head()
        for number, event in batch:
            try:
                if skip_bad:
                    with store.transaction():
                        position = tx.append(event)
                else:
                    position = tx.append(event)
            except EvstoreError as error:
                if not skip_bad:
                    raise BadLine(number, str(error)) from error
                skipped.append((number, str(error)))
                continue
            # A position at or below the head before this batch belongs to an event stored
            # already (the kernel found its event_id); the others are new (a set: the same
            # event twice in one batch is stored once).
            if position > head:
                new.add(position)
    report.imported += len(new)
    report.already_present += len(batch) - len(skipped) - len(new)
    report.skipped.extend(skipped)


def _failure(error: BadLine, report: ImportReport) -> str:
    committed = report.imported + report.already_present
    if report.committed_through_line:
        kept = (
            f"{committed:,} event(s) up to line {report.committed_through_line} were committed before it "
            f"({report.imported:,} new); the transaction holding line {error.line} was rolled back and "
            "nothing after it was imported"
        )
    else:
        kept = "Nothing was imported"
    return f"{error}. {kept}. Fix the line and import again (events already stored are skipped), or pass --skip-bad."


def _counting(source: IO[bytes], update: Callable[[int], None]) -> Iterator[bytes]:
    for count, raw in enumerate(source, start=1):
        if count % DEFAULT_BATCH == 0:
            update(count)
        yield raw
