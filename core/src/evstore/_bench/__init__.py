"""``evstore bench``: the kernel against a hand-written ``sqlite3`` event log.

``run_benchmark`` runs every workload on both sides in one process, interleaved, and
returns a :class:`Report` of median rates and ratios. Nothing is asserted about time:
missing a target is a finding to report, not an error. The supervisor cases run on the
installed first-party plugins and are skipped (with the reason) when they are missing.
"""

from __future__ import annotations

import os
import platform
import sqlite3
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from ._measure import Progress, Report, Result, Sizes
from ._supervisor_cases import supervisor
from ._workloads import batch_appends, bulk_append, growth, reads, single_full, single_normal

__all__ = ["Progress", "Report", "Result", "Sizes", "run_benchmark"]


def _no_progress(label: str, done: int, total: int) -> None:
    """The default progress callback: report nothing."""


def run_benchmark(sizes: Sizes, progress: Progress = _no_progress, directory: Path | None = None) -> Report:
    """Run every workload; databases live in a temporary folder removed afterwards."""
    workloads: list[tuple[str, Callable[[Sizes, Path, Progress], list[Result]]]] = [
        ("single_full", single_full),
        ("single_normal", single_normal),
        ("batch", batch_appends),
        ("bulk", bulk_append),
        ("reads", reads),
        ("growth", growth),
        ("supervisor", supervisor),
    ]
    results: list[Result] = []
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="evstore-bench-", dir=directory) as name:
        for key, workload in workloads:
            begun = time.perf_counter()
            results.extend(workload(sizes, Path(name), progress))
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
