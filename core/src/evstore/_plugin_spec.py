"""``evstore.Plugin``: a plugin says what it contributes, and its hooks are generated.

Without it every plugin repeats the same four hook functions (a loop over its event
types, one ``register(build_projection())``, ...). With it a plugin's ``__init__.py``
holds one declaration::

    evstore_plugin = Plugin(
        "notes",
        event_types=EVENT_TYPES,
        projections=[build_projection],
    )

The plugin manager finds the module attribute ``evstore_plugin`` and registers the
hook implementations generated here; hooks the declaration has no field for (the
broadcasts) are still written as ``@hookimpl`` functions in the same module, and are
registered with them. Plugins that implement every hook directly keep working.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from types import SimpleNamespace
from typing import TYPE_CHECKING, Final

from ._declarations import EventType, Projection, Reactor
from ._errors import InvalidArgumentError, PluginError
from .hookspecs import hookimpl

if TYPE_CHECKING:
    import click

    from ._bench import Workload
    from .ui import Page, Panel

MODULE_ATTRIBUTE: Final = "evstore_plugin"
"""The module attribute the plugin manager reads a declaration from."""

_IMPL_MARK: Final = "evstore_impl"  # what pluggy's HookimplMarker("evstore") sets on a function

# A projection or reactor may be given as itself or as a factory called once per store:
# a factory keeps one store's objects (and any state a handler keeps) from another's.
ProjectionSource = Projection | Callable[[], Projection]
ReactorSource = Reactor | Callable[[], Reactor]
RegisterUi = Callable[[Callable[["Page | Panel"], None]], None]
RegisterCommands = Callable[["click.Group"], None]
RegisterBench = Callable[[Callable[["Workload"], None]], None]


class Plugin:
    """What one plugin contributes, declared once; see the module docstring.

    :param name: the plugin's name: its entry-point name, and the name explicit
        registration (``plugins=[module]``) uses, so an installed copy is not
        registered twice.
    :param event_types: the :class:`evstore.EventType` objects it declares.
    :param projections: :class:`evstore.Projection` objects, or functions returning
        one, called once per store that opens (preferred: nothing is shared between
        stores).
    :param reactors: :class:`evstore.Reactor` objects, or functions returning one.
    :param ui: a function ``ui(register)`` registering ``evstore.ui`` pages and panels.
    :param commands: a function ``commands(cli)`` adding ``click`` commands to the
        ``evstore`` command line; import the commands inside it, so a store opened by
        a library never imports them.
    :param bench: a function ``bench(register)`` registering ``evstore.bench.Workload``
        rows for ``evstore bench``; import the workloads inside it.
    """

    def __init__(
        self,
        name: str,
        *,
        event_types: Iterable[EventType] = (),
        projections: Iterable[ProjectionSource] = (),
        reactors: Iterable[ReactorSource] = (),
        ui: RegisterUi | None = None,
        commands: RegisterCommands | None = None,
        bench: RegisterBench | None = None,
    ) -> None:
        if not isinstance(name, str) or not name.strip():
            raise InvalidArgumentError(f"a Plugin needs a non-empty string name, got {name!r}")
        self.name = name
        self.event_types = tuple(event_types)
        self.projections = tuple(projections)
        self.reactors = tuple(reactors)
        self.ui = ui
        self.commands = commands
        self.bench = bench
        self._check_items()

    def __repr__(self) -> str:
        return f"Plugin({self.name!r})"

    def _check_items(self) -> None:
        for event_type in self.event_types:
            if not isinstance(event_type, EventType):
                raise InvalidArgumentError(
                    f"plugin {self.name!r}: event_types holds {event_type!r}, which is not an "
                    "evstore.EventType; declare it as EventType(name, payload=Model)"
                )
        for kind, items, cls in (("projections", self.projections, Projection),
                                 ("reactors", self.reactors, Reactor)):
            for item in items:
                if not isinstance(item, cls) and not callable(item):
                    raise InvalidArgumentError(
                        f"plugin {self.name!r}: {kind} holds {item!r}, which is neither an "
                        f"evstore.{cls.__name__} nor a function returning one"
                    )
        for field, function in (("ui", self.ui), ("commands", self.commands), ("bench", self.bench)):
            if function is not None and not callable(function):
                raise InvalidArgumentError(f"plugin {self.name!r}: {field} must be a function, got {function!r}")

    def hook_functions(self) -> dict[str, Callable[..., None]]:
        """The ``@hookimpl`` functions this declaration stands for, by hook name; only
        for what it contributes, so ``evstore plugins`` lists the hooks it really has.
        (pluggy inspects the argument names, so each is a plain function.)"""
        functions: dict[str, Callable[..., None]] = {}

        def evstore_register_event_types(register: Callable[[EventType], None]) -> None:
            for event_type in self.event_types:
                register(event_type)

        def evstore_register_projections(register: Callable[[Projection], None]) -> None:
            for source in self.projections:
                register(source if isinstance(source, Projection) else source())

        def evstore_register_reactors(register: Callable[[Reactor], None]) -> None:
            for source in self.reactors:
                register(source if isinstance(source, Reactor) else source())

        if self.event_types:
            functions["evstore_register_event_types"] = evstore_register_event_types
        if self.projections:
            functions["evstore_register_projections"] = evstore_register_projections
        if self.reactors:
            functions["evstore_register_reactors"] = evstore_register_reactors
        if self.ui is not None:
            ui = self.ui

            def evstore_register_ui(register: Callable[[Page | Panel], None]) -> None:
                ui(register)

            functions["evstore_register_ui"] = evstore_register_ui
        if self.commands is not None:
            commands = self.commands

            def evstore_register_commands(cli: click.Group) -> None:
                commands(cli)

            functions["evstore_register_commands"] = evstore_register_commands
        if self.bench is not None:
            bench = self.bench

            def evstore_bench_workloads(register: Callable[[Workload], None]) -> None:
                bench(register)

            functions["evstore_bench_workloads"] = evstore_bench_workloads
        return {name: hookimpl(function) for name, function in functions.items()}


def declared(plugin: object) -> Plugin | None:
    """The ``Plugin`` a module (or any object) declares as ``evstore_plugin``, if any."""
    declaration = getattr(plugin, MODULE_ATTRIBUTE, None)
    if declaration is None or isinstance(plugin, Plugin):
        return None
    if not isinstance(declaration, Plugin):
        raise PluginError(
            f"{_label(plugin)} sets {MODULE_ATTRIBUTE} to {declaration!r}, which is not an "
            "evstore.Plugin; declare it as evstore_plugin = evstore.Plugin(name, ...)"
        )
    return declaration


def registrable(plugin: object) -> object:
    """What the plugin manager registers for ``plugin``: the object itself, or, when it
    declares an ``evstore_plugin``, one object holding the generated hooks and the
    hook functions it still writes itself. A hook both declared and written would run
    twice, so that is refused."""
    if isinstance(plugin, Plugin):
        return SimpleNamespace(**plugin.hook_functions())
    declaration = declared(plugin)
    if declaration is None:
        return plugin
    generated = declaration.hook_functions()
    written = {
        name: getattr(plugin, name)
        for name in dir(plugin)
        if name.startswith("evstore_") and hasattr(getattr(plugin, name, None), _IMPL_MARK)
    }
    both = sorted(set(generated) & set(written))
    if both:
        raise PluginError(
            f"{_label(plugin)} declares {', '.join(both)} twice: in its evstore_plugin and as "
            "@hookimpl functions. Keep one of them."
        )
    return SimpleNamespace(**generated, **written)


def declared_name(plugin: object) -> str | None:
    if isinstance(plugin, Plugin):
        return plugin.name
    declaration = declared(plugin)
    return declaration.name if declaration is not None else None


def _label(plugin: object) -> str:
    return f"plugin module {getattr(plugin, '__name__', type(plugin).__name__)!r}"
