"""Reading an original supervisor database (``.supervisor/state.db``), read-only.

The original kept its log in ``events`` and its state in tables that its methods also
wrote directly (statuses, dependencies, metrics, checkpoints, the graph tables). Every
table is read whole, as dicts of its columns, so that a column an older version of the
original lacked is simply absent (``row.get``), not an error.

Times come in three formats there (defect 9): SQLite's ``CURRENT_TIMESTAMP``
(``2026-01-01 10:00:00``, UTC without a zone), ISO-8601 without a zone and ISO-8601 with
one. :func:`utc_time` reads all three; a time without a zone is taken as UTC, which is
what ``CURRENT_TIMESTAMP`` writes and what the original's ``Event`` defaulted to.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

Row = dict[str, Any]

# The original's tables, in the order the importer uses them. Only `events` is required.
SEED_TABLES: Final = (
    "events",
    "workflows",
    "steps",
    "features",
    "phases",
    "components",
    "checkpoints",
    "metrics",
    "graph_workflows",
    "graph_executions",
    "node_executions",
    "execution_events",
    "loop_counters",
)
_EVENT_COLUMNS: Final = ("id", "workflow_id", "event_type")


class SeedError(Exception):
    """The source cannot be read as an original supervisor database; the message says
    why and what to do."""


@dataclass(frozen=True)
class Seed:
    """Everything read from an original database."""

    path: Path
    tables: dict[str, list[Row]]
    """Rows of each table present, in creation order (``id``, else ``rowid``)."""
    absent: tuple[str, ...]
    """The original's tables this file does not have (older versions lacked some)."""
    fingerprint: str
    """A digest of every row read: two reads of an unchanged file give the same one."""

    def rows(self, table: str) -> list[Row]:
        return self.tables.get(table, [])


def read_seed(path: Path) -> Seed:
    """Read the original database at ``path`` without writing to it.

    :raises SeedError: no such file, not a SQLite database, a damaged one, or a SQLite
        database without the original's ``events`` table.
    """
    if not path.exists():
        raise SeedError(
            f"no file at {str(path)!r}; give the path of the original supervisor's database "
            "(usually .supervisor/state.db)"
        )
    if path.is_dir():
        raise SeedError(f"{str(path)!r} is a directory; give the database file (usually .supervisor/state.db)")
    try:
        # mode=ro: the source is someone's live state; the import must never change it.
        connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as error:
        raise SeedError(f"cannot open {str(path)!r}: {error}") from None
    with closing(connection):
        try:
            return _read(connection, path)
        except sqlite3.DatabaseError as error:
            raise SeedError(_damaged(path, error)) from None


def _read(connection: sqlite3.Connection, path: Path) -> Seed:
    present = {
        name for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    }
    if "events" not in present:
        shown = ", ".join(sorted(present)[:8]) or "none"
        raise SeedError(
            f"{str(path)!r} is not an original supervisor database: it has no events table "
            f"(its tables: {shown})"
        )
    columns = [row[1] for row in connection.execute("PRAGMA table_info(events)")]
    missing = [name for name in _EVENT_COLUMNS if name not in columns]
    if missing:
        raise SeedError(
            f"{str(path)!r} is not an original supervisor database: its events table has no "
            f"{', '.join(missing)} column"
        )
    connection.row_factory = sqlite3.Row
    tables = {table: list(_rows(connection, table)) for table in SEED_TABLES if table in present}
    absent = tuple(table for table in SEED_TABLES if table not in present)
    return Seed(path=path, tables=tables, absent=absent, fingerprint=_fingerprint(tables))


def _rows(connection: sqlite3.Connection, table: str) -> Iterator[Row]:
    columns = {row[1] for row in connection.execute(f'PRAGMA table_info("{table}")')}
    order = "id" if "id" in columns and table in _NUMBERED else "rowid"
    # Table names come from SEED_TABLES, never from the file.
    for row in connection.execute(f'SELECT * FROM "{table}" ORDER BY {order}'):
        yield dict(row)


# Tables whose integer `id` is the creation order (AUTOINCREMENT in the original).
_NUMBERED: Final = frozenset({"events", "checkpoints", "metrics", "node_executions", "execution_events"})


def _fingerprint(tables: dict[str, list[Row]]) -> str:
    digest = hashlib.sha256()
    for table in sorted(tables):
        digest.update(table.encode())
        for row in tables[table]:
            digest.update(json.dumps(row, sort_keys=True, default=repr).encode())
    return digest.hexdigest()


def _damaged(path: Path, error: sqlite3.DatabaseError) -> str:
    text = str(error)
    if "unable to open" in text:
        return f"cannot open {str(path)!r}: {text}; check that the file is readable"
    if "not a database" in text:
        return f"{str(path)!r} is not a SQLite database ({text}); give the original supervisor's state.db"
    return (
        f"cannot read {str(path)!r}: {text}. The file looks damaged: check it with "
        f"`sqlite3 {path} 'PRAGMA integrity_check'`"
    )


# --- values ---------------------------------------------------------------------------------


def utc_time(value: Any) -> tuple[datetime | None, bool]:
    """``(time, naive)``: the value as an aware UTC datetime (``None`` if it is empty or
    not a time) and whether it had no zone (and was taken as UTC)."""
    if value is None or isinstance(value, bool):
        return None, False
    if isinstance(value, int | float):  # Unix seconds
        try:
            return datetime.fromtimestamp(value, UTC), False
        except (OverflowError, OSError, ValueError):
            return None, False
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str) or not value.strip():
        return None, False
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None, False
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        return parsed.replace(tzinfo=UTC), True
    return parsed.astimezone(UTC), False


_NOT_JSON: Final = object()


def json_value(value: Any) -> Any:
    """A JSON column's value decoded (``None`` stays ``None``); ``NOT_JSON`` if the text
    is not JSON. Numbers SQLite stored as numbers come back as they are."""
    if value is None or isinstance(value, int | float):
        return value
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return _NOT_JSON
    try:
        return json.loads(value)
    except ValueError:
        return _NOT_JSON


def is_json(value: Any) -> bool:
    return value is not _NOT_JSON


def text(value: Any) -> str | None:
    """A text column as ``str`` (SQLite's loose typing may hand back a number)."""
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)
