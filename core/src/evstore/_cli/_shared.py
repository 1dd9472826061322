"""What the store commands share: where the store is, opening it, the options every store
command takes, exit statuses, and the one JSON line format of events."""

from __future__ import annotations

import json
import math
import os
import re
import shlex
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeVar

import click

from .. import EventStore, RecordedEvent

ENV_DB: Final = "EVSTORE_DB"
ENV_BUSY_TIMEOUT: Final = "EVSTORE_BUSY_TIMEOUT"
DEFAULT_DB: Final = Path(".evstore") / "store.db"
# The root group resolves --db / EVSTORE_DB / the default once and leaves it here, in
# click's context meta that every nested context shares, so commands contributed by
# plugins (evstore_register_commands) find the same store as the built-in ones. A file
# path is left as a Path, a URL (postgresql://...) as a str.
META_DB: Final = "evstore.db"
# The busy timeout in seconds (a float) when --busy-timeout or EVSTORE_BUSY_TIMEOUT gave one.
META_BUSY_TIMEOUT: Final = "evstore.busy_timeout"
# Short, so that a stuck writer fails a command in seconds rather than the library
# default's minutes; an operator who expects long writers raises it.
DEFAULT_BUSY_TIMEOUT: Final = 5.0

EXIT_OK: Final = 0
EXIT_PROBLEMS: Final = 1  # the command ran and found problems (verify differences, failing projections)
EXIT_ERROR: Final = 2  # usage, input or store errors
EXIT_CONFLICT: Final = 3  # a version conflict: another writer got there first; re-read and retry
EXIT_INTERRUPTED: Final = 130  # Ctrl-C (128 + SIGINT, as shells report it)
EXIT_BROKEN_PIPE: Final = 141  # the reader of stdout went away (128 + SIGPIPE)

EXIT_CODES_HELP: Final = (
    "Exit status: 0 ok; 1 a check found problems; 2 usage, input or store error; "
    "3 version conflict; 130 interrupted."
)
# The largest position or count SQLite can hold (a signed 64-bit integer).
MAX_INT64: Final = 2**63 - 1

F = TypeVar("F", bound=Callable[..., Any])

if TYPE_CHECKING:
    # click >= 8.2 types ParamType as generic; at run time it may not be (8.1 is not
    # subscriptable), so the parameters only exist for the type checker.
    FloatParam = click.ParamType[float]
    LocationParam = click.ParamType[Path | str]
else:
    FloatParam = LocationParam = click.ParamType

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


class CommandError(click.ClickException):
    """A usage, input or store error: one line on stderr and exit status 2."""

    exit_code = EXIT_ERROR


class VersionConflict(click.ClickException):
    """A ``ConcurrencyError``: another writer appended first. Exit status 3, so scripts
    can tell "retry after re-reading" from "fix the command"."""

    exit_code = EXIT_CONFLICT


# --- where the store is -------------------------------------------------------------------


def is_url(target: str | os.PathLike[str]) -> bool:
    """A store URL (``postgresql://...``) rather than a SQLite file path."""
    return isinstance(target, str) and bool(_URL.match(target))


def sqlite_path(target: str | Path) -> Path | None:
    """The SQLite file behind ``target``, or None when it names a server store. Code that
    looks at files (exists, export targets, backups) asks this first."""
    return None if is_url(target) else Path(target)


class StoreLocation(LocationParam):
    """A SQLite file path or a store URL: paths become ``Path``, URLs stay ``str`` (a
    ``Path`` would fold ``postgresql://`` into ``postgresql:/``)."""

    name = "PATH|URL"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Path | str:
        if isinstance(value, Path):
            return value
        text = os.fsdecode(value) if isinstance(value, bytes) else str(value)
        if not text:
            self.fail("the store location is empty; give a file path or a postgresql:// URL", param, ctx)
        return text if is_url(text) else Path(text)


class FiniteFloat(FloatParam):
    """A float that is finite, at least ``minimum`` and at most ``maximum``: click's
    FloatRange lets ``nan`` and ``inf`` through (NaN compares false with every bound)."""

    name = "SECONDS"

    def __init__(self, minimum: float = 0.0, maximum: float = math.inf) -> None:
        self.minimum, self.maximum = minimum, maximum

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        try:
            number = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number", param, ctx)
        if not math.isfinite(number) or not self.minimum <= number <= self.maximum:
            bound = f" and <= {self.maximum:g}" if math.isfinite(self.maximum) else ""
            self.fail(f"{value!r} is not a finite number >= {self.minimum:g}{bound}", param, ctx)
        return number


POSITION = click.IntRange(min=0, max=MAX_INT64)  # a log position, a count or a limit


def _remember_busy_timeout(ctx: click.Context, param: click.Parameter, value: float | None) -> None:
    if value is not None:
        ctx.meta[META_BUSY_TIMEOUT] = value


def busy_timeout_option(function: F) -> F:
    """``--busy-timeout SECONDS``; the value goes to the context meta, where open_store
    (and plugins' commands) find it."""
    return click.option(
        "--busy-timeout",
        type=FiniteFloat(0.0),
        default=None,
        expose_value=False,
        is_eager=True,
        callback=_remember_busy_timeout,
        help=f"Wait at most this long for another writer's lock before failing with exit "
        f"status 2 (default: evstore --busy-timeout, else ${ENV_BUSY_TIMEOUT}, else {DEFAULT_BUSY_TIMEOUT:g}).",
    )(function)


def db_option(function: F) -> F:
    """``--db PATH`` and ``--busy-timeout`` on a command that opens a store; they
    override the root's options and the environment."""
    return db_location_option(busy_timeout_option(function))


def db_location_option(function: F) -> F:
    """``--db PATH|URL`` alone, for a command that opens no store through
    :func:`open_store` (so a busy timeout would not reach it)."""
    return click.option(
        "--db",
        "db",
        type=StoreLocation(),
        default=None,
        help=f"The store: a database file or a URL (default: evstore --db, else ${ENV_DB}, else {DEFAULT_DB}).",
    )(function)


def max_payload_option(function: F) -> F:
    """``--max-payload-bytes N`` for commands that write events: a store opened elsewhere
    with a larger limit exports payloads the default limit would refuse on import."""
    return click.option(
        "--max-payload-bytes",
        type=click.IntRange(min=1, max=MAX_INT64),
        default=None,
        metavar="N",
        help="Refuse payloads (and metadata) larger than N bytes once encoded (default: the library's, 1 MiB).",
    )(function)


def database_target(db: Path | str | None) -> Path | str:
    """The store a command works on: its own --db, else the root's (which already folded
    in EVSTORE_DB and the default)."""
    if db is not None:
        return db
    context = click.get_current_context(silent=True)
    if context is not None and META_DB in context.meta:
        found: Path | str = context.meta[META_DB]
        return found
    from_env = os.environ.get(ENV_DB)
    return StoreLocation().convert(from_env, None, None) if from_env else DEFAULT_DB


def database_path(db: Path | str | None) -> Path:
    """The SQLite file a file-only command works on; a URL is refused with a message."""
    target = database_target(db)
    path = sqlite_path(target)
    if path is None:
        raise CommandError(f"this command works on SQLite files, and {_redacted(target)!r} is a server URL")
    return path


def busy_timeout() -> float:
    context = click.get_current_context(silent=True)
    if context is not None and META_BUSY_TIMEOUT in context.meta:
        return float(context.meta[META_BUSY_TIMEOUT])
    text = os.environ.get(ENV_BUSY_TIMEOUT)
    if not text:
        return DEFAULT_BUSY_TIMEOUT
    try:
        return FiniteFloat(0.0).convert(text, None, None)
    except click.BadParameter as error:
        raise CommandError(f"{ENV_BUSY_TIMEOUT}: {error.message}") from None


def open_store(
    db: Path | str | None,
    *,
    create: bool = False,
    read_only: bool = False,
    permissive: bool = False,
    reactors: bool = True,
    max_payload_bytes: int | None = None,
) -> EventStore:
    """Open the command's store with the installed plugins (EVSTORE_PLUGINS and friends
    apply) and the command line's busy timeout. Only commands that write
    (``create=True``) may bring a new database into being: a typo in --db must not leave
    an empty store behind that later commands happily report on. Reading commands pass
    ``read_only=True``."""
    target = database_target(db)
    path = sqlite_path(target)
    if path is not None and not create and not path.exists():
        quoted = shlex.quote(str(path))
        raise CommandError(
            f"no database at {str(path)!r}. Create one with `evstore --db {quoted} init`, or point "
            f"--db (or {ENV_DB}) at an existing store."
        )
    options: dict[str, Any] = {"permissive": permissive, "reactors": reactors, "busy_timeout": busy_timeout()}
    if max_payload_bytes is not None:
        options["max_payload_bytes"] = max_payload_bytes
    if read_only:
        # No schema creation, migration or catch-up, and writes refused: a reading
        # command works on read-only media and never changes the store it reports on.
        options["read_only"] = True
    return EventStore.open(target, **options)


def _redacted(target: Path | str) -> str:
    """A URL without its password, for messages."""
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", str(target))


# --- output -------------------------------------------------------------------------------


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


def events_text(count: int) -> str:
    return f"{count:,} event" if count == 1 else f"{count:,} events"


def summary(count: int, seconds: float, rate: float) -> str:
    return f"{events_text(count)} in {seconds:.2f}s ({rate:,.0f} events/s)"


def echo_json(value: Any, *, compact: bool = False) -> None:
    """JSON on stdout: indented, or one line (``compact``, for streams of records)."""
    if compact:
        click.echo(json.dumps(value, ensure_ascii=False, separators=(",", ":")))
    else:
        click.echo(json.dumps(value, indent=2, ensure_ascii=False))
