"""Contribute pages and panels to ``evstore ui``, the read-only dashboard.

A plugin implements one hook and hands over declarations::

    from evstore import hookimpl
    from evstore.ui import Panel, View, table

    def board(view: View):
        rows = view.store.reader.fetchall("SELECT role, open_steps FROM my_board")
        return table(["role", "open steps"], rows, numeric=[1])

    @hookimpl
    def evstore_register_ui(register):
        register(Panel("board", "My board", board))

Everything here is pure Python and imports nothing beyond evstore, so a plugin can
import it whether or not the ``ui`` extra (Starlette, uvicorn, Jinja2) is installed;
only :func:`create_app` needs the extra. Render functions return nodes built with
:func:`tag` and the components below, never HTML strings: every string is escaped, so
a payload full of markup is shown as text.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ._ui._charts import bar_chart, line_chart, percent, plain, seconds
from ._ui._components import (
    TONES,
    badge,
    json_block,
    key_values,
    link,
    pager,
    section,
    status_badge,
    status_tone,
    table,
    tree,
    tree_item,
)
from ._ui._declarations import PANEL_PLACES, Page, Panel, View
from ._ui._diagram import DiagramEdge, DiagramNode, graph_diagram
from ._ui._html import Child, Node, fragment, render, tag

if TYPE_CHECKING:
    from ._store import EventStore

__all__ = [
    "PANEL_PLACES",
    "TONES",
    "Child",
    "DiagramEdge",
    "DiagramNode",
    "Node",
    "Page",
    "Panel",
    "View",
    "badge",
    "bar_chart",
    "create_app",
    "fragment",
    "graph_diagram",
    "json_block",
    "key_values",
    "line_chart",
    "link",
    "pager",
    "percent",
    "plain",
    "render",
    "seconds",
    "section",
    "status_badge",
    "status_tone",
    "table",
    "tag",
    "tree",
    "tree_item",
]


def create_app(
    store: EventStore,
    *,
    plugins: Sequence[object] | None = None,
    autoload: bool | None = None,
    token: str | None = None,
    allowed_hosts: Sequence[str] | None = None,
) -> Any:
    """The dashboard as an ASGI application (Starlette), for ``uvicorn`` or tests.

    :param store: the store to show; open it read-only.
    :param plugins: explicit plugin objects whose pages and panels to show; with
        ``autoload`` (default: as the store does) the installed plugins' too.
    :param token: when set, every request must carry it (``Authorization: Bearer``,
        the cookie a ``?token=`` visit sets, or ``?token=``).
    :param allowed_hosts: the ``Host`` headers accepted (default: loopback names
        only, which stops DNS-rebinding pages from reading the dashboard); ``["*"]``
        accepts any.
    :raises ModuleNotFoundError: the ``ui`` extra is not installed
        (``pip install 'evstore[ui]'``).
    """
    from ._ui._server import build_app

    return build_app(store, plugins=plugins, autoload=autoload, token=token, allowed_hosts=allowed_hosts)
