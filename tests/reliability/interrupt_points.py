"""Raising a KeyboardInterrupt where a signal's would land, one point at a time.

A signal's KeyboardInterrupt is raised where the interpreter checks for pending signals:
as a Python function starts and as a call returns. Each call made from the frames under
test is such a point, twice (the callee's first line, the return to the caller): tests
count the points of an operation once, then run it again raising at each in turn.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any


class Interrupt(KeyboardInterrupt):
    """The injected interrupt (a KeyboardInterrupt, so nothing may catch it as Exception)."""


def interrupting(code: set[Any], at: int | None) -> tuple[Callable[..., Any], list[int]]:
    """A trace function (for ``sys.settrace``) counting the signal points of calls made
    from frames of ``code``, raising ``Interrupt`` at number ``at`` (None: only count);
    and the one-item list holding the count so far."""
    seen = [0]

    def point(where: str) -> None:
        seen[0] += 1
        if seen[0] == at:
            raise Interrupt(f"at point {at}: {where}")

    def callee(frame: Any, event: str, arg: Any) -> Any:
        if event == "return":
            point(f"return from {frame.f_code.co_name}")
        return callee

    def tracer(frame: Any, event: str, arg: Any) -> Any:
        caller = frame.f_back
        if event != "call" or caller is None or caller.f_code not in code:
            return None
        point(f"start of {frame.f_code.co_name}")
        return callee

    return tracer, seen


def count_points(code: set[Any], run: Callable[[], object]) -> int:
    """The signal points of calls made from frames of ``code`` while ``run()`` runs."""
    tracer, seen = interrupting(code, None)
    sys.settrace(tracer)
    try:
        run()
    finally:
        sys.settrace(None)
    return seen[0]


def run_interrupted(code: set[Any], run: Callable[[], object], at: int) -> str:
    """``run()`` with the interrupt raised at point ``at``; returns where it was raised
    ("no interrupt" if ``run`` did not get that far)."""
    tracer, _seen = interrupting(code, at)
    sys.settrace(tracer)
    try:
        run()
    except Interrupt as interrupt:
        return str(interrupt)
    finally:
        sys.settrace(None)
    return "no interrupt"
