"""``evstore bench``: the kernel against hand-written ``sqlite3`` (and ``psycopg``).

``run_benchmark`` runs every workload on both sides in one process, interleaved, and
returns a :class:`Report` of median rates and ratios. Nothing is asserted about time:
missing a target is a finding to report, not an error. After the kernel's workloads it
runs those the installed plugins contribute (``evstore_bench_workloads``); the kernel
never names a plugin.
"""

from __future__ import annotations

import os
import platform
import sqlite3
import tempfile
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from ._contrib import Context, Workload, contributed_workloads
from ._measure import Progress, Report, Result, Sizes
from ._threads import group_commit
from ._workloads import batch_appends, bulk_append, growth, reads, single_full, single_normal

if TYPE_CHECKING:
    from ._pg_raw import Schemas

__all__ = ["Context", "Progress", "Report", "Result", "Sizes", "Workload", "run_benchmark"]

KernelWorkload = Callable[[Context], list[Result]]


def _no_progress(label: str, done: int, total: int) -> None:
    """The default progress callback: report nothing."""


def _sqlite_workloads() -> list[tuple[str, KernelWorkload]]:
    steps: list[tuple[str, Callable[[Sizes, Path, Progress], list[Result]]]] = [
        ("single_full", single_full),
        ("single_normal", single_normal),
        ("batch", batch_appends),
        ("bulk", bulk_append),
        ("reads", reads),
        ("growth", growth),
        ("group_commit", group_commit),
    ]
    return [(name, partial(_on_sqlite, step)) for name, step in steps]


def _on_sqlite(step: Callable[[Sizes, Path, Progress], list[Result]], context: Context) -> list[Result]:
    return step(context.sizes, context.workdir, context.progress)


# psycopg is the optional ``postgresql`` extra: imported only when --db asks for it.
def _pg(context: Context) -> list[Result]:
    from ._pg_workloads import pg_rows

    return _on_postgres(context, pg_rows)


def _pg_writers(context: Context) -> list[Result]:
    from ._pg_writers import writer_rows

    return _on_postgres(context, writer_rows)


def _on_postgres(context: Context, rows: Callable[[Sizes, Schemas, Progress], list[Result]]) -> list[Result]:
    """``rows`` in schemas of their own, all dropped afterwards; a server that goes away
    mid-run is one clear error, not a driver traceback."""
    import psycopg

    from .._errors import StoreConnectionError
    from .._pg_support import redact
    from ._pg_raw import Schemas, first_line

    assert context.db is not None
    schemas = Schemas(context.db)
    try:
        return rows(context.sizes, schemas, context.progress)
    except psycopg.Error as error:
        raise StoreConnectionError(
            f"the PostgreSQL bench rows failed on {redact(context.db)!r}: {first_line(error)}"
        ) from None
    finally:
        schemas.drop_all()


def kernel_workloads(db: str | None = None) -> list[tuple[str, KernelWorkload]]:
    """The kernel's own workloads, in the order they run (with ``db``, PostgreSQL's too)."""
    postgres: list[tuple[str, KernelWorkload]] = [("pg", _pg), ("pg_writers", _pg_writers)]
    return [*_sqlite_workloads(), *(postgres if db is not None else [])]


def run_benchmark(
    sizes: Sizes,
    progress: Progress = _no_progress,
    directory: Path | None = None,
    *,
    db: str | None = None,
    original: Path | None = None,
    plugins: Sequence[object] | None = None,
    autoload: bool | None = None,
) -> Report:
    """Run every workload; databases live in a temporary folder removed afterwards.

    ``db`` (a PostgreSQL URL) adds the PostgreSQL rows; ``original`` is handed to the
    contributed workloads; ``plugins`` and ``autoload`` choose the plugins asked for
    workloads, as for ``EventStore.open``.
    """
    if db is not None:
        from ._pg_raw import probe

        probe(db)
    kernel = kernel_workloads(db)
    contributed = contributed_workloads([name for name, _ in kernel], plugins, autoload)
    results: list[Result] = []
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="evstore-bench-", dir=directory) as name:
        context = Context(sizes, Path(name), progress, db, original)
        steps = [*kernel, *((item.workload.name, item.run) for item in contributed)]
        for key, workload in steps:
            begun = time.perf_counter()
            results.extend(workload(context))
            seconds[key] = round(time.perf_counter() - begun, 3)
    return Report(sizes, results, time.perf_counter() - started, _environment(), seconds)


def _environment() -> dict[str, str]:
    from .. import __version__

    return {
        "evstore_version": __version__,
        "python_version": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "sqlite_version": sqlite3.sqlite_version,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": str(os.cpu_count()),
    }
