"""A small, real example of the kernel: a projection plugin, appends, a transaction,
optimistic concurrency, an idempotent retry and a rebuild. CI runs it."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from evstore import (
    NO_STREAM,
    ConcurrencyError,
    EventStore,
    EventType,
    Migration,
    NewEvent,
    Projection,
    hookimpl,
)


class TaskAdded(BaseModel):
    title: str


class TodoPlugin:
    """Declares two event types and a `todos` table kept up to date from them."""

    evstore_plugin_name = "todos"

    @hookimpl
    def evstore_register_event_types(self, register: Any) -> None:
        register(EventType("task_added", payload=TaskAdded, requires=("step_id",)))
        register(EventType("task_done", requires=("step_id",)))

    @hookimpl
    def evstore_register_projections(self, register: Any) -> None:
        todos = Projection(
            "todos",
            tables=["todos"],
            migrations=[Migration("0001", "CREATE TABLE todos (id TEXT PRIMARY KEY, "
                                          "list TEXT, title TEXT, done_at TEXT)")],
        )

        @todos.on("task_added")
        def added(db: Any, event: Any) -> None:
            db.execute("INSERT INTO todos VALUES (?, ?, ?, NULL)",
                       (event.step_id, event.workflow_id, event.payload["title"]))

        @todos.on("task_done")
        def done(db: Any, event: Any) -> None:
            db.execute("UPDATE todos SET done_at = ? WHERE id = ?", (event.timestamp_text, event.step_id))

        register(todos)


def main() -> None:
    with (
        tempfile.TemporaryDirectory() as folder,
        EventStore.open(Path(folder) / "state.db", plugins=[TodoPlugin()], autoload=False) as store,
    ):
            first = NewEvent(workflow_id="groceries", event_type="task_added", step_id="t1",
                             payload={"title": "milk"})
            print("appended at position", store.append(first, expected_version=NO_STREAM))
            print("a retry of the same event returns", store.append(first))
            with store.transaction() as tx:
                tx.append(NewEvent(workflow_id="groceries", event_type="task_added", step_id="t2",
                                   payload={"title": "bread"}))
                tx.append(NewEvent(workflow_id="groceries", event_type="task_done", step_id="t1"))
            try:
                store.append(NewEvent(workflow_id="groceries", event_type="task_done", step_id="t2"),
                             expected_version=1)
            except ConcurrencyError as error:
                print("conflict:", error)
            for event in store.read("groceries"):
                print(f"  #{event.id} v{event.version} {event.event_type} {event.payload}")
            before = store.reader.fetchall("SELECT * FROM todos ORDER BY id")
            print("todos:", before)
            store.rebuild()
            assert store.reader.fetchall("SELECT * FROM todos ORDER BY id") == before
            print("rebuilt from the log: identical rows")
            print("status:", store.projection_status())


if __name__ == "__main__":
    main()
