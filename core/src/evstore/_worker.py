"""``Worker``: the loop that applies async projections, in ``evstore worker`` or your own
process. Any number of workers may run on any number of hosts: each round, each takes
the lease of whatever projection is free (see ``_async``), applies a batch, and sleeps
only when nothing is left to do, until the log changes or the poll interval passes.

Wake-up: PostgreSQL commits that append NOTIFY the store's channel, which the worker
LISTENs to on a connection of its own; SQLite's ``PRAGMA data_version`` says for free
when another connection committed. Either way the worker also polls: a dead LISTEN
connection never stalls a projection, it only makes the worker slower to notice.
"""

from __future__ import annotations

import logging
import select
import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from ._async import DEFAULT_LEASE_SECONDS, BatchOutcome, apply_batch, check_async, new_holder, release_leases
from ._errors import StoreBusyError, StoreConnectionError
from ._validate import check_int, check_number

if TYPE_CHECKING:
    from ._store import EventStore

log = logging.getLogger("evstore")
_CHECK_EVERY = 0.05  # seconds between two cheap change checks while idle
# While the database is unreachable: retry after 0.2 s, doubling up to 5 s, so a restart
# costs a fraction of a second and a long outage a connection attempt every few seconds.
_OUTAGE_FIRST_WAIT = 0.2
_OUTAGE_LONGEST_WAIT = 5.0


class Worker:
    """Applies the store's async projections (default: all of them) until stopped.

    :param batch_size: events applied per transaction.
    :param poll_interval: the longest an idle worker sleeps before looking again, even
        without a wake-up.
    :param lease_seconds: how long a lease lasts without renewal; a worker that dies is
        replaced within about this long (on PostgreSQL at once: its lock dies with it).
    :param max_backoff: the longest wait before retrying a failing projection.
    """

    def __init__(
        self, store: EventStore, names: Iterable[str] | None = None, *, batch_size: int = 500,
        poll_interval: float = 1.0, lease_seconds: float = DEFAULT_LEASE_SECONDS, max_backoff: float = 60.0,
    ) -> None:
        self.store = store
        self.names = check_async(store, names)
        self.batch_size = check_int("batch_size", batch_size, minimum=1)
        self.poll_interval = check_number("poll_interval", poll_interval, minimum=0.01)
        self.lease_seconds = check_number("lease_seconds", lease_seconds, minimum=0.5)
        self.max_backoff = check_number("max_backoff", max_backoff, minimum=0.0)
        self.holder = new_holder()
        self.stopping = threading.Event()
        self._failures: dict[str, int] = {}
        self._retry_at: dict[str, float] = {}
        self._held: set[str] = set()
        self._outage = 0  # rounds in a row that found the database unreachable
        self._listener = _Listener(store)

    def stop(self) -> None:
        """Ask the loop to stop after the batch in progress (thread- and signal-safe)."""
        self.stopping.set()

    def run(self, *, until_caught_up: bool = False, report: Callable[[BatchOutcome], None] | None = None) -> None:
        """Apply until :meth:`stop` (or, with ``until_caught_up``, until every projection
        this worker holds is at the head). Leases are given up on the way out."""
        try:
            while not self.stopping.is_set():
                try:
                    outcomes = self.run_once()
                except (StoreConnectionError, StoreBusyError) as error:
                    # The database is unreachable (stopped, restarting, failing over) or
                    # its connections are all gone: without this a worker would exit on
                    # the first outage and every async projection would stall until an
                    # operator restarted it. Nothing is half-applied (each batch is one
                    # transaction); wait, with back-off, and carry on from the checkpoint.
                    self._wait_for_database(error)
                    continue
                self._outage = 0
                for outcome in outcomes:
                    if report is not None and (outcome.applied or outcome.failing):
                        report(outcome)
                busy = any(o.applied and not o.caught_up for o in outcomes)
                if until_caught_up and all(o.caught_up or o.failing or o.lease_lost for o in outcomes):
                    return
                if not busy:
                    self._listener.wait(self.poll_interval, self.stopping)
        finally:
            self._listener.close()
            if self._held:
                try:
                    release_leases(self.store, [f"projection:{n}" for n in self._held], self.holder)
                except (StoreConnectionError, StoreBusyError) as error:
                    # Stopping while the database is away: the leases end without us
                    # (the session locks died with the connection, the rows expire).
                    log.warning("worker: could not give up its leases (%s); they expire on their own", error)
                self._held.clear()

    def _wait_for_database(self, error: Exception) -> None:
        self._outage += 1
        delay = min(self.max_backoff, _OUTAGE_FIRST_WAIT * 2.0 ** (self._outage - 1), _OUTAGE_LONGEST_WAIT)
        log.warning("worker: the database is unreachable (%s); trying again in %.1f s", error, delay)
        self._listener.close()  # its connection died too; the next wait opens a fresh one
        self.stopping.wait(delay)

    def run_once(self) -> list[BatchOutcome]:
        """One round: a batch for each projection this worker can lead now."""
        outcomes = []
        now = time.monotonic()
        for name in self.names:
            if self.stopping.is_set():
                break
            if self._retry_at.get(name, 0.0) > now:
                continue
            outcome = apply_batch(
                self.store, name, self.holder, limit=self.batch_size, lease_seconds=self.lease_seconds,
                retry_failing=name in self._failures,
            )
            if outcome.lease_lost:
                self._held.discard(name)
            elif not outcome.skipped:
                self._held.add(name)
            self._note(outcome)
            outcomes.append(outcome)
        return outcomes

    def _note(self, outcome: BatchOutcome) -> None:
        name = outcome.name
        if outcome.failing is not None:
            count = self._failures[name] = self._failures.get(name, 0) + 1
            delay = min(self.max_backoff, 2.0 ** (count - 1))
            self._retry_at[name] = time.monotonic() + delay
            log.error("%s Retrying in %.0f s.", outcome.failing, delay)
        elif outcome.applied or outcome.caught_up:
            if self._failures.pop(name, None) is not None:
                log.info("projection %r recovered", name)
            self._retry_at.pop(name, None)


class _Listener:
    """Waits until the log may have changed: LISTEN/NOTIFY on PostgreSQL, the change
    marker on SQLite; never longer than the caller's timeout."""

    def __init__(self, store: EventStore) -> None:
        self.store = store
        self.conn: Any = None
        self._retry_at = 0.0

    def _connect(self) -> Any:
        if self.store.dialect != "postgresql" or time.monotonic() < self._retry_at:
            return None
        if self.conn is not None and not self.conn.closed:
            return self.conn
        import psycopg

        try:
            self.conn = psycopg.connect(self.store.location, autocommit=True, connect_timeout=5)
            self.conn.execute(f"LISTEN {self.store._backend.channel}")  # type: ignore[attr-defined]
        except psycopg.Error as error:
            log.warning("worker: cannot LISTEN (%s); polling instead, retrying in 30 s", error)
            self.conn, self._retry_at = None, time.monotonic() + 30
        return self.conn

    def wait(self, timeout: float, stopping: threading.Event) -> None:
        deadline = time.monotonic() + timeout
        conn = self._connect()
        marker = self.store._change_marker()
        while not stopping.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            if conn is not None:
                if self._notified(conn, min(left, 0.5)):
                    return
                continue
            stopping.wait(min(left, _CHECK_EVERY))
            if marker is not None and self.store._change_marker() != marker:
                return

    def _notified(self, conn: Any, seconds: float) -> bool:
        try:
            ready, _, _ = select.select([conn.fileno()], [], [], seconds)
            if not ready:
                return False
            conn.pgconn.consume_input()
            found = False
            while conn.pgconn.notifies() is not None:
                found = True
            return found
        except Exception as error:
            log.warning("worker: the LISTEN connection failed (%s); polling until it is back", error)
            self.close()
            return True

    def close(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()
            except Exception:
                pass
            self.conn = None
