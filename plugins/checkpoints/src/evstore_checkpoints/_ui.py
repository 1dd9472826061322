"""What evstore-checkpoints shows in ``evstore ui``: the checkpoints of each workflow
(on its page), and the newest checkpoints of all workflows."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from evstore.ui import Child, Page, Panel, View, pager, status_badge, table, tag

from ._queries import list_checkpoints

PAGE_SIZE = 50


def register_ui(register: Callable[[Page | Panel], None]) -> None:
    register(Panel("checkpoints", "Checkpoints", workflow_checkpoints, on="workflow"))
    register(Page("checkpoints", "Checkpoints", checkpoints_page, description="recovery points, per workflow"))


def _rows(view: View, checkpoints: list[dict[str, Any]], *, with_workflow: bool) -> list[list[Child]]:
    return [
        [tag("a", f"#{c['id']}", href=view.event_url(c["id"])),
         *([tag("a", c["workflow_id"], href=view.workflow_url(c["workflow_id"]))] if with_workflow else []),
         c["step_id"], tag("code", c["git_sha"]), status_badge(c["status"]), tag("code", _short(c["context"])),
         str(c["timestamp"]).replace("T", " ")[:19]]
        for c in checkpoints
    ]


def workflow_checkpoints(view: View) -> Child:
    if view.workflow_id is None:
        return None
    checkpoints = list_checkpoints(view.store, view.workflow_id)
    if not checkpoints:
        return None
    return table(["checkpoint", "step", "git sha", "status", "context", "taken (UTC)"],
                 _rows(view, checkpoints, with_workflow=False))


def checkpoints_page(view: View) -> Child:
    workflow = view.param("workflow")
    if workflow is not None:
        checkpoints = list_checkpoints(view.store, workflow)
        return [
            tag("p", tag("a", "← every workflow", href=view.url(workflow=None))),
            table(["checkpoint", "step", "git sha", "status", "context", "taken (UTC)"],
                  _rows(view, checkpoints, with_workflow=False), empty=f"No checkpoints of {workflow!r}."),
        ]
    before = view.param("before")
    where, params = ("WHERE id < ? ", [int(before)]) if before and before.isdigit() else ("", [])
    rows = view.store.reader.fetchall(
        "SELECT id, workflow_id, step_id, git_sha, context_snapshot, status, timestamp FROM checkpoints "
        f"{where}ORDER BY id DESC LIMIT ?", [*params, PAGE_SIZE + 1],
    )
    more = len(rows) > PAGE_SIZE
    keys = ("id", "workflow_id", "step_id", "git_sha", "context", "status", "timestamp")
    checkpoints = [dict(zip(keys, row, strict=True)) for row in rows[:PAGE_SIZE]]
    return [
        table(["checkpoint", "workflow", "step", "git sha", "status", "context", "taken (UTC)"],
              _rows(view, checkpoints, with_workflow=True), empty="No checkpoints yet."),
        pager(view.url(before=None) if before else None,
              view.url(before=checkpoints[-1]["id"]) if more and checkpoints else None),
    ]


def _short(value: Any, width: int = 80) -> str:
    text = value if isinstance(value, str) else str(value)
    return text if len(text) <= width else text[: width - 1] + "…"
