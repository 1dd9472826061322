"""The dashboard's ASGI application: routes, templates, plugin panels, errors.

Page handlers are plain (sync) functions, so Starlette runs each in its thread pool;
the store keeps one connection per thread, and each request reads inside one
``store.snapshot()`` so a page never mixes two moments of a store being written.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from .. import __version__
from .._errors import EvstoreError, InvalidArgumentError
from .._store import EventStore
from ._components import status_tone
from ._contributions import Contributed, Contributions, collect
from ._declarations import View
from ._html import render
from ._security import RequestGuard

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
log = logging.getLogger("evstore.ui")


@dataclass
class UIState:
    store: EventStore
    contributions: Contributions
    env: Environment
    label: str
    extra: dict[str, Any] = field(default_factory=dict)


def make_environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["tone"] = status_tone
    env.filters["short_time"] = short_time
    env.filters["thousands"] = lambda n: f"{n:,}" if isinstance(n, int) else n
    env.filters["urlpart"] = _quote
    env.filters["pretty"] = pretty_json
    return env


def _quote(value: str) -> str:
    from urllib.parse import quote

    return quote(str(value), safe="")


def pretty_json(value: Any) -> str:
    """JSON indented for reading; text that is not JSON (raw SQL can store it) as is.
    Returned as plain text, so autoescaping shows any markup in it as text."""
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def short_time(stamp: str | None) -> str:
    """``2025-01-31T14:30:05.123456+00:00`` as ``2025-01-31 14:30:05.123``."""
    if not stamp:
        return ""
    text = stamp.replace("T", " ")
    if text.endswith("+00:00"):
        text = text[:-6]
    if "." in text:
        whole, fraction = text.split(".", 1)
        text = f"{whole}.{fraction[:3]}"
    return text


def store_label(store: EventStore) -> str:
    return str(store.path if store.path is not None else getattr(store, "target", "?"))


def build_app(
    store: EventStore,
    *,
    plugins: Sequence[object] | None = None,
    autoload: bool | None = None,
    token: str | None = None,
    allowed_hosts: Sequence[str] | None = None,
) -> Any:
    from . import _live, _pages

    state = UIState(store, collect(plugins, autoload), make_environment(), store_label(store))
    routes = [
        Route("/", _pages.overview),
        Route("/log", _pages.log_view),
        Route("/events/live", _live.live_tail),
        Route("/events/{position:int}", _pages.event_view),
        Route("/workflows", _pages.workflows_view),
        Route("/workflows/{workflow_id:path}", _pages.workflow_view),
        Route("/projections", _pages.projections_view),
        Route("/p/{plugin}/{slug}", _pages.plugin_page),
        Mount("/static", StaticFiles(directory=str(STATIC)), name="static"),
    ]
    app = Starlette(routes=routes, exception_handlers={404: _not_found, 500: _server_error})
    app.state.ui = state
    return RequestGuard(app, token=token, allowed_hosts=allowed_hosts)


def ui_state(request: Request) -> UIState:
    state: UIState = request.app.state.ui
    return state


def view_for(request: Request, workflow_id: str | None = None) -> View:
    return View(
        store=ui_state(request).store,
        params={k: v for k, v in request.query_params.items() if k != "token"},
        path=request.scope.get("root_path", "") + request.url.path,
        workflow_id=workflow_id,
        prefix=request.scope.get("root_path", ""),
    )


def page(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    state = ui_state(request)
    grouped = state.contributions.pages_by_plugin()
    nav_plugins = [
        (name, [(c.item.slug, c.item.title) for c in items]) for name, items in sorted(grouped.items())
    ]
    html = state.env.get_template(template).render(
        request_path=request.url.path,
        prefix=request.scope.get("root_path", ""),
        nav_plugins=nav_plugins,
        store_label=state.label,
        version=__version__,
        **context,
    )
    return HTMLResponse(html, status_code=status_code)


@dataclass(frozen=True)
class RenderedPanel:
    title: str
    plugin: str
    slug: str
    html: Markup
    failed: bool


def render_contribution(contributed: Contributed, view: View) -> RenderedPanel | None:
    """A plugin's page or panel as markup; its error, said plainly, if it raises."""
    item, plugin = contributed.item, contributed.plugin
    try:
        content = item.render(view)
        if content is None:
            return None
        html = Markup(render(content))
        failed = False
    except Exception as error:
        log.exception("%s: dashboard %r failed to render", plugin.describe(), item.slug)
        message = (
            f"{plugin.describe()} failed to draw {item.title!r}: {type(error).__name__}: {error}. "
            f"The rest of the page is fine. Fix the plugin, or {plugin.how_to_disable()}."
        )
        html = Markup('<p class="panel-error">') + message + Markup("</p>")
        failed = True
    return RenderedPanel(item.title, plugin.name, item.slug, html, failed)


def render_panels(request: Request, place: str, workflow_id: str | None = None) -> list[RenderedPanel]:
    view = view_for(request, workflow_id)
    rendered = (render_contribution(c, view) for c in ui_state(request).contributions.panels_on(place))
    return [panel for panel in rendered if panel is not None]


def handle_errors(handler: Callable[[Request], Response]) -> Callable[[Request], Response]:
    """Bad input (a filter that is not a date, a cursor that is not a number) is a 400
    page that says what was wrong; the store's own errors are a 500 that says the same."""

    def wrapped(request: Request) -> Response:
        try:
            return handler(request)
        except EvstoreError as error:
            bad_input = isinstance(error, InvalidArgumentError)
            return page(request, "error.html", status_code=400 if bad_input else 500,
                        title="Bad request" if bad_input else "Store error", message=str(error))

    wrapped.__name__ = handler.__name__
    wrapped.__doc__ = handler.__doc__
    return wrapped


def query_int(params: Mapping[str, str], name: str) -> int | None:
    raw = (params.get(name) or "").strip()
    if not raw:
        return None
    if not raw.isdigit() or len(raw) > 18:
        raise InvalidArgumentError(f"{name} must be a position (a whole number >= 0), got {raw!r}")
    return int(raw)


async def _not_found(request: Request, exc: Exception) -> Response:
    return _plain_page(request, 404, "Not found", f"Nothing at {request.url.path}.")


async def _server_error(request: Request, exc: Exception) -> Response:
    return _plain_page(request, 500, "Internal error", "The dashboard failed on this page; see its log output.")


def _plain_page(request: Request, status: int, title: str, message: str) -> Response:
    try:
        return page(request, "error.html", status_code=status, title=title, message=message)
    except Exception:  # the templates themselves are broken: still answer
        return HTMLResponse(f"<h1>{status}</h1>", status_code=status)


def disk_usage(store: EventStore) -> int | None:
    if store.path is None:  # a server database: its size is the server's business
        return None
    path = Path(str(store.path))
    if not path.is_file():
        return None
    wal = path.with_name(path.name + "-wal")
    return path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)


def backend_name(store: EventStore) -> str:
    return "SQLite" if store.path is not None else "PostgreSQL"


def environment_flag(name: str) -> str | None:
    return os.environ.get(name)
