"""``evstore bench``: measure the kernel against raw ``sqlite3`` and print the ratios."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from .._bench import Progress as ProgressCallback
from .._bench import Report, Result, Sizes, run_benchmark


@click.command("bench", short_help="Benchmark the kernel against a hand-written sqlite3 log.")
@click.option("--quick", is_flag=True, help="Smaller sizes (growth: 10k vs 100k stored); for CI.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON (no table, no progress).")
@click.option(
    "--scale",
    type=click.FloatRange(min=0, min_open=True),
    default=1.0,
    hidden=True,
    help="Multiply every size by this factor (the tests use 0.01).",
)
@click.option(
    "--db",
    "pg_url",
    metavar="URL",
    default=None,
    help="Also run the PostgreSQL rows against this server (postgresql://...), in a schema "
    "of their own dropped afterwards. Without it only SQLite is measured.",
)
@click.option(
    "--original",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="A checkout of code a plugin's workload compares itself with (e.g. the "
    "original a facade replaces); plugins may read it, the kernel does not. Rows that "
    "need it are skipped without it.",
)
def bench_command(quick: bool, as_json: bool, scale: float, pg_url: str | None, original: Path | None) -> None:
    """Benchmark the kernel against a hand-written sqlite3 event log.

    Each workload runs in the same process on an EventStore (no plugins, permissive;
    plugin rows load plugins, see below) and on "raw" sqlite3, alternating
    round by round; the table shows the median rate of each side and the ratio
    evstore/raw. Only ratios measured in one run mean anything: never compare
    absolute rates across runs or machines.

    "Raw" is what a competent hand-written log must do to keep the same invariants:
    the kernel's own events table (same unique (workflow_id, version) and (event_id)
    constraints, same triggers), WAL, the same synchronous setting and BEGIN IMMEDIATE
    transactions; per event it computes the version inside the INSERT with
    (SELECT COALESCE(MAX(version),0)+1 FROM events WHERE workflow_id=?), generates a
    time-ordered (UUIDv7) event_id like the kernel's default, json.dumps the payload
    and formats the timestamp as aware UTC ISO-8601 with microseconds. Reads fetch the same columns and json.loads each
    payload; evstore's reads touch every event's .payload, so decoding is counted.

    Workloads: single-event appends at full and at normal durability; 100 events per
    transaction (each transaction to one workflow); one bulk append of 100k events over
    100 workflows; reading one workflow of 10k events; reading the whole log; the rate
    of 100-event transactions with 10k versus 1M events already stored (--quick: 100k).
    Group commit: 8 threads of one store appending single events at full durability
    (each its own workflow) against the raw log appending the same events from one
    thread, also full: the floor group commit has to beat.
    Durability is normal except where it says full. Exits 0 even when a target is
    missed: this is a measurement, and the missed targets are listed.

    PostgreSQL rows (--db URL): the same single appends (full), 100 per transaction,
    bulk append, workflow read and whole-log read on a PostgreSQL store, against raw
    psycopg on the kernel's own DDL (same events table, constraints and triggers) with
    the kernel's ordering: BEGIN ISOLATION LEVEL READ COMMITTED and
    pg_advisory_xact_lock in one round trip, the trigger assigning position and version
    under the lock, one INSERT per event (COPY for the bulk append); then throughput of
    1, 4 and 8 writer processes appending single events at full durability, each side
    against the other, and 8 writers against 1. Each side has a schema of its own,
    named after a random per-run prefix (evstore_bench_...) and dropped afterwards.

    Plugin rows: installed plugins add workloads through the evstore_bench_workloads
    hook (EVSTORE_PLUGINS and EVSTORE_DISABLE_PLUGINS apply); they run after the
    kernel's, with the same sizes, and follow the same rules.

    Each plugin documents its rows (the first-party ones: docs/performance.md); a row
    that needs what is missing here (a plugin, --original) is skipped, with the reason.
    """
    if pg_url is not None and not pg_url.startswith(("postgresql://", "postgres://")):
        raise click.UsageError(f"--db takes a PostgreSQL URL (postgresql://...), not {pg_url!r}")
    if pg_url is not None and importlib.util.find_spec("psycopg") is None:
        raise click.UsageError("--db needs psycopg: pip install 'evstore[postgresql]'")
    if pg_url is not None:
        from .._bench._pg_raw import probe

        probe(pg_url)  # before the progress bar, so a wrong --db is the only line printed
    sizes = Sizes.choose(quick=quick, scale=scale)
    if as_json:
        report = run_benchmark(sizes, db=pg_url, original=original)
        click.echo(json.dumps(report.to_json(), indent=2))
        return
    stderr = Console(stderr=True)
    with _progress_bar(stderr) as progress:
        report = run_benchmark(sizes, progress, db=pg_url, original=original)
    _print_report(report, Console())


@contextmanager
def _progress_bar(console: Console) -> Iterator[ProgressCallback]:
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("starting", total=None)

        def update(label: str, done: int, total: int) -> None:
            bar.update(task, description=label, completed=done, total=total)

        yield update


def _print_report(report: Report, console: Console) -> None:
    sizes = report.sizes
    title = f"evstore bench{' --quick' if sizes.quick else ''}: evstore vs raw sqlite3"
    table = Table(title=title, caption=_caption(report))
    table.add_column("workload")
    for column in ("raw", "evstore", "ratio", "target"):
        table.add_column(column, justify="right")
    table.add_column("met?", justify="center")
    for result in report.results:
        table.add_row(*_row(result))
    console.print(table)
    by_reason: dict[str, list[str]] = {}
    for result in report.skipped():
        by_reason.setdefault(str(result.skipped), []).append(result.label)
    for reason, labels in by_reason.items():  # the supervisor rows share one reason
        console.print(f"[yellow]skipped[/yellow] {'; '.join(labels)}. Why: {reason}")
    missed = report.missed()
    if not missed:
        console.print("[green]All targets met.[/green]")
        return
    console.print(f"[bold red]{len(missed)} target(s) missed:[/bold red]")
    for result in missed:
        if result.target_unit == "seconds":
            console.print(f"  - {result.label}: max {result.evstore:.2f}s (target {_target(result)})")
        elif result.target_unit == "events/s":
            console.print(f"  - {result.label}: {_rate(result.evstore)} (target {_target(result)})")
        else:
            console.print(f"  - {result.label}: {result.ratio:.2f}x (target {_target(result)})")


def _row(result: Result) -> tuple[str, ...]:
    target = "-" if result.target is None else _target(result)
    met = {None: "", True: "[green]yes[/green]", False: "[bold red]NO[/bold red]"}[result.met]
    if result.skipped is not None:
        return (result.label, "-", "-", "-", target, "[yellow]skipped[/yellow]")
    if result.kind == "lag":
        return (result.label, f"median {result.raw:.3f}s", f"max {result.evstore:.3f}s", "-", target, met)
    if result.kind == "growth":
        raw, evstore = f"{result.raw:.2f}x", f"{result.evstore:.2f}x"
    else:
        raw, evstore = _rate(result.raw), _rate(result.evstore)
    return (result.label, raw, evstore, f"{result.ratio:.2f}x", target, met)


def _target(result: Result) -> str:
    """The target with its bound: at most for a lag, at least for everything else."""
    assert result.target is not None
    if result.target_unit == "seconds":
        return f"≤ {result.target:.2f}s"
    return f"≥ {_rate(result.target) if result.target_unit == 'events/s' else f'{result.target:.2f}x'}"


def _rate(events_per_second: float) -> str:
    return f"{events_per_second:,.0f}/s"


def _caption(report: Report) -> str:
    env = report.to_json()
    return (
        f"Events/s, median of {report.sizes.rounds} interleaved rounds; ratio = evstore/raw, except\n"
        "the growth rows: each side's rate with the large store (8 writers) / the small one (1).\n"
        "Rows \"vs original\" or \"vs same work\": the raw column is that side.\n"
        "The rebuild row: raw is the same rebuild through the per-event handlers only.\n"
        "Lag rows: seconds from commit until the async projections applied the events.\n"
        "Appends at normal durability unless marked (full).\n"
        f"evstore {env['evstore_version']}, Python {env['python_version']}, "
        f"SQLite {env['sqlite_version']}, {report.seconds:.0f}s"
    )
