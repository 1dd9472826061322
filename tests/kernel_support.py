"""Shared by the kernel tests: a small ledger plugin and event helpers."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from pydantic import BaseModel

from evstore import EventStore, EventType, Migration, NewEvent, Projection, hookimpl


class Deposit(BaseModel):
    amount: int


class LedgerPlugin:
    """Accounts with balances: a projection with two event types and a strict option."""

    evstore_plugin_name = "ledger"

    def __init__(self, *, strict: bool = False, version: int = 1) -> None:
        self.strict = strict
        self.version = version
        self.fail_on: set[int] = set()  # amounts that make the handler raise

    @hookimpl
    def evstore_register_event_types(self, register: Callable[[EventType], None]) -> None:
        register(EventType("account_opened", description="an account starts at zero"))
        register(EventType("deposited", payload=Deposit))

    @hookimpl
    def evstore_register_projections(self, register: Callable[[Projection], None]) -> None:
        projection = Projection(
            "balances",
            version=self.version,
            tables=["balances"],
            strict=self.strict,
            migrations=[
                Migration(
                    "0001_create",
                    "CREATE TABLE balances (account TEXT PRIMARY KEY, amount INTEGER NOT NULL, "
                    "last_position INTEGER NOT NULL, updated_at TEXT NOT NULL);",
                )
            ],
        )

        @projection.on("account_opened")
        def opened(db: Any, event: Any) -> None:
            db.execute(
                "INSERT INTO balances VALUES (?, 0, ?, ?) ON CONFLICT (account) DO NOTHING",
                (event.workflow_id, event.id, event.timestamp_text),
            )

        @projection.on("deposited")
        def deposited(db: Any, event: Any) -> None:
            amount = event.payload["amount"]
            db.execute(
                "INSERT INTO balances VALUES (?, ?, ?, ?) ON CONFLICT (account) DO UPDATE SET "
                "amount = balances.amount + excluded.amount, last_position = excluded.last_position, "
                "updated_at = excluded.updated_at",
                (event.workflow_id, amount, event.id, event.timestamp_text),
            )
            if amount in self.fail_on:
                raise RuntimeError(f"refusing amount {amount}")

        register(projection)


def deposit(account: str, amount: int, **fields: Any) -> NewEvent:
    return NewEvent(workflow_id=account, event_type="deposited", payload={"amount": amount}, **fields)


class RawConnection:
    """A plain driver connection to a store's database, as another program (the
    original supervisor's raw SQL, an operator's psql or sqlite3 shell) would open it.
    ``execute`` takes ``?`` placeholders on both backends."""

    def __init__(self, store: EventStore) -> None:
        self.dialect = store.dialect
        if store.dialect == "sqlite":
            self.conn: Any = sqlite3.connect(str(store.path))
        else:
            import psycopg

            self.conn = psycopg.connect(store.location)

    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> Any:
        if self.dialect == "sqlite":
            return self.conn.execute(sql, parameters)
        from evstore._pg_sql import translate

        translated = translate(sql)
        return self.conn.execute(translated.driver if parameters else sql, parameters or None)

    def commit(self) -> None:
        self.conn.commit()

    def rollback(self) -> None:
        self.conn.rollback()

    def close(self) -> None:
        self.conn.close()


def database_errors() -> tuple[type[BaseException], ...]:
    """What either driver raises for a statement the database refuses."""
    import psycopg

    return (sqlite3.DatabaseError, psycopg.Error)


@contextmanager
def raw_connection(store: EventStore) -> Iterator[RawConnection]:
    """Commits at the end of the block, rolls back if it raises."""
    raw = RawConnection(store)
    try:
        yield raw
        raw.commit()
    except BaseException:
        raw.rollback()
        raise
    finally:
        raw.close()


def contents(store: EventStore) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table of the store (the log, the kernel's and the projections'
    tables), sorted: equal before and after means nothing was written."""
    from evstore.testing import snapshot_tables

    return snapshot_tables(store, store.reader.table_names())


def balances(store: EventStore) -> list[tuple[Any, ...]]:
    return list(store.reader.fetchall("SELECT * FROM balances ORDER BY account"))




def append_worker(path: str, worker: int, count: int, shared_workflow: str, use_expected: bool) -> list[int]:
    """Run in a child process: append ``count`` events, half to a shared workflow (with
    optimistic concurrency when ``use_expected``) and half to its own; returns the
    acknowledged positions."""
    from evstore import ConcurrencyError, EventStore

    acknowledged = []
    conflicts = 0
    with EventStore.open(path, plugins=[LedgerPlugin()], autoload=False, durability="normal") as store:
        for n in range(count):
            if n % 2:
                acknowledged.append(store.append(deposit(f"own-{worker}", 1)))
                continue
            while True:
                event = deposit(shared_workflow, 1, metadata={"worker": worker, "n": n})
                try:
                    if use_expected:
                        seen = store.version(shared_workflow)
                        acknowledged.append(store.append(event, expected_version=seen))
                    else:
                        acknowledged.append(store.append(event))
                    break
                except ConcurrencyError:
                    conflicts += 1
    return acknowledged
