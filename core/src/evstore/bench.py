"""Contribute rows to ``evstore bench`` from a plugin.

A plugin implements one hook and registers a :class:`Workload`::

    from evstore import hookimpl
    from evstore.bench import Context, Result, Workload, interleave, measure

    def my_rows(context: Context) -> list[Result]:
        ...  # run both sides round by round with interleave(), return Result rows

    @hookimpl
    def evstore_bench_workloads(register):
        register(Workload("mine", my_rows))

The rules of the bench hold for contributed rows too: each row compares two sides
measured in the same run, alternating round by round (:func:`interleave`), as a ratio
of median rates (:meth:`Result.from_rates`); a missed target is reported, never
raised; a row that cannot be measured here is a :meth:`Result.skip` with the reason.
Size the work with ``context.sizes.count(full, quick)`` so ``--quick`` stays short.
:class:`RawLog` is the kernel's hand-written ``sqlite3`` baseline, to build a raw side on.
"""

from __future__ import annotations

from ._bench._contrib import Context, Workload
from ._bench._measure import Progress, Result, Sizes, interleave, measure
from ._bench._raw import Envelope, RawLog
from ._bench._workloads import BATCH_SIZE, PREFILL_BATCH, both_sides, each, remove_database, short_count

__all__ = [
    "BATCH_SIZE",
    "PREFILL_BATCH",
    "Context",
    "Envelope",
    "Progress",
    "RawLog",
    "Result",
    "Sizes",
    "Workload",
    "both_sides",
    "each",
    "interleave",
    "measure",
    "remove_database",
    "short_count",
]
