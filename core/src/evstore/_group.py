"""Group commit: appends from concurrent threads of one store share one physical commit.

Agent supervisors append from many threads of one process (parallel graph nodes). With
one transaction per append, each waits for the write lock and then for its own fsync; a
durable store then does as many appends a second as the disk does flushes. Here the
thread that finds no commit in progress becomes the leader: it takes every append
waiting at that moment, runs each in a SAVEPOINT of one transaction — so each keeps its
own atomicity, expected-version check and error — and commits once. Threads that
arrive meanwhile queue up for the next leader, so the batch grows with the load. Each
waiting thread is woken once, by the leader that finished its append or handed it the
lead; a new leader waits for the threads the last commit finished to come back, but
never longer than that commit took (see ``_gather``).

An append inside ``store.transaction()`` joins that transaction instead, as always.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

from ._envelope import ExpectedVersion, NewEvent
from ._registry import Prepared

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ._store import EventStore
    from ._store_parts import _ThreadState

_SAVEPOINT = "evstore_group"


class _Request:
    __slots__ = ("error", "events", "expected", "finished", "positions", "prepared", "wake")

    def __init__(
        self, events: Sequence[NewEvent], prepared: Sequence[Prepared], expected: ExpectedVersion | int
    ) -> None:
        self.events, self.prepared, self.expected = events, prepared, expected
        self.positions: list[int] = []
        self.error: BaseException | None = None
        self.finished = False
        # Held from the start; released once, by the leader that finished this append or
        # handed its thread the lead. One wake-up per append: a condition's notify_all
        # would wake every waiting thread at every commit, most of them only to sleep
        # again, and on two cores those wake-ups cost more CPU than the appends.
        self.wake = threading.Lock()
        self.wake.acquire()

    def result(self) -> list[int]:
        if self.error is not None:
            raise self.error
        return self.positions


class GroupCommit:
    """One per store: the queue of waiting appends and who leads the next commit."""

    def __init__(self, store: EventStore) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._pending: list[_Request] = []  # empty whenever no thread leads
        self._leading = False
        self._gathered = threading.Condition(self._lock)
        self._returning = 0  # appends the last commit finished whose threads may append again
        self._gather_until = 0.0  # the time after which a leader no longer waits for them

    def append(
        self, state: _ThreadState, events: Sequence[NewEvent], prepared: Sequence[Prepared],
        expected: ExpectedVersion | int,
    ) -> list[int]:
        request = _Request(events, prepared, expected)
        with self._lock:
            self._pending.append(request)
            if self._returning:
                self._returning -= 1
                if not self._returning:
                    self._gathered.notify()
            waits, self._leading = self._leading, True
        if waits:
            request.wake.acquire()  # until a leader finished it or handed it the lead
            if request.finished:
                return request.result()
        batch: list[_Request] = []
        started = 0.0
        try:
            with self._lock:
                self._gather()
                batch, self._pending = self._pending, []
            started = time.perf_counter()  # after the gathering: see _hand_over
            self._commit(state, batch, request)
        finally:
            self._hand_over(batch, request, time.perf_counter() - started if started else 0.0)
        return request.result()

    def _gather(self) -> None:
        """Wait, no longer than the last commit took, for the threads that commit just
        finished to append again, so that they share this commit.

        Without it the threads split into two cohorts that take turns: the leader starts
        with the appends that waited through the last commit, while the threads that
        commit finished are still on their way back; they wait through this one. Every
        fsync then carries half the threads, and no Python work overlaps it (the other
        cohort has long queued). One thread alone, or threads that do not come back
        soon, never wait: the wait ends by the deadline, and no commit finished for it."""
        remaining = self._gather_until - time.perf_counter()
        while self._returning and remaining > 0:
            self._gathered.wait(remaining)
            remaining = self._gather_until - time.perf_counter()

    def _hand_over(self, batch: list[_Request], own: _Request, took: float) -> None:
        """The lead to the first waiting append, if any (it takes every append waiting
        when it starts), then wake the appends this commit finished."""
        with self._lock:
            # Appends of the batch that did not finish (the leader's thread was
            # interrupted) go first to the next leader, whichever way this one ended.
            if own in self._pending:  # stopped before it took the batch
                self._pending.remove(own)
            self._pending[:0] = [r for r in batch if not r.finished and r is not own]
            successor = self._pending[0] if self._pending else None
            self._leading = successor is not None
            self._returning = sum(1 for request in batch if request.finished)
            # The commit's own duration, not counting the gathering before it: a wait
            # bounded by the last wait plus a commit would grow without end.
            self._gather_until = time.perf_counter() + took
        if successor is not None:
            successor.wake.release()
        for request in batch:
            if request.finished and request is not own:
                request.wake.release()

    def _commit(self, state: _ThreadState, batch: list[_Request], own: _Request) -> None:
        store = self._store
        try:
            with store._write(state) as tx:
                if len(batch) == 1:  # alone: no savepoint, exactly the single-append path
                    own.positions = tx.append_prepared(own.events, own.prepared, own.expected)
                else:
                    for request in batch:
                        self._one(tx, state, request)
        except Exception as error:
            # The transaction as a whole failed (the commit, the write lock, a strict
            # projection when alone): nothing of the batch is stored, and every append
            # that had not failed on its own gets this error.
            for request in batch:
                if request.error is None:
                    request.positions, request.error = [], error
                request.finished = True
            raise
        except BaseException:
            # The leader's thread was interrupted: its own append ends with that, the
            # others are not at fault and wait for the next leader (see _hand_over).
            for request in batch:
                request.positions, request.error = [], None
            own.finished = True
            raise
        for request in batch:  # read by their threads once woken (_hand_over)
            request.finished = True

    @staticmethod
    def _one(tx: Any, state: _ThreadState, request: _Request) -> None:
        session = state.session
        saved = tx.snapshot()
        session.savepoint(_SAVEPOINT)
        try:
            request.positions = tx.append_prepared(request.events, request.prepared, request.expected)
        except Exception as error:
            session.rollback_to(_SAVEPOINT)
            tx.restore(saved)
            tx._failed = None  # its failure is its own: the others still commit
            request.error = error
            return
        session.release(_SAVEPOINT)
