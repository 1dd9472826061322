"""PostgreSQL restarted under 8 appending threads: each writer whose append the restart
cut off gets a ``StoreConnectionError`` (never a raw psycopg error), retries the same
event on a fresh connection from the store's pool, and goes on. Afterwards every
acknowledged event is stored exactly once, at the position its append returned, and
positions run 1..N without a gap.

On a private cluster (see ``private_postgres``): the shared server is never restarted.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import pytest
from private_postgres import private_cluster

from evstore import EventStore, NewEvent, StoreConnectionError

WRITERS = 8
EVENTS_EACH = 120
RESTART_AFTER = 200  # events in the log before the restart: writers are in full flow
GIVE_UP_AFTER = 60.0  # seconds a writer keeps retrying one event (the restart takes ~1 s)

pytestmark = pytest.mark.evstore_backends("postgresql")


@dataclass
class Writer:
    number: int
    acknowledged: dict[str, int] = field(default_factory=dict)  # event_id -> position
    typed_errors: list[str] = field(default_factory=list)
    other_errors: list[BaseException] = field(default_factory=list)

    def run(self, store: EventStore) -> None:
        try:
            for n in range(EVENTS_EACH):
                event = NewEvent(workflow_id=f"writer-{self.number}", event_type="counted", payload={"n": n})
                self.acknowledged[str(event.event_id)] = self._append(store, event)
        except BaseException as error:  # reported by the test, with its type
            self.other_errors.append(error)

    def _append(self, store: EventStore, event: NewEvent) -> int:
        deadline = time.monotonic() + GIVE_UP_AFTER
        while True:
            try:
                return store.append(event)
            except StoreConnectionError as error:
                # The documented way to retry: the same NewEvent, so an append that did
                # commit before its connection broke is recognised, not stored twice.
                self.typed_errors.append(f"{type(error).__name__}: {error}")
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)


def test_restart_under_writers_loses_nothing_acknowledged(evstore_backend: str) -> None:
    cluster = private_cluster()
    schema_url = f"{cluster.url}?options=-csearch_path%3Drestart_{int(time.time() * 1000)}"
    writers = [Writer(number) for number in range(WRITERS)]
    # One connection per writer thread, and one for this thread, which watches the head.
    with EventStore.open(
        schema_url, autoload=False, permissive=True, pool_size=WRITERS + 1, pool_timeout=10, durability="normal"
    ) as store:
        threads = [threading.Thread(target=w.run, args=(store,)) for w in writers]
        for thread in threads:
            thread.start()
        while store.head() < RESTART_AFTER and any(t.is_alive() for t in threads):
            time.sleep(0.01)
        assert RESTART_AFTER <= store.head() < WRITERS * EVENTS_EACH, "the restart must land mid-run"
        cluster.restart()
        for thread in threads:
            thread.join(timeout=GIVE_UP_AFTER + 30)
        assert not any(t.is_alive() for t in threads)
        # This thread's connection died idle in the restart: its next call says so
        # (typed), the one after takes a fresh connection.
        with pytest.raises(StoreConnectionError):
            store.head()

        raw = [error for w in writers for error in w.other_errors]
        assert not raw, f"writers failed with untyped errors: {raw!r}"
        assert any(w.typed_errors for w in writers), "no writer saw the restart: it missed them"

        stored = store.read_all()
        acknowledged = {eid: pos for w in writers for eid, pos in w.acknowledged.items()}
        assert len(acknowledged) == WRITERS * EVENTS_EACH
        assert [e.id for e in stored] == list(range(1, len(stored) + 1)), "positions have a gap"
        copies = Counter(str(e.event_id) for e in stored)
        assert max(copies.values()) == 1, "an event was stored twice"
        at = {str(e.event_id): e.id for e in stored}
        assert {eid: at.get(eid) for eid in acknowledged} == acknowledged, "an acknowledged event is missing or moved"
        # Within each writer, its events are in the order it appended them.
        for w in writers:
            ns = [e.payload["n"] for e in stored if e.workflow_id == f"writer-{w.number}"]
            assert ns == list(range(EVENTS_EACH))
