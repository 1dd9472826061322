"""Group commit: appends from concurrent threads of one store share one physical commit.

Agent supervisors append from many threads of one process (parallel graph nodes). With
one transaction per append, each waits for the write lock and then for its own fsync; a
durable store then does as many appends a second as the disk does flushes. Here the
thread that finds no commit in progress becomes the leader: it takes every append
waiting at that moment, runs each in a SAVEPOINT of one transaction — so each keeps its
own atomicity, expected-version check and error — and commits once. Threads that
arrive meanwhile queue up for the next leader, so the batch grows with the load and no
append waits on a timer.

An append inside ``store.transaction()`` joins that transaction instead, as always.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from ._envelope import ExpectedVersion, NewEvent
from ._registry import Prepared

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ._store import EventStore
    from ._store_parts import _ThreadState

_SAVEPOINT = "evstore_group"


class _Request:
    __slots__ = ("error", "events", "expected", "finished", "positions", "prepared")

    def __init__(
        self, events: Sequence[NewEvent], prepared: Sequence[Prepared], expected: ExpectedVersion | int
    ) -> None:
        self.events, self.prepared, self.expected = events, prepared, expected
        self.positions: list[int] = []
        self.error: BaseException | None = None
        self.finished = False

    def result(self) -> list[int]:
        if self.error is not None:
            raise self.error
        return self.positions


class GroupCommit:
    """One per store: the queue of waiting appends and who leads the next commit."""

    def __init__(self, store: EventStore) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._pending: list[_Request] = []
        self._leading = False

    def append(
        self, state: _ThreadState, events: Sequence[NewEvent], prepared: Sequence[Prepared],
        expected: ExpectedVersion | int,
    ) -> list[int]:
        request = _Request(events, prepared, expected)
        with self._lock:
            self._pending.append(request)
            while not request.finished and self._leading:
                self._changed.wait()
            if request.finished:
                return request.result()
            self._leading = True
            batch, self._pending = self._pending, []
        try:
            self._commit(state, batch, request)
        finally:
            with self._lock:
                self._leading = False
                self._changed.notify_all()
        return request.result()

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
            with self._lock:
                for request in batch:
                    if request.error is None:
                        request.positions, request.error = [], error
                    request.finished = True
            raise
        except BaseException:
            # The leader's thread was interrupted: its own append ends with that, the
            # others are not at fault and wait for the next leader.
            with self._lock:
                others = [r for r in batch if r is not own]
                for request in others:
                    request.positions, request.error = [], None
                self._pending[:0] = others
                own.finished = True
            raise
        with self._lock:
            for request in batch:
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
