"""Shared by the kernel tests: a small ledger plugin and event helpers."""

from __future__ import annotations

from collections.abc import Callable
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
                "INSERT OR IGNORE INTO balances VALUES (?, 0, ?, ?)",
                (event.workflow_id, event.id, event.timestamp_text),
            )

        @projection.on("deposited")
        def deposited(db: Any, event: Any) -> None:
            amount = event.payload["amount"]
            db.execute(
                "INSERT INTO balances VALUES (?, ?, ?, ?) ON CONFLICT (account) DO UPDATE SET "
                "amount = amount + excluded.amount, last_position = excluded.last_position, "
                "updated_at = excluded.updated_at",
                (event.workflow_id, amount, event.id, event.timestamp_text),
            )
            if amount in self.fail_on:
                raise RuntimeError(f"refusing amount {amount}")

        register(projection)


def deposit(account: str, amount: int, **fields: Any) -> NewEvent:
    return NewEvent(workflow_id=account, event_type="deposited", payload={"amount": amount}, **fields)


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
