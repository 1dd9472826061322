"""What evstore-steps shows in ``evstore ui``: each workflow's steps with their status,
and every step by role and status."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from evstore.ui import Child, Page, Panel, View, pager, status_badge, table, tag

from ._queries import list_steps
from ._status import StepStatus

PAGE_SIZE = 50


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
    matrix = view.store.reader.fetchall("SELECT role, status, COUNT(*) FROM steps GROUP BY role, status")
    statuses = sorted({str(st) for _, st, _ in matrix})
    by_role: dict[str, dict[str, int]] = {}
    for r, st, count in matrix:
        by_role.setdefault(r or "(none)", {})[str(st)] = int(count)
    summary = table(
        ["role", *statuses],
        [[tag("a", r, href=view.url(role=r, status=None, before=None)),
          *[tag("a", f"{counts[st]:,}", href=view.url(role=r, status=st, before=None)) if st in counts else ""
            for st in statuses]]
         for r, counts in sorted(by_role.items())],
        numeric=range(1, len(statuses) + 1), empty="No steps yet.",
    )
    clauses, params = [], []  # type: list[str], list[Any]
    for column, value in (("status", status), ("role", role)):
        if value:
            clauses.append(f"{column} = ?")
            params.append(value)
    before = view.param("before")
    if before and before.isdigit():
        clauses.append("created_position < ?")
        params.append(int(before))
    where = f"WHERE {' AND '.join(clauses)} " if clauses else ""
    rows = view.store.reader.fetchall(
        "SELECT id, workflow_id, role, status, retry_count, error, updated_at, created_position FROM steps "
        f"{where}ORDER BY created_position DESC LIMIT ?", [*params, PAGE_SIZE + 1],
    )
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    heading = "Newest steps" + (f", role {role}" if role else "") + (f", status {status}" if status else "")
    return [
        tag("h3", "By role and status"), summary,
        tag("h3", heading, " ", tag("a", "(all)", href=view.url(role=None, status=None, before=None))
            if role or status else None),
        table(
            ["step", "workflow", "role", "status", "retries", "error", "updated (UTC)"],
            [[sid, tag("a", wid, href=view.workflow_url(wid)), r or "", status_badge(st), retries,
              tag("span", error, class_="muted") if error else "", (updated or "").replace("T", " ")[:19]]
             for sid, wid, r, st, retries, error, updated, _ in rows],
            numeric=[4], empty="No such steps.",
        ),
        pager(view.url(before=None) if before else None, view.url(before=rows[-1][7]) if more else None),
    ]


def _short(value: Any, width: int = 80) -> str:
    if value is None:
        return ""
    text = str(value)
    return text if len(text) <= width else text[: width - 1] + "…"
