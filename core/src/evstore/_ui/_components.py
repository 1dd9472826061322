"""Ready-made pieces for panels: tables, status badges, trees, key/value lists, JSON.

They return :class:`~evstore._ui._html.Node` trees, so everything they show is escaped,
and they use the dashboard's stylesheet classes, so every plugin's panels look alike.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ._html import Child, Node, fragment, tag


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Status words the plugins use, grouped by what a person should make of them. The
# stylesheet colours each tone; anything unknown is neutral rather than guessed.
_TONES: dict[str, frozenset[str]] = {
    "ok": _words("ok completed complete succeeded success done approved passed merged restored"),
    "bad": _words("failed failing error errored rejected crashed"),
    "run": _words("running active in_progress implementing testing review claimed applying started"),
    "wait": _words("pending ready waiting queued blocked interrupted paused retrying"),
    "off": _words("skipped cancelled canceled superseded not_loaded"),
}
TONES = tuple(_TONES)


def status_tone(status: object) -> str:
    """``ok``, ``bad``, ``run``, ``wait``, ``off`` or ``neutral`` for a status word
    (case and spaces ignored), for colouring it the way every page does."""
    word = str(getattr(status, "value", status) or "").strip().lower().replace(" ", "_")
    for tone, words in _TONES.items():
        if word in words:
            return tone
    return "neutral"


def status_badge(status: object) -> Node:
    """The status as a coloured pill."""
    text = str(getattr(status, "value", status) if status is not None else "-")
    return tag("span", text, class_=f"badge tone-{status_tone(status)}")


def badge(text: Child, tone: str = "neutral") -> Node:
    """A pill in one of :data:`TONES` (or ``neutral``)."""
    if tone not in _TONES and tone != "neutral":
        raise ValueError(f"evstore.ui.badge: tone must be one of {[*TONES, 'neutral']}, got {tone!r}")
    return tag("span", text, class_=f"badge tone-{tone}")


def link(text: Child, href: str) -> Node:
    """A link; build ``href`` with the :class:`View` helpers so values are quoted."""
    return tag("a", text, href=href)


def table(
    columns: Sequence[str],
    rows: Iterable[Sequence[Child]],
    *,
    empty: str = "Nothing to show yet.",
    numeric: Iterable[int] = (),
) -> Node:
    """A table with a header row; ``numeric`` are the indexes of right-aligned columns."""
    right = frozenset(numeric)
    body = [
        tag("tr", [tag("td", cell, class_="num" if i in right else None) for i, cell in enumerate(row)])
        for row in rows
    ]
    if not body:
        return tag("p", empty, class_="empty")
    head = tag("tr", [tag("th", name, class_="num" if i in right else None) for i, name in enumerate(columns)])
    return tag("table", tag("thead", head), tag("tbody", body), class_="grid")


def key_values(items: Mapping[str, Child] | Iterable[tuple[str, Child]]) -> Node:
    """A definition list: one term and value per pair."""
    pairs = items.items() if isinstance(items, Mapping) else items
    return tag("dl", [fragment(tag("dt", key), tag("dd", value)) for key, value in pairs], class_="facts")


def json_block(value: Any) -> Node:
    """A value as pretty-printed JSON, in a ``pre`` block."""
    return tag("pre", json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False, default=str), class_="json")


def tree(*items: Node) -> Node:
    """A nested list drawn as a tree; build its items with :func:`tree_item`."""
    return tag("ul", list(items), class_="tree")


def tree_item(label: Child, *children: Node, open: bool = True) -> Node:
    """One node of a :func:`tree`, with its own children (more ``tree_item``)."""
    if not children:
        return tag("li", tag("span", label, class_="leaf"))
    return tag("li", tag("details", tag("summary", label), tag("ul", list(children)), open=open))


def section(title: str, *children: Child, note: str | None = None) -> Node:
    """A titled block inside a panel."""
    return tag("section", tag("h3", title), tag("p", note, class_="note") if note else None, *children, class_="block")


def pager(newer: str | None, older: str | None) -> Node | None:
    """Links to the newer and older pages of a keyset-paginated list (either may be None)."""
    if newer is None and older is None:
        return None
    return tag(
        "nav",
        tag("a", "← newer", href=newer, rel="prev") if newer else None,
        tag("a", "older →", href=older, rel="next") if older else None,
        class_="pager",
    )
