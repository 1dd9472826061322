"""Terminal output: progress bars (on a terminal only) and tables that stay readable at
80 columns and on a pipe."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from rich import box
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table
from rich.text import Text

# The width tables get when stdout is not a terminal and COLUMNS does not say: wide
# enough that nothing wraps, so `| grep` and `| sort` see one row per line.
PIPE_WIDTH = 4000


def stdout_console() -> Console:
    """Where tables go. On a terminal rich follows its width; on a pipe it would assume
    80 columns, so we give it room unless COLUMNS asks for a width."""
    console = Console()
    if not console.is_terminal and not _columns_set():
        console = Console(width=PIPE_WIDTH)
    return console


# Between two columns of table(): one space of padding each side and the box's blank
# vertical rule.
_COLUMN_GAP = 3


def fits(console: Console, grid: Table) -> bool:
    """Whether the table fits the console at its columns' minimum widths; past that rich
    would crop a column (the time, say) rather than lose the table."""
    minimum = sum(column.min_width or 1 for column in grid.columns) + _COLUMN_GAP * (len(grid.columns) - 1)
    return minimum <= console.width


def print_table(console: Console, grid: Table) -> None:
    """A table on the terminal as rich draws it; elsewhere the same text without the
    trailing spaces rich pads every line with (they would end up in files and diffs)."""
    if console.is_terminal:
        console.print(grid)
        return
    with console.capture() as captured:
        console.print(grid)
    console.file.write("".join(line.rstrip() + "\n" for line in captured.get().splitlines()))


def stderr_console() -> Console:
    return Console(stderr=True)


def _columns_set() -> bool:
    return bool(os.environ.get("COLUMNS"))


def table(title: str | None = None) -> Table:
    """A compact table: no vertical rules and no outer padding, so narrow terminals keep
    room for the data."""
    return Table(title=title, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, title_justify="left")


def whole_column(grid: Table, header: str, values: Sequence[str], *, justify: str = "left") -> None:
    """A column that is never cut: at least as wide as its longest value (event types,
    names, positions), so rich squeezes the other columns instead of writing ``workflow_st…``."""
    widest = max([len(header), *(len(value) for value in values)])
    grid.add_column(header, justify=justify, no_wrap=True, min_width=widest)  # type: ignore[arg-type]


def folding_column(grid: Table, header: str, *, justify: str = "left", min_width: int = 8) -> None:
    """A column that wraps onto more lines when narrow (at spaces, else anywhere), never
    losing characters, and never narrower than ``min_width``."""
    grid.add_column(header, justify=justify, overflow="fold", min_width=min_width)  # type: ignore[arg-type]


def cell(value: object) -> Text:
    """Data shown as is, never read as rich markup."""
    return Text("" if value is None else str(value))


class _RateColumn(ProgressColumn):
    """Events per second, as rich measures it over the last updates."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f} ev/s" if speed else "", style="progress.data.speed")


class _EventCountColumn(ProgressColumn):
    """The events read so far, beside a bar that counts bytes."""

    def render(self, task: Task) -> Text:
        return Text(f"{task.fields.get('events', 0):,} events", style="progress.download")


@contextmanager
def progress_bar(
    description: str, total: int | None, *, unit: str = "events"
) -> Iterator[Callable[..., None]]:
    """A transient progress bar on stderr with a count, a rate and an ETA, drawn only on
    a terminal; yields ``update(completed, **fields)``. ``unit="bytes"`` counts bytes
    (an import of a file of known size) and shows the events read, given as ``events=N``."""
    columns: list[ProgressColumn] = [TextColumn("{task.description}"), BarColumn(bar_width=None)]
    if unit == "bytes":
        columns += [DownloadColumn(), TransferSpeedColumn(), _EventCountColumn()]
    else:
        columns += [MofNCompleteColumn(), _RateColumn()]
    columns += [TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn()]
    console = stderr_console()
    # Off the terminal (pipes, CI, logs) a bar is noise: rich would leave blank lines.
    with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as bar:
        task = bar.add_task(description, total=total, events=0)

        def update(completed: int, *, total: int | None = None, events: int | None = None) -> None:
            if events is None:
                bar.update(task, completed=completed, total=total)
            else:
                bar.update(task, completed=completed, total=total, events=events)

        yield update
