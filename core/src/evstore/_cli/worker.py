"""``evstore worker``: apply async projections until stopped."""

from __future__ import annotations

import signal
from pathlib import Path
from types import FrameType
from typing import Any

import click
from rich.text import Text

from .. import Worker
from .._async import BatchOutcome
from .._store import ENV_ASYNC, ENV_INLINE
from .._store_parts import unmatched_lifecycle_names
from ._console import stderr_console
from ._shared import CommandError, FiniteFloat, db_option, echo_json, events_text, open_store


@click.command("worker", short_help="Apply async projections (any number of workers, on any hosts).")
@click.argument("names", nargs=-1)
@db_option
@click.option("--batch-size", type=click.IntRange(1, 100_000), default=500, show_default=True,
              help="Events applied per transaction.")
@click.option("--poll", "poll_interval", type=FiniteFloat(0.01, 3600), default=1.0, show_default=True,
              help="Seconds an idle worker sleeps at most before looking again (it is woken sooner by appends).")
@click.option("--lease", "lease_seconds", type=FiniteFloat(0.5, 3600), default=10.0, show_default=True,
              help="Seconds a lease lasts without renewal: how long before another worker replaces a dead one.")
@click.option("--until-caught-up", is_flag=True, help="Stop once every projection is at the head (for scripts and CI).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON line per applied batch.")
def worker_command(
    names: tuple[str, ...], db: Path | str | None, batch_size: int, poll_interval: float, lease_seconds: float,
    until_caught_up: bool, as_json: bool,
) -> None:
    """Apply the store's async projections (default: every async projection; NAMES
    picks some) in batches, each batch and the projection's position in one
    transaction, until SIGTERM or Ctrl-C (it finishes the batch in progress and gives up
    its leases).

    Run as many workers as you like, on any hosts: exactly one applies a given
    projection at a time, and when it dies another takes over from the recorded
    position (on PostgreSQL at once, on SQLite once its lease expires). A projection
    whose handler fails goes failing (see `evstore status`); the worker keeps applying
    the others and retries it with back-off, so a fixed plugin recovers on its own.

    Which projections are async: each plugin's default, overridden by
    EVSTORE_ASYNC_PROJECTIONS=a,b or EVSTORE_INLINE_PROJECTIONS=a,b (set the same values
    for every process using the store).

    Exit status: 0 stopped (or caught up); 2 no async projection to apply, an unknown
    name, or a store error.
    """
    with open_store(db) as store:
        try:
            worker = Worker(
                store, list(names) or None, batch_size=batch_size, poll_interval=poll_interval,
                lease_seconds=lease_seconds,
            )
        except Exception as error:
            raise CommandError(str(error)) from error
        unmatched = unmatched_lifecycle_names(store.registry, (ENV_ASYNC, ENV_INLINE))
        if not worker.names:
            raise CommandError(
                "no async projection is loaded: every projection here is inline (applied by the appends "
                "themselves). Make one async with EVSTORE_ASYNC_PROJECTIONS=NAME, or see `evstore status`."
                + "".join(f" {line}." for line in unmatched)
            )
        console = stderr_console()
        for line in unmatched:
            console.print(Text(f"warning: {line}", style="yellow"), soft_wrap=True)
        if not as_json:
            console.print(f"worker {worker.holder}: applying {', '.join(worker.names)} (Ctrl-C stops)")

        def stop(signum: int, frame: FrameType | None) -> None:
            worker.stop()

        previous = {number: signal.signal(number, stop) for number in (signal.SIGTERM, signal.SIGINT)}
        try:
            worker.run(until_caught_up=until_caught_up, report=_reporter(as_json))
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)
        if not as_json:
            console.print("worker stopped")


def _reporter(as_json: bool) -> Any:
    console = stderr_console()

    def report(outcome: BatchOutcome) -> None:
        if as_json:
            echo_json({
                "projection": outcome.name, "applied": outcome.applied, "position": outcome.position,
                "caught_up": outcome.caught_up, "failing": outcome.failing,
            }, compact=True)
        elif outcome.failing:
            console.print(f"[red]{outcome.failing}[/red]", soft_wrap=True)
        else:
            console.print(f"{outcome.name}: {events_text(outcome.applied)}, at position {outcome.position:,}")

    return report
