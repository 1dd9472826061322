"""Plugin discovery and the typed ``Hooks`` class the kernel calls.

One ``pluggy.PluginManager`` per store (or per CLI run); nothing is loaded at import
time. Installed plugins are found through the ``evstore`` entry-point group, read with
``importlib_metadata`` and **sorted by entry-point name**, because discovery order
otherwise follows directory listing order and would make start-up differ by machine.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

import importlib_metadata
import pluggy

from . import hookspecs
from ._errors import EvstoreError, PluginError, describe
from ._plugin_spec import declared_name, registrable

if TYPE_CHECKING:
    import click

    from ._envelope import NewEvent, RecordedEvent
    from ._store import EventStore

ENTRY_POINT_GROUP = "evstore"
ENV_ALLOW = "EVSTORE_PLUGINS"
ENV_DENY = "EVSTORE_DISABLE_PLUGINS"
ENV_NO_AUTOLOAD = "EVSTORE_DISABLE_PLUGIN_AUTOLOAD"

log = logging.getLogger("evstore")


@dataclass
class PluginInfo:
    """What ``evstore plugins`` reports about one registered plugin."""

    name: str
    distribution: str | None
    version: str | None
    source: str  # "entry point" or "explicit"
    hooks: list[str] = field(default_factory=list)
    event_types: list[str] = field(default_factory=list)
    projections: list[str] = field(default_factory=list)
    reactors: list[str] = field(default_factory=list)

    def describe(self) -> str:
        if self.distribution:
            return f"plugin {self.name!r} ({self.distribution} {self.version})"
        return f"plugin {self.name!r}"

    def how_to_disable(self) -> str:
        if self.source == "entry point":
            return f"disable it with {ENV_DENY}={self.name}"
        return "remove it from the plugins=[...] passed to the store"


def _sentence(text: str) -> str:
    """``text`` with a capital first letter; str.capitalize() would lowercase the rest,
    turning EVSTORE_DISABLE_PLUGINS into evstore_disable_plugins."""
    return text[:1].upper() + text[1:]


def _env_names(variable: str) -> set[str] | None:
    raw = os.environ.get(variable)
    if raw is None:
        return None
    return {name.strip() for name in raw.split(",") if name.strip()}


def _autoload_enabled(autoload: bool | None) -> bool:
    if autoload is not None:
        return autoload
    return os.environ.get(ENV_NO_AUTOLOAD, "").strip().lower() not in {"1", "true", "yes"}


def installed_entry_points() -> list[importlib_metadata.EntryPoint]:
    """Entry points of the ``evstore`` group, sorted by name (see module docstring)."""
    points = importlib_metadata.entry_points(group=ENTRY_POINT_GROUP)
    return sorted(points, key=lambda ep: (ep.name, ep.value))


class PluginSet:
    """The plugins of one store: a pluggy manager plus what each plugin is."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager("evstore")
        self.pm.add_hookspecs(hookspecs)
        self.infos: dict[str, PluginInfo] = {}

    def add(self, plugin: object, info: PluginInfo) -> None:
        if info.name in self.infos:
            raise PluginError(
                f"two plugins are named {info.name!r}: {self.infos[info.name].describe()} and "
                f"{info.describe()}. Uninstall one, or {info.how_to_disable()}."
            )
        try:
            # A module declaring an evstore.Plugin is registered as the hooks it declares.
            plugin = registrable(plugin)
            self.pm.register(plugin, name=info.name)
        except (ValueError, pluggy.PluginValidationError) as error:
            raise PluginError(
                f"{info.describe()} has an invalid hook implementation: {str(error).rstrip('.')}. "
                f"Fix the plugin, or {info.how_to_disable()}."
            ) from error
        info.hooks = sorted(
            caller.name for caller in (self.pm.get_hookcallers(plugin) or [])
        )
        self.infos[info.name] = info

    def check(self) -> None:
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError as error:
            name = self.pm.get_name(error.plugin) or "?"
            info = self.infos.get(name)
            described = info.describe() if info else f"plugin {name!r}"
            fix = info.how_to_disable() if info else "remove it"
            raise PluginError(
                f"{described} implements a hook evstore does not define: {str(error).rstrip('.')}. Check "
                f"the hook name against evstore.hookspecs, or {fix}."
            ) from error

    def info_for(self, plugin_name: str) -> PluginInfo:
        return self.infos.get(plugin_name) or PluginInfo(plugin_name, None, None, "explicit")


def _explicit_name(plugin: object) -> str:
    return str(
        declared_name(plugin)
        or getattr(plugin, "evstore_plugin_name", None)
        or getattr(plugin, "__name__", None)
        or type(plugin).__name__
    )


# Told about each plugin left out because it failed to load or register, for listings
# (`evstore plugins`, `evstore types`) that must show a broken plugin rather than break.
FailureSink = Callable[[PluginInfo, EvstoreError], None]


def load_plugins(
    plugins: Sequence[object] | None = None, autoload: bool | None = None, *, failed: FailureSink | None = None
) -> PluginSet:
    """Register explicit ``plugins`` (always) and, unless autoload is off, installed ones
    filtered by ``EVSTORE_PLUGINS`` (allowlist; empty means none) and
    ``EVSTORE_DISABLE_PLUGINS`` (blocklist). An installed plugin that fails to import or
    to register raises ``PluginError``, or, given ``failed``, is reported to it and left
    out (for listings, which must show the broken plugin rather than break)."""
    plugin_set = PluginSet()
    for plugin in plugins or ():
        plugin_set.add(plugin, PluginInfo(_explicit_name(plugin), None, None, "explicit"))
    if _autoload_enabled(autoload):
        allow, deny = _env_names(ENV_ALLOW), _env_names(ENV_DENY) or set()
        for entry_point in installed_entry_points():
            if (allow is not None and entry_point.name not in allow) or entry_point.name in deny:
                continue
            if entry_point.name in plugin_set.infos:
                continue  # registered explicitly already: the explicit object wins
            try:
                plugin_set.add(_load_entry_point(entry_point), entry_point_info(entry_point))
            except PluginError as error:
                if failed is None:
                    raise
                failed(entry_point_info(entry_point), error)
    plugin_set.check()
    return plugin_set


def entry_point_info(entry_point: importlib_metadata.EntryPoint) -> PluginInfo:
    dist = entry_point.dist
    return PluginInfo(
        entry_point.name,
        dist.name if dist else None,
        dist.version if dist else None,
        "entry point",
    )


def _load_entry_point(entry_point: importlib_metadata.EntryPoint) -> object:
    try:
        return entry_point.load()
    except Exception as error:
        info = entry_point_info(entry_point)
        raise PluginError(
            f"{info.describe()} failed to import ({entry_point.value}): "
            f"{describe(error)}. Fix or reinstall the plugin, or "
            f"{info.how_to_disable()} (or {ENV_ALLOW}= to load none)."
        ) from error


class Hooks:
    """The kernel's only door to plugin hooks: one typed method per hook.

    Contribution hooks are called implementation by implementation so that whatever is
    registered, and any error raised, is attributed to the plugin that did it.
    """

    def __init__(self, plugins: PluginSet, *, failed: FailureSink | None = None) -> None:
        # failed: report a plugin whose registration raises and go on with the others,
        # instead of raising (listings only; a store must not start without a plugin).
        self._failed = failed
        self._plugins = plugins
        self._hook = plugins.pm.hook
        self.has_before_append = bool(self._hook.evstore_before_append.get_hookimpls())
        self.has_after_commit = bool(self._hook.evstore_after_commit.get_hookimpls())

    def _each(self, hook: Any, **kwargs: Any) -> Iterable[tuple[PluginInfo, Callable[[], Any]]]:
        for impl in hook.get_hookimpls():
            arguments = {name: kwargs[name] for name in impl.argnames if name in kwargs}
            yield self._plugins.info_for(impl.plugin_name), partial(impl.function, **arguments)

    def _contribute(self, hook: Any, what: str, accept: Callable[[PluginInfo, Any], None]) -> None:
        for impl in hook.get_hookimpls():
            info = self._plugins.info_for(impl.plugin_name)

            def register(item: Any, info: PluginInfo = info) -> None:
                accept(info, item)

            try:
                try:
                    impl.function(**({"register": register} if "register" in impl.argnames else {}))
                except EvstoreError:
                    raise
                except Exception as error:
                    raise PluginError(
                        f"{info.describe()} failed while registering {what}: "
                        f"{describe(error)}. Fix the plugin, or {info.how_to_disable()}."
                    ) from error
            except EvstoreError as error:
                if self._failed is None:
                    raise
                self._failed(info, error)

    def register_event_types(self, accept: Callable[[PluginInfo, Any], None]) -> None:
        self._contribute(self._hook.evstore_register_event_types, "event types", accept)

    def register_projections(self, accept: Callable[[PluginInfo, Any], None]) -> None:
        self._contribute(self._hook.evstore_register_projections, "projections", accept)

    def register_reactors(self, accept: Callable[[PluginInfo, Any], None]) -> None:
        self._contribute(self._hook.evstore_register_reactors, "reactors", accept)

    def register_commands(
        self, cli: click.Group, *, current: Callable[[PluginInfo | None], None] | None = None
    ) -> list[str]:
        """Returns one message per plugin whose commands could not be added.
        ``current(info)`` is told which plugin is adding commands (None once it is done),
        so the command line can name a plugin whose command it refuses."""
        problems = []
        for info, call in self._each(self._hook.evstore_register_commands, cli=cli):
            if current is not None:
                current(info)
            try:
                call()
            except Exception as error:
                problems.append(
                    f"{info.describe()} failed to add its commands: {type(error).__name__}: "
                    f"{str(error).rstrip('.')}. {_sentence(info.how_to_disable())}."
                )
            finally:
                if current is not None:
                    current(None)
        return problems

    def bench_workloads(self, accept: Callable[[PluginInfo, Any], None]) -> None:
        self._contribute(self._hook.evstore_bench_workloads, "bench workloads", accept)

    def register_ui(self, accept: Callable[[PluginInfo, list[Any]], None]) -> list[str]:
        """Hands each plugin's dashboard pages and panels to ``accept`` all at once, and
        only after the plugin's hook returned, so a plugin that raises (or whose items
        ``accept`` refuses) contributes nothing. Returns one message per such plugin."""
        problems = []
        for impl in self._hook.evstore_register_ui.get_hookimpls():
            info = self._plugins.info_for(impl.plugin_name)
            items: list[Any] = []
            try:
                impl.function(**({"register": items.append} if "register" in impl.argnames else {}))
                accept(info, items)
            except Exception as error:
                problems.append(
                    f"{info.describe()} failed to add its dashboard pages: {describe(error)}. "
                    f"{_sentence(info.how_to_disable())}."
                )
        return problems

    def before_append(self, store: EventStore, events: Sequence[NewEvent]) -> None:
        self._hook.evstore_before_append(store=store, events=events)

    def after_commit(self, store: EventStore, events: Sequence[RecordedEvent]) -> None:
        for impl in self._hook.evstore_after_commit.get_hookimpls():
            info = self._plugins.info_for(impl.plugin_name)
            # Each implementation gets its own copies: one hook's mutation never reaches another.
            arguments = {"store": store, "events": [event.copy() for event in events]}
            try:
                impl.function(**{name: arguments[name] for name in impl.argnames if name in arguments})
            except Exception:
                log.exception(
                    "%s raised in evstore_after_commit; the events are committed and the "
                    "other after-commit hooks still ran",
                    info.describe(),
                )
