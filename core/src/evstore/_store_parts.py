"""What ``EventStore`` is made of besides its methods: the per-thread session state,
the call guard every public method runs in, the status record, and small query helpers."""

from __future__ import annotations

import difflib
import os
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import _json
from ._backend import Session
from ._errors import EvstoreError, InvalidArgumentError
from ._projector import ConnectionScopes, Projector
from ._validate import check_int

if TYPE_CHECKING:
    from ._registry import Registry
    from ._store import EventStore
    from ._transactions import Transaction


@dataclass(frozen=True)
class ProjectionStatus:
    """One row of ``store.projection_status()`` (and ``evstore status``)."""

    name: str
    version: int
    position: int
    lag: int
    status: str  # "ok" | "failing" | "outdated" | "not loaded"
    error: str | None
    plugin: str | None
    skipped: int = 0
    last_skip: str | None = None
    lifecycle: str = "inline"  # in this process: "inline" or "async"
    leader: str | None = None  # the worker applying an async projection now (host:pid:id)
    lag_seconds: float = 0.0  # how old the oldest event it has not applied is


class _ThreadState:
    """The session of one thread (and process: a forked child opens its own).

    ``lock`` is held while the thread is inside a store call; ``close()`` from another
    thread closes only sessions whose lock it can take (idle ones), and a busy thread
    closes its own when its call returns, so no connection is closed under its user.
    """

    __slots__ = ("__weakref__", "depth", "lock", "pid", "reading", "scopes", "session", "thread", "transaction")

    def __init__(self, session: Session, scopes: ConnectionScopes) -> None:
        self.session = session
        self.scopes = scopes
        self.pid = os.getpid()
        self.thread = threading.get_ident()
        self.transaction: Transaction | None = None
        self.reading = False
        self.lock = threading.RLock()
        self.depth = 0


class _Call:
    """One public store call: this thread's state with its lock held, and a driver's
    error that means the storage failed (disk full, a damaged file, a dropped kernel
    table, a lost server) turned into a typed ``StorageError`` naming the store."""

    __slots__ = ("state", "store")

    def __init__(self, store: EventStore) -> None:
        self.store = store

    def __enter__(self) -> _ThreadState:
        self.state = self.store._acquire()
        return self.state

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: Any) -> None:
        self.store._release(self.state)
        if error is not None and not isinstance(error, EvstoreError):
            translated = self.store._backend.storage_error(error)
            if translated is not None:
                raise translated from error


def _leaders(session: Session) -> dict[str, str]:
    """The holder of every unexpired lease (empty on a store whose schema predates them)."""
    try:
        rows = session.execute("SELECT name, holder, expires FROM evstore_leases").fetchall()
    except Exception:
        return {}
    now = time.time()
    return {str(name): str(holder) for name, holder, expires in rows if float(expires) > now}


def _age(session: Session, position: int) -> float:
    found = session.execute("SELECT timestamp FROM events WHERE id > ? ORDER BY id LIMIT 1", (position,)).fetchone()
    if found is None:
        return 0.0
    try:
        return max(0.0, time.time() - _json.parse_timestamp(str(found[0])).timestamp())
    except ValueError:
        return 0.0


def _names_or_env(names: Iterable[str] | None, variable: str) -> list[str]:
    if names is not None:
        chosen = [names] if isinstance(names, str) else list(names)
        if not all(isinstance(name, str) for name in chosen):
            raise InvalidArgumentError(f"projection names must be strings, got {chosen!r}")
        return chosen
    return [name.strip() for name in os.environ.get(variable, "").split(",") if name.strip()]


def unmatched_lifecycle_names(registry: Registry, variables: Iterable[str]) -> list[str]:
    """For each of ``variables`` (EVSTORE_ASYNC_PROJECTIONS, EVSTORE_INLINE_PROJECTIONS)
    naming projections this process has not loaded, a sentence saying so, with close
    matches. A store ignores such names (the same variables reach processes with other
    plugins), so the commands that read them say so, or a misspelt name would leave its
    projection silently in its default lifecycle."""
    loaded = sorted(registry.projections)
    found = []
    for variable in variables:
        for name in _names_or_env(None, variable):
            if name not in registry.projections:
                close = difflib.get_close_matches(name, loaded, n=3)
                hint = f" (did you mean {', '.join(map(repr, close))}?)" if close else ""
                found.append(f"{variable} names {name!r}, which no loaded projection has{hint}; ignored here")
    return found


def _close_quietly(session: Session) -> None:
    try:
        session.close()
    except Exception:  # closing what is already closed, or a connection the server dropped
        pass


def _check_workflow(workflow_id: Any) -> None:
    if not isinstance(workflow_id, str) or not workflow_id:
        raise InvalidArgumentError(f"workflow_id must be a non-empty string, got {workflow_id!r}")


def _limit(limit: int | None, params: list[Any]) -> str:
    if limit is None:
        return ""
    check_int("limit", limit, minimum=0)
    params.append(limit)
    return " LIMIT ?"


def type_names(types: Iterable[str]) -> list[str]:
    """A filter's event type names (one name alone, or several), refused unless they
    are a non-empty list of non-empty strings."""
    names = [types] if isinstance(types, str) else list(types)
    if not names or not all(isinstance(t, str) and t for t in names):
        raise InvalidArgumentError(f"types must be a non-empty list of event type names, got {names!r}")
    return names


def _type_filter(types: Iterable[str] | None, clauses: list[str], params: list[Any]) -> None:
    if types is None:
        return
    names = type_names(types)
    clauses.append(f"event_type IN ({','.join('?' * len(names))})")
    params.extend(names)


def statuses(session: Session, registry: Registry, projector: Projector) -> list[ProjectionStatus]:
    """``EventStore.projection_status`` on the caller's session."""
    current = session.head()
    rows = session.execute(
        "SELECT name, version, position, status, error, skipped, last_skip FROM evstore_projections "
        "ORDER BY name"
    ).fetchall()
    leaders = _leaders(session)
    oldest = {row[0]: _age(session, int(row[2])) for row in rows if int(row[2]) < current}
    result = []
    for name, version, position, status, error, skipped, last_skip in rows:
        registered = registry.projections.get(name)
        if registered is None:
            status = "not loaded"
        elif version != registered.projection.version:
            projector.note_version(name, version)
            if version > registered.projection.version:
                status, error = "outdated", projector.outdated_message(name, version)
        result.append(
            ProjectionStatus(
                name, version, position, current - position, status, error,
                registered.plugin.name if registered else None, skipped, last_skip,
                registry.lifecycles.get(name, "inline"), leaders.get(f"projection:{name}"),
                oldest.get(name, 0.0),
            )
        )
    return result
