"""Bookkeeping that a signal cannot cut in half.

A KeyboardInterrupt (or SystemExit from a SIGTERM handler) is raised between any two
bytecodes of the main thread. Where a few statements must all run or none — a lock
handed over, a queue put back — the kernel runs them here.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def shielded(operation: Callable[[], T]) -> T:
    """Run ``operation`` with SIGINT and SIGTERM held back until it is done.

    For bookkeeping that must not stop half-way. psycopg_pool, for one, guards its
    queues with ``threading`` locks, and a KeyboardInterrupt raised between a lock's
    acquire and the ``with`` block that releases it leaves the lock held: the next pool
    call of the process would wait for ever (seen under a storm of SIGINTs). Python runs
    signal handlers in the main thread only, so there the handlers are swapped for ones
    that note the signal, and the original handler runs once the operation has finished.
    """

    if threading.current_thread() is not threading.main_thread():
        return operation()
    noted: list[tuple[int, Any]] = []
    previous: dict[int, Any] = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
    held: dict[int, Any] = {number: handler for number, handler in previous.items() if callable(handler)}
    for number in held:
        signal.signal(number, lambda signum, frame: noted.append((signum, frame)))
    try:
        return operation()
    finally:
        for number, handler in held.items():
            signal.signal(number, handler)
        for signum, frame in noted[:1]:
            held[signum](signum, frame)




def to_the_end(cleanup: Callable[[], None]) -> None:
    """Run ``cleanup`` (which must be idempotent) shielded, again if an interrupt lands
    before the shield is up or is re-raised as it comes down; then raise the first
    interrupt, so the caller still sees it. For ``except``/``finally`` blocks whose
    work must happen even when a second Ctrl-C follows the first."""
    interrupted: BaseException | None = None
    while True:
        try:
            shielded(cleanup)
            break
        except (KeyboardInterrupt, SystemExit) as error:
            interrupted = interrupted or error
    if interrupted is not None:
        raise interrupted
