"""The pages and panels plugins registered through ``evstore_register_ui``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .._plugins import Hooks, PluginInfo, load_plugins
from ._declarations import Page, Panel


@dataclass(frozen=True)
class Contributed:
    """One page or panel, with the plugin that registered it."""

    item: Page | Panel
    plugin: PluginInfo

    @property
    def key(self) -> tuple[str, str]:
        return (self.plugin.name, self.item.slug)


@dataclass
class Contributions:
    pages: dict[tuple[str, str], Contributed] = field(default_factory=dict)
    panels: list[Contributed] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def accept(self, plugin: PluginInfo, items: list[Any]) -> None:
        """Take all of a plugin's items, or none (a TypeError or ValueError says why)."""
        seen: set[tuple[str, str]] = set()
        for item in items:
            if not isinstance(item, (Page, Panel)):
                raise TypeError(
                    f"registered {item!r}; pass evstore.ui.Page(...) or evstore.ui.Panel(...)"
                )
            key = (type(item).__name__, item.slug)
            if key in seen:
                raise ValueError(f"registered two {key[0]}s with the slug {item.slug!r}; slugs must differ")
            seen.add(key)
        for item in items:
            contributed = Contributed(item, plugin)
            if isinstance(item, Page):
                self.pages[contributed.key] = contributed
            else:
                self.panels.append(contributed)

    def panels_on(self, place: str) -> list[Contributed]:
        return [c for c in self.panels if isinstance(c.item, Panel) and c.item.on == place]

    def pages_by_plugin(self) -> dict[str, list[Contributed]]:
        grouped: dict[str, list[Contributed]] = {}
        for contributed in self.pages.values():
            grouped.setdefault(contributed.plugin.name, []).append(contributed)
        return grouped


def collect(plugins: Sequence[object] | None = None, autoload: bool | None = None) -> Contributions:
    """Ask the plugins (explicit ``plugins`` and, unless autoload is off, the installed
    ones, filtered by EVSTORE_PLUGINS and friends: the same selection a store opened
    with these arguments loads) for their pages and panels."""
    contributions = Contributions()
    contributions.problems.extend(Hooks(load_plugins(plugins, autoload)).register_ui(contributions.accept))
    return contributions
