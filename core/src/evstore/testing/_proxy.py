"""Stand-ins for plugins that change one projection on its way to the kernel.

The contract needs a projection whose handlers are watched (which tables did this
handler change?) or sabotaged (raise right after writing). A ``Projection`` is often a
module-level object shared by every store, so it is never modified: the stand-in
forwards every hook of the real plugin, and hands the kernel a copy of the projection
with wrapped handlers instead of the original.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Sequence
from types import SimpleNamespace
from typing import Any

from .._declarations import Handler, Projection
from .._plugin_spec import registrable
from .._plugins import _explicit_name

HandlerWrapper = Callable[[str, Handler], Handler]
"""``wrap(event_type, handler)`` returns the handler to register instead."""

_IMPL_MARK = "evstore_impl"  # where pluggy's HookimplMarker("evstore") keeps its options
_REGISTER_PROJECTIONS = "evstore_register_projections"


def with_wrapped_handlers(plugins: Sequence[object], projection: str, wrap: HandlerWrapper) -> list[object]:
    """``plugins`` with projection ``projection``'s handlers replaced by ``wrap(...)``."""

    def change(found: Projection) -> Projection:
        if found.name != projection:
            return found
        handlers = {event_type: wrap(event_type, handler) for event_type, handler in found.handlers.items()}
        return dataclasses.replace(found, handlers=handlers)

    return [_stand_in(plugin, change) for plugin in plugins]


def _stand_in(plugin: object, change: Callable[[Projection], Any]) -> object:
    stand_in = SimpleNamespace(evstore_plugin_name=_explicit_name(plugin))
    hooks = registrable(plugin)  # an evstore.Plugin declaration: the hooks it stands for
    for attribute in dir(hooks):
        function = getattr(hooks, attribute, None)
        options = getattr(function, _IMPL_MARK, None) if inspect.isroutine(function) else None
        if function is None or options is None:
            continue
        hook = options.get("specname") or attribute
        if hook == _REGISTER_PROJECTIONS:
            function = _changing_registrations(function, change)
            setattr(function, _IMPL_MARK, dict(options))
        setattr(stand_in, attribute, function)
    return stand_in


def _changing_registrations(original: Callable[..., Any], change: Callable[[Projection], Any]) -> Callable[..., Any]:
    takes_register = "register" in inspect.signature(original).parameters

    def evstore_register_projections(register: Callable[[Any], None]) -> None:
        def register_changed(item: Any) -> None:
            register(change(item) if isinstance(item, Projection) else item)

        if takes_register:
            original(register=register_changed)
        else:
            original()

    return evstore_register_projections
