"""What a plugin contributes to ``evstore ui`` (``Page``, ``Panel``) and what their
render functions receive (``View``). Pure Python: importable without the ``ui`` extra."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, Literal
from urllib.parse import quote, urlencode

from ._html import Child

if TYPE_CHECKING:
    from .._store import EventStore

PanelPlace = Literal["overview", "workflow"]
PANEL_PLACES: Final = ("overview", "workflow")
_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


@dataclass(frozen=True)
class View:
    """What a page or panel is asked to show, and how to link to other pages.

    :param store: the store, opened read-only; read it with ``store.reader`` (SQL on
        your tables), ``store.read`` / ``read_all`` or your plugin's query functions.
    :param params: the page's query-string parameters (``?execution=x1``), as text.
    :param path: the URL path of the page being drawn.
    :param workflow_id: on a workflow's page (panels placed ``"workflow"``), its id.
    """

    store: EventStore
    params: Mapping[str, str] = field(default_factory=dict)
    path: str = "/"
    workflow_id: str | None = None
    prefix: str = ""

    def param(self, name: str, default: str | None = None) -> str | None:
        """A query parameter, stripped; ``default`` when absent or empty."""
        value = self.params.get(name, "").strip()
        return value or default

    def url(self, **params: str | int | None) -> str:
        """This page with ``params`` set (``None`` removes one), others kept."""
        merged = {k: v for k, v in self.params.items() if k != "token"}
        for key, value in params.items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = str(value)
        query = urlencode(merged)
        return self.path + (f"?{query}" if query else "")

    def event_url(self, position: int) -> str:
        """The page of the event at ``position``."""
        return f"{self.prefix}/events/{int(position)}"

    def workflow_url(self, workflow_id: str) -> str:
        """A workflow's timeline."""
        return f"{self.prefix}/workflows/{quote(workflow_id, safe='')}"

    def log_url(self, **filters: str | int | None) -> str:
        """The log, filtered: ``workflow``, ``type``, ``since``, ``until``, ``text``."""
        query = urlencode({k: str(v) for k, v in filters.items() if v is not None})
        return f"{self.prefix}/log" + (f"?{query}" if query else "")

    def page_url(self, plugin: str, slug: str, **params: str | int | None) -> str:
        """A plugin page (``plugin`` is the plugin's name, as ``evstore plugins`` shows it)."""
        query = urlencode({k: str(v) for k, v in params.items() if v is not None})
        return f"{self.prefix}/p/{quote(plugin, safe='')}/{quote(slug, safe='')}" + (f"?{query}" if query else "")


Render = Callable[[View], Child]


@dataclass(frozen=True)
class Page:
    """A page of its own, listed in the dashboard's navigation under the plugin's name
    and served at ``/p/<plugin>/<slug>``.

    :param slug: lower-case letters, digits, ``-`` and ``_``; unique within the plugin.
    :param title: the navigation label and the page's heading.
    :param render: ``render(view)`` returns what the page shows, built with
        :func:`evstore.ui.tag` and the components (never an HTML string: strings are
        shown as text).
    :param description: one line under the heading.
    """

    slug: str
    title: str
    render: Render
    description: str = ""

    def __post_init__(self) -> None:
        _check_common(self, "Page")


@dataclass(frozen=True)
class Panel:
    """A block shown on one of the dashboard's own pages.

    :param slug: as for :class:`Page`.
    :param title: the panel's heading.
    :param render: ``render(view)``, as for :class:`Page`; on a workflow's page
        ``view.workflow_id`` is set. Return ``None`` to show nothing (the panel is then
        left out, heading included).
    :param on: ``"overview"`` (the front page) or ``"workflow"`` (each workflow's page).
    """

    slug: str
    title: str
    render: Render
    on: PanelPlace = "overview"

    def __post_init__(self) -> None:
        _check_common(self, "Panel")
        if self.on not in PANEL_PLACES:
            raise ValueError(f"Panel {self.slug!r}: on must be one of {list(PANEL_PLACES)}, got {self.on!r}")


def _check_common(item: Page | Panel, kind: str) -> None:
    if not isinstance(item.slug, str) or not _SLUG.match(item.slug):
        raise ValueError(
            f"{kind} slug {item.slug!r} must be 1-64 lower-case letters, digits, '-' or '_' "
            "(it becomes part of a URL)"
        )
    if not isinstance(item.title, str) or not item.title.strip():
        raise ValueError(f"{kind} {item.slug!r} needs a non-empty title")
    if not callable(item.render):
        raise ValueError(f"{kind} {item.slug!r}: render must be a function taking a View")
