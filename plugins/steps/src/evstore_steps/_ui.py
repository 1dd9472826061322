"""What evstore-steps shows in ``evstore ui``: each workflow's steps with their status,
and every step by role and status."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from evstore.ui import Child, Page, Panel, View, pager, status_badge, table, tag

from ._queries import list_steps
from ._status import StepStatus

PAGE_SIZE = 50
RECENT = 2_000


def register_ui(register: Callable[[Page | Panel], None]) -> None:
    register(Panel("steps", "Steps", workflow_steps, on="workflow"))
    register(Page("steps", "Steps", steps_page, description="steps of every workflow, by role and status"))


def workflow_steps(view: View) -> Child:
    if view.workflow_id is None:
        return None
    steps = list_steps(view.store, view.workflow_id)
    if not steps:
        return None
    return table(
        ["step", "role", "status", "gates", "retries", "output / error", "updated (UTC)"],
        [[s.id, s.role or "", status_badge(s.status), ", ".join(s.gates), s.retry_count,
          tag("span", s.error, class_="muted") if s.error else tag("code", _short(s.output)),
          s.updated_at.isoformat().replace("T", " ")[:19]]
         for s in steps],
        numeric=[4],
    )


def steps_page(view: View) -> Child:
    status = view.param("status")
    role = view.param("role")
    known = {s.value for s in StepStatus}
    if status is not None and status not in known:
        return tag("p", f"Unknown status {status!r}; choose one of {sorted(known)}.", class_="panel-error")
    if status is None and role is None:
        return _recent(view)
    clauses, params = [], []  # type: list[str], list[Any]
    for column, value in (("status", status), ("role", role)):
        if value:
            clauses.append(f"{column} = ?")
            params.append(value)
    before = view.param("before")
    if before and before.isdigit():
        clauses.append("created_position < ?")
        params.append(int(before))
    rows = view.store.reader.fetchall(
        f"SELECT {_COLUMNS} FROM steps WHERE {' AND '.join(clauses)} ORDER BY created_position DESC LIMIT ?",
        [*params, PAGE_SIZE + 1],
    )
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    heading = "Steps" + (f", role {role}" if role else "") + (f", status {status}" if status else "") + ", newest first"
    return [
        tag("p", tag("a", "← the recently active workflows' steps",
                     href=view.url(role=None, status=None, before=None))),
        tag("h3", heading),
        _table(view, rows),
        pager(view.url(before=None) if before else None, view.url(before=rows[-1][7]) if more else None),
    ]


_COLUMNS = "id, workflow_id, role, status, retry_count, error, updated_at, created_position"


def _recent(view: View) -> Child:
    """The steps of the workflows active among the newest RECENT events: read through
    the steps_by_workflow index, so it costs the same on any size of store."""
    recent = view.store.read_all(after=max(0, view.store.head() - RECENT))
    workflows = list(dict.fromkeys(e.workflow_id for e in reversed(recent)))[:PAGE_SIZE]
    rows: list[Any] = []
    if workflows:
        marks = ", ".join("?" * len(workflows))
        rows = view.store.reader.fetchall(
            f"SELECT {_COLUMNS} FROM steps WHERE workflow_id IN ({marks}) ORDER BY created_position DESC LIMIT ?",
            [*workflows, PAGE_SIZE * 4],
        )
    by_role: dict[str, dict[str, int]] = {}
    for row in rows:
        counts = by_role.setdefault(row[2] or "(none)", {})
        counts[row[3]] = counts.get(row[3], 0) + 1
    statuses = sorted({str(row[3]) for row in rows})
    summary = table(
        ["role", *statuses],
        [[tag("a", r, href=view.url(role=r)),
          *[tag("a", counts[st], href=view.url(role=r, status=st)) if st in counts else "" for st in statuses]]
         for r, counts in sorted(by_role.items())],
        numeric=range(1, len(statuses) + 1), empty="No steps yet.",
    )
    return [
        tag("p", f"The steps of the {len(workflows)} workflows active in the newest {RECENT:,} events. Choose a "
                 "role or status to list every such step of the store.", class_="note"),
        tag("h3", "By role and status"), summary,
        tag("p", "every step that is: ",
            [[tag("a", status_badge(st), href=view.url(status=st)), " "] for st in known_statuses()]),
        tag("h3", "Newest steps"), _table(view, rows[:PAGE_SIZE]),
    ]


def known_statuses() -> list[str]:
    return [s.value for s in StepStatus]


def _table(view: View, rows: list[Any]) -> Child:
    return table(
        ["step", "workflow", "role", "status", "retries", "error", "updated (UTC)"],
        [[sid, tag("a", wid, href=view.workflow_url(wid)), r or "", status_badge(st), retries,
          tag("span", error, class_="muted") if error else "", (updated or "").replace("T", " ")[:19]]
         for sid, wid, r, st, retries, error, updated, _ in rows],
        numeric=[4], empty="No such steps.",
    )


def _short(value: Any, width: int = 80) -> str:
    if value is None:
        return ""
    text = str(value)
    return text if len(text) <= width else text[: width - 1] + "…"
