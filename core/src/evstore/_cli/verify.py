"""``evstore verify``: does each projection hold exactly what replaying the log gives?

(A PostgreSQL store is first pulled down into a SQLite scratch file, log and live
projection rows from one snapshot; the rest is the same.)

The check never touches the live store. It copies the database with SQLite's backup API
(one consistent snapshot, even while other processes append), keeps a copy of each
projection's live tables inside that copy, rebuilds the projections there and compares
the two versions of every table. Comparing against tables frozen at the snapshot rather
than against the live file means an append landing mid-check cannot show up as a false
difference.
"""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.text import Text

from .. import EventStore, ProjectionStatus
from ._console import progress_bar
from ._shared import (
    EXIT_PROBLEMS,
    CommandError,
    busy_timeout,
    database_target,
    db_option,
    echo_json,
    open_store,
    sqlite_path,
)
from ._sqlite_files import read_only_connection

SAMPLE_ROWS = 5
_FROZEN_PREFIX = "evstore_verify_live__"


@dataclass
class TableDifference:
    table: str
    only_live: int = 0
    only_rebuilt: int = 0
    key: list[str] = field(default_factory=list)  # the primary key, to pair changed rows
    columns_live: list[str] | None = None  # set when the columns differ
    columns_rebuilt: list[str] | None = None
    sample_live: list[dict[str, Any]] = field(default_factory=list)
    sample_rebuilt: list[dict[str, Any]] = field(default_factory=list)


@click.command("verify", short_help="Check projections against a rebuild in a scratch copy.")
@click.argument("names", nargs=-1)
@db_option
@click.option("--json", "as_json", is_flag=True, help="Print the differences as JSON.")
def verify_command(names: tuple[str, ...], db: Path | str | None, as_json: bool) -> None:
    """Rebuild each named projection (default: all), one at a time, into a scratch copy of
    the database and compare its tables row by row with the live ones; print the differences (the
    first rows of each table that differs). The live store is opened read-only and not
    modified. The copy is made next to the database (in the temporary folder if that
    folder is read-only) and deleted afterwards, so that folder needs room for one more
    copy. A PostgreSQL store is copied (its log and projection tables, from one snapshot)
    into a SQLite file in the temporary folder and rebuilt there.

    Exit status: 0 every projection matches its rebuild; 1 differences found; 2 an
    unknown projection name, no database at the path, or a store error.
    """
    path = sqlite_path(database_target(db))
    with open_store(db, read_only=True) as store:
        chosen = list(names) or sorted(store.registry.projections)
        unknown = [name for name in chosen if not store.has_projection(name)]
        if unknown:
            loaded = ", ".join(sorted(store.registry.projections)) or "none"
            raise CommandError(
                f"no loaded projection is named {', '.join(map(repr, unknown))}; loaded: {loaded}. "
                "Check the name with `evstore status`, or load the plugin that provides it."
            )
        tables = {name: list(store.registry.projections[name].projection.tables) for name in chosen}
        statuses = {status.name: status for status in store.projection_status()}
        with _scratch_folder(Path(tempfile.gettempdir()) if path is None else path.parent) as scratch_dir:
            scratch = Path(scratch_dir) / "scratch.db"
            owned = [t for names_tables in tables.values() for t in names_tables]
            if path is None:
                live_rows = pull_down(store, scratch, owned)
            else:
                _snapshot(path, scratch, owned)
                live_rows = None
            report = _rebuild_and_compare(scratch, chosen, tables, statuses, live_rows)
    if as_json:
        echo_json({"ok": all(item["ok"] for item in report), "projections": report})
    else:
        _print(report, Console(soft_wrap=True))
    if not all(item["ok"] for item in report):
        click.get_current_context().exit(EXIT_PROBLEMS)


def _rebuild_and_compare(
    scratch: Path, chosen: list[str], tables: dict[str, list[str]], statuses: dict[str, ProjectionStatus],
    live_rows: dict[str, list[tuple[Any, ...]]] | None,
) -> list[dict[str, Any]]:
    report = []
    with EventStore.open(scratch, reactors=False, busy_timeout=busy_timeout()) as copy:
        if live_rows is not None:
            _freeze(scratch, live_rows)
        # Each projection is rebuilt alone and compared before the next: rebuilt
        # together, projections that interfere with each other (one reading what
        # another writes mid-replay) would reproduce the live tables' fault.
        for name in chosen:
            with progress_bar(f"rebuilding {name} in a scratch copy", copy.head()) as update:
                copy.rebuild([name], progress=update)
            with closing(sqlite3.connect(scratch)) as conn:
                report.append(_projection_report(conn, name, tables[name], statuses.get(name)))
    return report


def pull_down(store: EventStore, scratch: Path, tables: list[str]) -> dict[str, list[tuple[Any, ...]]]:
    """A server store's log, copied into the SQLite file ``scratch`` (as ``migrate``
    copies it, projections left out), and its projection tables' rows, both read in
    one snapshot so that the rows belong to exactly that log."""
    from .migrate import copy_log

    with store.snapshot() as live:
        with EventStore.open(
            scratch, autoload=False, plugins=[], permissive=True, reactors=False, max_payload_bytes=2**62
        ) as bare:
            copy_log(store, bare)
        return {table: [tuple(row) for row in live.fetchall(f"SELECT * FROM {_quote(table)}")] for table in tables}


def _freeze(scratch: Path, live_rows: dict[str, list[tuple[Any, ...]]]) -> None:
    """The live rows of a server store, beside the scratch copy's own tables (whose
    columns they have: the same migrations made both)."""
    with closing(sqlite3.connect(scratch)) as conn:
        for table, rows in live_rows.items():
            frozen = _quote(_FROZEN_PREFIX + table)
            conn.execute(f"CREATE TABLE {frozen} AS SELECT * FROM {_quote(table)} WHERE 0")
            if rows:
                marks = ",".join("?" * len(rows[0]))
                conn.executemany(f"INSERT INTO {frozen} VALUES ({marks})", rows)
        conn.commit()


@contextmanager
def _scratch_folder(beside: Path) -> Iterator[str]:
    """A temporary folder beside the database (same disk, so room for the copy is
    likely), else in the system's temporary folder: a store on read-only media can still
    be verified. (os.access cannot tell: it says yes to root on an immutable folder.)"""
    try:
        scratch = tempfile.TemporaryDirectory(prefix=".evstore-verify-", dir=beside)
    except OSError:
        scratch = tempfile.TemporaryDirectory(prefix="evstore-verify-")
    with scratch as name:
        yield name


def _snapshot(source: Path, target: Path, tables: list[str]) -> None:
    """Copy the database, then freeze each projection table's live rows beside it."""
    with closing(read_only_connection(source, busy_timeout())) as live, closing(sqlite3.connect(target)) as copy:
        live.backup(copy)
        for table in tables:
            if _columns(copy, table):
                copy.execute(f"CREATE TABLE {_quote(_FROZEN_PREFIX + table)} AS SELECT * FROM {_quote(table)}")
        copy.commit()


def _projection_report(
    conn: sqlite3.Connection, name: str, tables: list[str], status: ProjectionStatus | None
) -> dict[str, Any]:
    differences = [d for d in (_compare(conn, table) for table in tables) if d is not None]
    return {
        "name": name,
        "ok": not differences,
        "live_status": status.status if status else None,
        "live_position": status.position if status else None,
        "live_error": status.error if status else None,
        "tables": [vars(d) for d in differences],
    }


def _compare(conn: sqlite3.Connection, table: str) -> TableDifference | None:
    frozen = _FROZEN_PREFIX + table
    live_columns, rebuilt_columns = _columns(conn, frozen), _columns(conn, table)
    if live_columns != rebuilt_columns:
        return TableDifference(
            table, columns_live=live_columns or [], columns_rebuilt=rebuilt_columns or []
        )
    # Rows compared as multisets: GROUP BY every column with a count, so a duplicated row
    # differs from a single one. NULLs group and compare as equal here, as wanted.
    columns = ", ".join(_quote(c) for c in live_columns)
    counted = "SELECT {columns}, COUNT(*) FROM {table} GROUP BY {columns}"
    live_rows = counted.format(columns=columns, table=_quote(frozen))
    rebuilt_rows = counted.format(columns=columns, table=_quote(table))
    # Samples sorted by primary key first, so that the live and the rebuilt version of a
    # changed row tend to be sampled together and can be shown side by side.
    key = _key_columns(conn, table)
    ranks = [live_columns.index(c) + 1 for c in key]
    order = ", ".join(str(i) for i in [*ranks, *(i for i in range(1, len(live_columns) + 2) if i not in ranks)])
    only_live, only_rebuilt = f"{live_rows} EXCEPT {rebuilt_rows}", f"{rebuilt_rows} EXCEPT {live_rows}"
    difference = TableDifference(
        table,
        key=key,
        only_live=conn.execute(f"SELECT COUNT(*) FROM ({only_live})").fetchone()[0],
        only_rebuilt=conn.execute(f"SELECT COUNT(*) FROM ({only_rebuilt})").fetchone()[0],
        sample_live=[
            _row(live_columns, row) for row in conn.execute(f"{only_live} ORDER BY {order} LIMIT {SAMPLE_ROWS}")
        ],
        sample_rebuilt=[
            _row(live_columns, row) for row in conn.execute(f"{only_rebuilt} ORDER BY {order} LIMIT {SAMPLE_ROWS}")
        ],
    )
    return difference if difference.only_live or difference.only_rebuilt else None


def _columns(conn: sqlite3.Connection, table: str) -> list[str]:
    return [row[1] for row in conn.execute(f"PRAGMA table_info({_quote(table)})")]


def _key_columns(conn: sqlite3.Connection, table: str) -> list[str]:
    info = conn.execute(f"PRAGMA table_info({_quote(table)})").fetchall()
    return [row[1] for row in sorted((r for r in info if r[5]), key=lambda r: r[5])]


def _row(columns: list[str], row: tuple[Any, ...]) -> dict[str, Any]:
    values = {column: _plain(value) for column, value in zip(columns, row, strict=False)}
    if row[-1] != 1:
        values["(copies)"] = row[-1]
    return values


def _plain(value: Any) -> Any:
    return f"x'{value.hex()}'" if isinstance(value, bytes) else value


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _print(report: list[dict[str, Any]], console: Console) -> None:
    if not report:
        console.print("No projections loaded: nothing to verify.")
        return
    for item in report:
        if item["ok"]:
            console.print(Text.assemble((f"{item['name']}: ", "bold"), ("matches its rebuild", "green")))
            continue
        console.print(Text.assemble((f"{item['name']}: ", "bold"), ("DIFFERS from its rebuild", "bold red")))
        if item["live_status"] == "failing":
            console.print(
                Text(f"  (the live projection is failing at position {item['live_position']}: {item['live_error']})")
            )
        for table in item["tables"]:
            if table["columns_live"] is not None:
                console.print(
                    Text(f"  table {table['table']}: columns differ: live {table['columns_live']}, "
                         f"rebuilt {table['columns_rebuilt']}")
                )
                continue
            console.print(
                Text(f"  table {table['table']}: {table['only_live']} row(s) only in the live table, "
                     f"{table['only_rebuilt']} only in the rebuild")
            )
            _print_rows(table, console)


def _print_rows(table: dict[str, Any], console: Console) -> None:
    """Rows with the same primary key on both sides print as the columns that changed;
    the rest as whole rows."""
    key = table["key"]

    def key_of(row: dict[str, Any]) -> tuple[Any, ...] | None:
        return tuple(row.get(c) for c in key) if key else None

    rebuilt_by_key = {key_of(row): row for row in table["sample_rebuilt"] if key}
    paired = set()
    for row in table["sample_live"]:
        other = rebuilt_by_key.get(key_of(row)) if key else None
        if other is None:
            console.print(Text(f"    only live:    {row}"))
            continue
        paired.add(key_of(row))
        where = ", ".join(f"{c}={row[c]!r}" for c in key)
        changes = "; ".join(
            f"{c}: live {row.get(c)!r}, rebuilt {other.get(c)!r}"
            for c in dict.fromkeys([*row, *other])
            if row.get(c) != other.get(c)
        )
        console.print(Text(f"    changed {where}: {changes}"))
    for row in table["sample_rebuilt"]:
        if not key or key_of(row) not in paired:
            console.print(Text(f"    only rebuilt: {row}"))
