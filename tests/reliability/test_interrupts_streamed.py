"""An interrupt at any point of a streamed batch's insert (PostgreSQL prepares a batch
going by COPY while it sends it) leaves nothing of the batch, no transaction open and no
lock held, and the store usable. The points are those of the calls made from the frames
that stream the batch (the insert, the COPY loop, the lazily prepared sequence), as a
signal's KeyboardInterrupt lands where a call starts or returns."""

from __future__ import annotations

from typing import Any

import pytest

from evstore import EventStore
from evstore._pg_insert import copy_rows
from evstore._pg_session import PostgresSession
from evstore._registry import Registry, Streamed

from interrupt_points import count_points, run_interrupted
from kernel_support import LedgerPlugin, balances, deposit

pytestmark = pytest.mark.evstore_backends("postgresql")

BATCH = 70  # events: just over the COPY threshold (64), so one chunk; the points grow with it


def _streaming_code() -> set[Any]:
    return {
        function.__code__
        for function in (
            PostgresSession._insert, copy_rows, Registry._streaming, Streamed._reading, Streamed.chunks,
            Streamed._make_next, Streamed.__iter__,
        )
    }


def _healthy(store: EventStore, other: EventStore) -> None:
    other.append(deposit("other", 1))  # the write lock is free (busy timeout 2 s)
    store.append(deposit("a", 1))
    events = store.read_all()
    assert [e.id for e in events] == list(range(1, len(events) + 1))
    assert all(s.status == "ok" and s.lag == 0 for s in store.projection_status())
    live = balances(store)
    store.rebuild()
    assert balances(store) == live


@pytest.mark.slow
# An interrupt landing as a suspended generator of an aborted batch is closed (when it is
# collected) is printed and dropped by Python, as for any generator: nothing of the store
# runs there, and the checks below are what matters.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.parametrize("how", ["append_many", "transaction"])
def test_interrupt_at_every_point_of_a_streamed_insert(open_store: Any, how: str) -> None:
    store, other = open_store(LedgerPlugin()), open_store(LedgerPlugin(), busy_timeout=2.0)
    code = _streaming_code()

    def write() -> None:
        batch = [deposit("ab"[k % 2], k) for k in range(BATCH)]
        if how == "append_many":
            store.append_many(batch)
        else:
            with store.transaction() as tx:
                tx.append(deposit("c", 1))
                tx.append_many(batch)

    total = count_points(code, write)
    assert total > 2 * BATCH  # a write per row at least: the batch was streamed
    whole = BATCH + (how == "transaction")
    for at in range(1, total + 1):
        before = store.head()
        where = run_interrupted(code, write, at)
        written = store.head() - before
        assert written in (0, whole), f"{where}: {written} events"
        assert where != "no interrupt" or written == whole, where
        try:
            _healthy(store, other)
        except BaseException as error:
            raise AssertionError(f"the store is not healthy after the interrupt {where}") from error
