"""What the store commands share: where the database is, opening it, errors as exit
statuses, progress bars and the one JSON line format of events."""

from __future__ import annotations

import json
import os
import shlex
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from .. import EventStore, RecordedEvent

ENV_DB = "EVSTORE_DB"
DEFAULT_DB = Path(".evstore") / "store.db"
# The root group resolves --db / EVSTORE_DB / the default once and leaves the path here,
# in click's context meta that every nested context shares, so commands contributed by
# plugins (evstore_register_commands) find the same database as the built-in ones.
META_DB = "evstore.db"

EXIT_PROBLEMS = 1  # the command ran and found problems (verify differences, failing projections)
EXIT_ERROR = 2  # usage, input or store errors

EXIT_CODES_HELP = "Exit status: 0 ok; 2 usage, input or store error."

F = TypeVar("F", bound=Callable[..., Any])


class CommandError(click.ClickException):
    """A usage, input or store error: one line on stderr and exit status 2."""

    exit_code = EXIT_ERROR


def db_option(function: F) -> F:
    """``--db PATH`` on a command; it overrides ``evstore --db`` and ``EVSTORE_DB``."""
    return click.option(
        "--db",
        "db",
        type=click.Path(path_type=Path),
        default=None,
        help=f"The database (default: evstore --db, else ${ENV_DB}, else {DEFAULT_DB}).",
    )(function)


def database_path(db: Path | None) -> Path:
    """The database a command works on: its own --db, else the root's (which already
    folded in EVSTORE_DB and the default)."""
    if db is not None:
        return db
    context = click.get_current_context(silent=True)
    if context is not None and META_DB in context.meta:
        return Path(context.meta[META_DB])
    return Path(os.environ.get(ENV_DB) or DEFAULT_DB)


def open_store(
    db: Path | None, *, create: bool = False, permissive: bool = False, reactors: bool = True
) -> EventStore:
    """Open the command's store with the installed plugins (EVSTORE_PLUGINS and friends
    apply). Only commands that write (``create=True``) may bring a new database into
    being: a typo in --db must not leave an empty store behind that later commands
    happily report on."""
    path = database_path(db)
    if not create and not path.exists():
        quoted = shlex.quote(str(path))
        raise CommandError(
            f"no database at {str(path)!r}. Create one with `evstore --db {quoted} init`, or point "
            f"--db (or {ENV_DB}) at an existing store."
        )
    return EventStore.open(path, permissive=permissive, reactors=reactors)


def event_line(event: RecordedEvent) -> str:
    """One event as a JSON line: the full envelope in ``to_dict`` order, compact, with
    non-ASCII kept as is. Export, ``events --json`` and the import round trip rely on
    this being deterministic: the same stored event always gives the same bytes."""
    try:
        return json.dumps(event.to_dict(), ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except ValueError as error:  # NaN or Infinity written by raw SQL: not JSON
        raise CommandError(
            f"event {event.id} ({event.event_type}, workflow {event.workflow_id!r}) cannot be written "
            f"as JSON: {error}"
        ) from None


def stderr_console() -> Console:
    return Console(stderr=True)


class _RateColumn(ProgressColumn):
    """Events per second, as rich measures it over the last updates."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f} ev/s" if speed else "", style="progress.data.speed")


@contextmanager
def progress_bar(description: str, total: int | None) -> Iterator[Callable[[int], None]]:
    """A transient progress bar on stderr, drawn only on a terminal; yields
    ``update(completed)``."""
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        _RateColumn(),
        TimeElapsedColumn(),
    )
    console = stderr_console()
    # Off the terminal (pipes, CI, tests) a bar is noise: rich would leave blank lines.
    with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as bar:
        task = bar.add_task(description, total=total)

        def update(completed: int) -> None:
            bar.update(task, completed=completed)

        yield update


class Stopwatch:
    """Elapsed seconds and a rate, for the "N events in S s (R events/s)" summaries."""

    def __init__(self) -> None:
        self.started = time.perf_counter()

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.started

    def rate(self, count: int) -> float:
        seconds = self.seconds
        return count / seconds if seconds > 0 else 0.0


def summary(count: int, seconds: float, rate: float) -> str:
    return f"{count:,} events in {seconds:.2f}s ({rate:,.0f} events/s)"


def echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False))
