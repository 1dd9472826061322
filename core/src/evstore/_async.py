"""Applying async projections after commit: leases and one batch at a time.

An async projection is applied by a worker (``evstore worker``, or
:class:`evstore.Worker` in your own process), never by appends. Exactly one worker applies
a given projection at a time:

- on SQLite by a lease row (``evstore_leases``) the worker renews in the same
  transaction as every batch it applies: a worker that stalled past its lease and was
  replaced finds the lease taken when it commits and rolls its batch back, so two
  workers can never both apply one batch;
- on PostgreSQL additionally by a session advisory lock, held for as long as the
  worker's connection lives: when the worker dies, the server frees it at once and
  another worker takes over on its next round.

Each batch of events and the projection's recorded position commit in one transaction,
so an event is never applied twice or skipped, whatever is killed when.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import _json
from ._envelope import COLUMNS, RecordedEvent
from ._errors import ProjectionError, ProjectionFailedError, WaitTimeoutError
from ._projector import record_skips
from ._replay import Skipped, _ReplayError

if TYPE_CHECKING:
    from ._store import EventStore
    from ._store_parts import _ThreadState

DEFAULT_LEASE_SECONDS = 10.0


def new_holder() -> str:
    """Who a worker is, for ``evstore status``: host, process and a unique suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass
class BatchOutcome:
    """What one round of applying a projection did."""

    name: str
    applied: int = 0  # events of the projection's types applied
    position: int = 0  # its recorded position afterwards
    caught_up: bool = False
    lease_lost: bool = False
    failing: str | None = None  # the failure message, if it went failing this round
    skipped: bool = False  # not applied here (failing, outdated, or not async)


def apply_batch(
    store: EventStore, name: str, holder: str, *, limit: int, lease_seconds: float = DEFAULT_LEASE_SECONDS,
    retry_failing: bool = False,
) -> BatchOutcome:
    """Take or renew ``holder``'s lease on ``name`` and apply up to ``limit`` events
    after its position, all in one transaction. ``retry_failing``: try a failing
    projection again (its failure may have been fixed); success makes it ok."""
    outcome = BatchOutcome(name)
    state = store._acquire()
    failure: _ReplayError | None = None
    try:
        store._no_transaction(state)
        session, scopes = state.session, state.scopes
        maintenance = store._maintenance
        try:
            # No log lock: a worker inserts no events and only the lease holder writes
            # this projection's tables; what it reads is committed, and committed
            # positions never have gaps behind them (see _postgres on ordering).
            session.begin_write(log_lock=False)
            if not _hold_lease(store, state, f"projection:{name}", holder, lease_seconds):
                outcome.lease_lost = True
                session.rollback()
                return outcome
            row = session.locked_projection_row(name)
            usable = row is not None and (row[2] == "ok" or retry_failing)
            if row is None or not usable or row[0] != store.registry.projections[name].projection.version:
                outcome.skipped = True
                if row is not None:
                    outcome.position = int(row[1])
                session.commit()
                return outcome
            position = int(row[1])
            head = session.head()
            targets = maintenance.targets([name])
            events = _events_after(state, position, head, sorted(targets), limit) if targets else []
            skipped: Skipped = []
            try:
                if events:
                    maintenance.apply_chunk(scopes, targets, events, skipped)
            except _ReplayError as error:
                failure = error
                session.rollback()
            else:
                # Everything up to the head was looked at when fewer than ``limit``
                # matched: a projection handling rare types still advances.
                new_position = events[-1].id if len(events) == limit else head
                session.execute(
                    "UPDATE evstore_projections SET position = ?, status = 'ok', error = NULL, "
                    "failed_event = NULL, updated_at = ? WHERE name = ?",
                    (new_position, _json.utc_now(), name),
                )
                record_skips(session, skipped)
                session.commit()
                outcome.applied, outcome.position = len(events), new_position
                outcome.caught_up = new_position >= head
        except BaseException:
            session.rollback()
            raise
        if failure is not None:
            outcome.failing = _mark_failing(store, state, name, failure, position)
            outcome.position = position
        return outcome
    finally:
        store._release(state)


def _events_after(state: _ThreadState, after: int, head: int, types: list[str], limit: int) -> list[RecordedEvent]:
    marks = ",".join("?" * len(types))
    rows = state.session.execute(
        f"SELECT {COLUMNS} FROM events WHERE id > ? AND id <= ? AND event_type IN ({marks}) ORDER BY id LIMIT ?",
        (after, head, *types, limit),
    ).fetchall()
    return [RecordedEvent(row) for row in rows]


def _mark_failing(store: EventStore, state: _ThreadState, name: str, failure: _ReplayError, position: int) -> str:
    session = state.session
    session.begin_write(log_lock=False)
    try:
        message = store._projector.mark_failing(session, name, failure.event, failure.error, position)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return message


def _hold_lease(store: EventStore, state: _ThreadState, lease: str, holder: str, seconds: float) -> bool:
    """Inside the caller's transaction: make ``holder`` the lease's holder for another
    ``seconds`` if it holds it, or if it is free or expired. False if another holds it."""
    session = state.session
    if not session.try_session_lock(lease):
        return False
    now = time.time()
    found = session.execute("SELECT holder, expires FROM evstore_leases WHERE name = ?", (lease,)).fetchone()
    stamp = _json.utc_now()
    if found is None:
        session.execute(
            "INSERT INTO evstore_leases (name, holder, acquired_at, renewed_at, expires) VALUES (?, ?, ?, ?, ?)",
            (lease, holder, stamp, stamp, now + seconds),
        )
        return True
    if found[0] != holder and float(found[1]) > now:
        return False
    if found[0] == holder:
        session.execute(
            "UPDATE evstore_leases SET renewed_at = ?, expires = ? WHERE name = ?", (stamp, now + seconds, lease)
        )
    else:
        session.execute(
            "UPDATE evstore_leases SET holder = ?, acquired_at = ?, renewed_at = ?, expires = ? WHERE name = ?",
            (holder, stamp, stamp, now + seconds, lease),
        )
    return True


def release_leases(store: EventStore, leases: Iterable[str], holder: str) -> None:
    """Give the leases up at a graceful stop, so another worker need not wait for them
    to expire."""
    state = store._acquire()
    try:
        session = state.session
        session.begin_write(log_lock=False)
        try:
            for lease in leases:
                session.execute("DELETE FROM evstore_leases WHERE name = ? AND holder = ?", (lease, holder))
                session.release_session_lock(lease)
            session.commit()
        except BaseException:
            session.rollback()
            raise
    finally:
        store._release(state)


def check_async(store: EventStore, names: Iterable[str] | None) -> list[str]:
    """The async projections ``names`` stands for (default: all of them)."""
    lifecycles = store.registry.lifecycles
    chosen = sorted(n for n, lifecycle in lifecycles.items() if lifecycle == "async") if names is None else list(names)
    for name in chosen:
        if name not in lifecycles:
            raise ProjectionError(
                f"no loaded projection is named {name!r}; loaded: {', '.join(sorted(lifecycles)) or 'none'}"
            )
        if lifecycles[name] != "async":
            raise ProjectionError(
                f"projection {name!r} is inline here (applied by every append), so no worker applies it; "
                f"make it async with EVSTORE_ASYNC_PROJECTIONS={name}"
            )
    return chosen


def wait_for_projections(store: EventStore, position: int, names: list[str], timeout: float) -> None:
    """``EventStore.wait_for``: poll the projections' positions, backing off from 2 ms to
    100 ms, until ``names`` have all applied ``position``; a failing one ends the wait at
    once (it will not get there by itself)."""
    deadline = time.monotonic() + timeout
    pause = 0.002
    while True:
        behind = {s.name: s for s in store.projection_status() if s.name in names and s.position < position}
        failing = [s for s in behind.values() if s.status != "ok"]
        if failing:
            raise ProjectionFailedError(
                f"projection {failing[0].name!r} is {failing[0].status} at position {failing[0].position}, "
                f"before {position}: {failing[0].error or ''}".rstrip(": ")
            )
        if not behind:
            return
        if time.monotonic() >= deadline:
            described = ", ".join(f"{n} at {s.position}" for n, s in sorted(behind.items()))
            raise WaitTimeoutError(
                f"waited {timeout:g} s for position {position}, but {described}. Is an `evstore worker` "
                "running for them? `evstore status` shows who applies each."
            )
        time.sleep(pause)
        pause = min(pause * 2, 0.1)
