"""The dashboard's own pages: overview, log, event, workflows, projections, plugin pages."""

from __future__ import annotations

import shlex
import statistics
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from .._errors import InvalidArgumentError
from . import _log
from ._server import (
    backend_name,
    disk_usage,
    handle_errors,
    page,
    query_int,
    render_contribution,
    render_panels,
    ui_state,
    view_for,
)

GAP_FLOOR_SECONDS = 60.0
GAP_FACTOR = 10.0


def _event_types(request: Request) -> list[str]:
    # The declared types, not SELECT DISTINCT: that would scan the whole log.
    return sorted(ui_state(request).store.registry.event_types)


@handle_errors
def overview(request: Request) -> Response:
    state = ui_state(request)
    store = state.store
    with store.snapshot() as reader:
        head = store.head()
        statuses = store.projection_status()
        recent = _log.recent_workflows(store)
        latest = _log.log_page(store, _log.LogFilter(), limit=10).events
        events = int(reader.fetchvalue("SELECT COUNT(*) FROM events"))
        panels = render_panels(request, "overview")
    failing = [s for s in statuses if s.status != "ok"]
    return page(
        request, "overview.html", title="Overview", head=head, events=events, statuses=statuses,
        failing=failing, recent=recent, latest=latest, panels=panels,
        problems=state.contributions.problems, facts=_facts(request, head, events),
    )


def _facts(request: Request, head: int, events: int) -> list[tuple[str, str]]:
    store = ui_state(request).store
    size = disk_usage(store)
    return [
        ("store", ui_state(request).label),
        ("backend", backend_name(store)),
        ("events", f"{events:,}"),
        ("head", f"{head:,}"),
        ("durability", store.durability),
        ("on disk", _human_size(size) if size is not None else "-"),
        ("plugins", ", ".join(p.name for p in store.plugins) or "none"),
    ]


@handle_errors
def log_view(request: Request) -> Response:
    params = request.query_params
    log_filter = _log.LogFilter.from_params(params)
    before, after = query_int(params, "before"), query_int(params, "after")
    store = ui_state(request).store
    with store.snapshot():
        result = _log.log_page(store, log_filter, before=before, after=after)
    filters = log_filter.as_params()
    return page(
        request, "log.html", title="Log", result=result, filters=filters,
        form={k: params.get(k, "") for k in ("workflow", "type", "since", "until", "text")},
        event_types=_event_types(request), live=before is None and after is None,
        older_url=_url("/log", filters, before=result.older) if result.older else None,
        newer_url=_url("/log", filters, after=result.newer) if result.newer else None,
        newest_url=_url("/log", filters) if before is not None or after is not None else None,
        live_url=_url("/events/live", filters, after=result.head),
    )


def _url(path: str, filters: dict[str, str], **cursor: int | None) -> str:
    query = urlencode({**filters, **{k: v for k, v in cursor.items() if v is not None}})
    return path + (f"?{query}" if query else "")


@handle_errors
def event_view(request: Request) -> Response:
    position = int(request.path_params["position"])
    store = ui_state(request).store
    with store.snapshot():
        event = _log.get_event(store, position)
        chain = _log.chain(store, event) if event is not None else None
    if event is None or chain is None:
        return page(request, "error.html", status_code=404, title="No such event",
                    message=f"No event at position {position} (the head is {store.head():,}).")
    return page(request, "event.html", title=f"Event {position}", event=event, chain=chain,
                envelope=event.envelope(), payload=event.payload, metadata=event.metadata)


@handle_errors
def workflows_view(request: Request) -> Response:
    params = request.query_params
    contains = (params.get("q") or "").strip() or None
    if contains is not None and len(contains) > _log.MAX_TEXT:
        raise InvalidArgumentError(f"the search text is longer than {_log.MAX_TEXT} characters")
    after = (params.get("after") or "").strip() or None
    store = ui_state(request).store
    with store.snapshot():
        rows = _log.list_workflows(store, after=after, contains=contains, limit=_log.PAGE_SIZE + 1)
        recent = _log.recent_workflows(store) if after is None and contains is None else []
    more = len(rows) > _log.PAGE_SIZE
    rows = rows[: _log.PAGE_SIZE]
    next_url = None
    if more:
        next_url = "/workflows?" + urlencode({**({"q": contains} if contains else {}), "after": rows[-1][0]})
    return page(request, "workflows.html", title="Workflows", rows=rows, recent=recent, q=contains or "",
                next_url=next_url, paged=after is not None)


@handle_errors
def workflow_view(request: Request) -> Response:
    workflow_id = request.path_params["workflow_id"]
    after_version = query_int(request.query_params, "after") or 0
    store = ui_state(request).store
    with store.snapshot():
        count, first, last = _log.workflow_summary(store, workflow_id)
        events = _log.workflow_events(store, workflow_id, after_version=after_version, limit=201)
        panels = render_panels(request, "workflow", workflow_id) if after_version == 0 else []
    more = len(events) > 200
    events = events[:200]
    timeline = _timeline(events)
    next_url = None
    if more and events[-1].version is not None:
        next_url = f"{request.url.path}?after={events[-1].version}"
    return page(request, "workflow.html", title=f"Workflow {workflow_id}", workflow_id=workflow_id, count=count,
                first=first, last=last, timeline=timeline, panels=panels, next_url=next_url,
                log_url=_url("/log", {"workflow": workflow_id}))


def _timeline(events: list[_log.LogEvent]) -> list[dict[str, Any]]:
    """Each event with the time since the previous one; a gap marks a pause much longer
    than this workflow's usual pace (ten times the median, and at least a minute)."""
    if not events:
        return []
    moments = [_parse(e.timestamp) for e in events]
    deltas = [
        (b - a).total_seconds() if a is not None and b is not None else None
        for a, b in zip([None, *moments[:-1]], moments, strict=True)
    ]
    known = [d for d in deltas if d is not None and d >= 0]
    threshold = max(GAP_FLOOR_SECONDS, GAP_FACTOR * statistics.median(known)) if known else GAP_FLOOR_SECONDS
    return [
        {"event": event, "delta": _human_duration(delta) if delta is not None else "",
         "gap": _human_duration(delta) if delta is not None and delta >= threshold else None}
        for event, delta in zip(events, deltas, strict=True)
    ]


def _parse(stamp: str) -> datetime | None:
    try:
        return datetime.fromisoformat(stamp)
    except (TypeError, ValueError):
        return None


@handle_errors
def projections_view(request: Request) -> Response:
    state = ui_state(request)
    store = state.store
    with store.snapshot():
        head = store.head()
        statuses = store.projection_status()
    plugins = {p.name: p for p in store.plugins}
    rows = []
    for status in statuses:
        registered = store.registry.projections.get(status.name)
        plugin = plugins.get(status.plugin or "")
        rows.append({
            "status": status,
            "plugin": plugin.describe() if plugin else (status.plugin or "-"),
            "lifecycle": getattr(status, "lifecycle", None)
            or getattr(registered.projection if registered else None, "lifecycle", None) or "inline",
            "description": registered.projection.description if registered else "",
            "strict": bool(registered and registered.projection.strict),
            "fix": _fix(status, state.label),
        })
    return page(request, "projections.html", title="Projections", rows=rows, head=head,
                facts=_facts(request, head, head))


def _fix(status: Any, label: str) -> str | None:
    db = f"evstore --db {shlex.quote(label)}"
    if status.status == "failing":
        return f"fix the plugin, then `{db} catch-up {status.name}` (or `{db} rebuild {status.name}`)"
    if status.status == "not loaded":
        return (f"no installed plugin provides {status.name!r}: install it, or check EVSTORE_PLUGINS "
                "and EVSTORE_DISABLE_PLUGINS")
    if status.lag > 0:
        return f"{status.lag:,} events behind: `{db} catch-up {status.name}`"
    return None


@handle_errors
def plugin_page(request: Request) -> Response:
    key = (request.path_params["plugin"], request.path_params["slug"])
    state = ui_state(request)
    contributed = state.contributions.pages.get(key)
    if contributed is None:
        return page(request, "error.html", status_code=404, title="No such page",
                    message=f"No plugin page {key[0]}/{key[1]} (see the navigation for the pages there are).")
    with state.store.snapshot():
        rendered = render_contribution(contributed, view_for(request))
    description = getattr(contributed.item, "description", "")
    return page(request, "plugin.html", title=contributed.item.title, rendered=rendered,
                plugin=contributed.plugin.describe(), description=description,
                active_page=f"/p/{key[0]}/{key[1]}")


def _human_duration(seconds: float) -> str:
    if seconds < 0:
        return f"-{_human_duration(-seconds)}"
    if seconds < 1:
        return f"+{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"+{seconds:.1f} s"
    if seconds < 3600:
        return f"+{seconds / 60:.1f} min"
    if seconds < 86400:
        return f"+{seconds / 3600:.1f} h"
    return f"+{seconds / 86400:.1f} d"


def _human_size(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:,.0f} {unit}" if unit == "B" else f"{size:,.1f} {unit}"
        size /= 1024
    return f"{size} B"
