"""What evstore-features shows in ``evstore ui``: each feature as a tree of phases and
components with their status, and the cascade visible: which phase_/feature_ events the
cascade reactor appended, and which event caused each."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from evstore import RecordedEvent
from evstore.ui import Child, Node, Page, Panel, View, pager, status_badge, table, tag, tree, tree_item

from ._models import Component
from ._queries import get_components, get_feature, get_phases

PAGE_SIZE = 50


def register_ui(register: Callable[[Page | Panel], None]) -> None:
    register(Page("features", "Features", features_page,
                  description="features, their phases and components, and what the cascade completed"))
    register(Panel("tree", "Feature tree", feature_panel, on="workflow"))


def features_page(view: View) -> Child:
    chosen = view.param("feature")
    if chosen is not None:
        return [tag("p", tag("a", "← all features", href=view.url(feature=None))), feature_tree(view, chosen)]
    before = view.param("before")
    where, params = ("WHERE f.created_position < ? ", [int(before)]) if before and before.isdigit() else ("", [])
    rows = view.store.reader.fetchall(
        "SELECT f.id, f.title, f.status, f.created_at, f.completed_at, f.created_position, "
        "(SELECT COUNT(*) FROM phases p WHERE p.feature_id = f.id), "
        "(SELECT COUNT(*) FROM components c WHERE c.feature_id = f.id), "
        "(SELECT COUNT(*) FROM components c WHERE c.feature_id = f.id AND c.status = 'completed') "
        f"FROM features f {where}"
        "ORDER BY f.created_position DESC LIMIT ?", [*params, PAGE_SIZE + 1],
    )
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    return [
        table(
            ["feature", "title", "status", "phases", "components done", "created (UTC)", "completed (UTC)"],
            [[tag("a", fid, href=view.url(feature=fid, before=None)), title, status_badge(status), phases,
              f"{done} / {components}", _t(created), _t(completed)]
             for fid, title, status, created, completed, _, phases, components, done in rows],
            numeric=[3, 4], empty="No features yet.",
        ),
        pager(view.url(before=None) if before else None, view.url(before=rows[-1][5]) if more else None),
    ]


def feature_panel(view: View) -> Child:
    if view.workflow_id is None or get_feature(view.store, view.workflow_id) is None:
        return None  # this workflow is not a feature's stream
    return feature_tree(view, view.workflow_id)


def feature_tree(view: View, feature_id: str) -> Child:
    feature = get_feature(view.store, feature_id)
    if feature is None:
        return tag("p", f"No feature {feature_id!r}.", class_="empty")
    cascade = _cascade(view.store.read(feature_id))
    components = get_components(view.store, feature_id)
    by_phase: dict[str, list[Any]] = {}
    for component in components:
        by_phase.setdefault(component.phase_id, []).append(component)
    phase_items = []
    for phase in get_phases(view.store, feature_id):
        leaves = [_component_leaf(c) for c in by_phase.get(phase.id, [])]
        label: list[Child] = [tag("strong", f"Phase {phase.sequence}: {phase.title}"), " ", tag("code", phase.id), " ",
                              status_badge(phase.status), _cascade_note(view, cascade.get(phase.id))]
        phase_items.append(tree_item(label, *leaves) if leaves else tree_item(label))
    root: list[Child] = [tag("strong", feature.title), " ", tag("code", feature.id), " ", status_badge(feature.status),
                         _cascade_note(view, cascade.get(feature.id))]
    return [
        tree(tree_item(root, *phase_items)),
        tag("p", "↳ marks what the cascade appended: a phase completes (or fails) when all its components have "
                 "ended, and the feature when all its phases have. Each links to the event and its cause.",
            class_="note"),
    ]


def _component_leaf(c: Component) -> Node:
    parts: list[Child] = [
        tag("strong", c.title), " ", tag("code", c.id), " ", status_badge(c.status),
        tag("span", f" {c.assigned_role}", class_="muted") if c.assigned_role else None,
        tag("span", f" after {', '.join(c.depends_on)}", class_="muted") if c.depends_on else None,
        tag("span", f" — {c.error}", class_="muted") if c.error else None,
    ]
    return tree_item(parts)


def _cascade(events: list[RecordedEvent]) -> dict[str, tuple[RecordedEvent, RecordedEvent | None]]:
    """Target id -> (the event the cascade appended, the event that caused it)."""
    by_event_id = {e.event_id: e for e in events}
    found: dict[str, tuple[RecordedEvent, RecordedEvent | None]] = {}
    for event in events:
        cause_id = event.metadata.get("causation_id")
        if not isinstance(cause_id, str):
            continue
        target = event.payload.get("phase_id") or event.payload.get("feature_id")
        if isinstance(target, str):
            found[target] = (event, by_event_id.get(cause_id))
    return found


def _cascade_note(view: View, entry: tuple[RecordedEvent, RecordedEvent | None] | None) -> Node | None:
    if entry is None:
        return None
    event, cause = entry
    because: list[Child] | None = None
    if cause is not None:
        what = cause.component_id or cause.payload.get("phase_id") or ""
        because = [" after ", tag("a", f"{cause.event_type} {what} #{cause.id}".replace("  ", " "),
                                  href=view.event_url(cause.id))]
    return tag("span", "↳ cascade: ", tag("a", f"{event.event_type} #{event.id}", href=view.event_url(event.id)),
               because, class_="cascade")


def _t(stamp: str | None) -> str:
    return (stamp or "").replace("T", " ")[:19]
