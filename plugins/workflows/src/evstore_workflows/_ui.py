"""What evstore-workflows shows in ``evstore ui``: every workflow with its status, and
each workflow's row on its own page."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from evstore.ui import Child, Page, Panel, View, badge, key_values, pager, status_badge, table, tag

from ._queries import WorkflowStatus, get_workflow

PAGE_SIZE = 50


def register_ui(register: Callable[[Page | Panel], None]) -> None:
    register(Page("workflows", "Workflows", workflows_page, description="every workflow, newest first, by status"))
    register(Panel("status", "Workflow status", workflow_panel, on="workflow"))
    register(Panel("summary", "Workflows by status", summary_panel))


def _counts(view: View) -> dict[str, int]:
    rows = view.store.reader.fetchall("SELECT status, COUNT(*) FROM workflows GROUP BY status")
    return {str(status): int(count) for status, count in rows}


def summary_panel(view: View) -> Child:
    counts = _counts(view)
    if not counts:
        return None
    return tag("p", [
        tag("a", status_badge(status), " ", f"{count:,}", href=view.page_url("workflows", "workflows", status=status),
            class_="count")
        for status, count in sorted(counts.items())
    ], " · ", tag("a", "all workflows →", href=view.page_url("workflows", "workflows")))


def workflows_page(view: View) -> Child:
    status = view.param("status")
    if status is not None and status not in {s.value for s in WorkflowStatus}:
        return tag("p", f"Unknown status {status!r}; choose one of the badges above.", class_="panel-error")
    before = view.param("before")
    clauses: list[str] = []
    params: list[Any] = []
    if status:
        clauses.append("status = ?")
        params.append(status)
    if before and before.isdigit():
        clauses.append("created_position < ?")
        params.append(int(before))
    where = f"WHERE {' AND '.join(clauses)} " if clauses else ""
    rows = view.store.reader.fetchall(
        "SELECT id, status, current_step, error, created_at, updated_at, created_position FROM workflows "
        f"{where}ORDER BY created_position DESC LIMIT ?", [*params, PAGE_SIZE + 1],
    )
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    filters = tag("p", [
        tag("a", badge("all") if status is None else "all", href=view.url(status=None, before=None)), " ",
        *[fragment_link(view, s.value, status) for s in WorkflowStatus],
        " ", tag("span", ", ".join(f"{k} {v:,}" for k, v in sorted(_counts(view).items())), class_="muted"),
    ])
    return [
        filters,
        table(
            ["workflow", "status", "current step", "started (UTC)", "updated (UTC)", "error"],
            [[tag("a", wid, href=view.workflow_url(wid)), status_badge(st), step or "", _t(created), _t(updated),
              tag("span", error, class_="muted") if error else ""]
             for wid, st, step, error, created, updated, _ in rows],
            empty="No workflows" + (f" with status {status}." if status else " yet."),
        ),
        pager(view.url(before=None) if before else None, view.url(before=rows[-1][6]) if more else None),
    ]


def fragment_link(view: View, value: str, current: str | None) -> Child:
    label = status_badge(value) if value == current else value
    return [tag("a", label, href=view.url(status=value, before=None)), " "]


def workflow_panel(view: View) -> Child:
    if view.workflow_id is None:
        return None
    workflow = get_workflow(view.store, view.workflow_id)
    if workflow is None:
        return None  # not a workflow this plugin tracks (a feature's or a graph's stream)
    return key_values([
        ("status", status_badge(workflow.status)),
        ("current step", workflow.current_step or "—"),
        ("started", _t(workflow.created_at.isoformat())),
        ("updated", _t(workflow.updated_at.isoformat())),
        ("error", workflow.error or "—"),
        ("context", tag("code", str(workflow.context)) if workflow.context else "—"),
    ])


def _t(stamp: str | None) -> str:
    return (stamp or "").replace("T", " ")[:19]
