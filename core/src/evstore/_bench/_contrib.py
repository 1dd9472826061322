"""Workloads that plugins contribute through ``evstore_bench_workloads``.

The kernel's own workloads measure the kernel alone. Anything that needs a plugin
(projections, a facade, the code a plugin replaces) is measured by that plugin, which
registers a :class:`Workload`; the bench runs it after the kernel's, with the same
sizes and folder, and reports its rows in the same table. The kernel never names a
plugin: it only knows the hook.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .._errors import EvstoreError, PluginError, describe
from .._plugins import Hooks, PluginInfo, load_plugins
from ._measure import Progress, Result, Sizes


@dataclass(frozen=True)
class Context:
    """What a contributed workload is given when it runs.

    ``workdir`` is a temporary folder removed after the run: put every database there.
    ``db`` is the PostgreSQL URL given with ``--db`` (None: SQLite only). ``original`` is
    the ``--original`` path, for a plugin that compares itself with the code it
    replaces; a workload that needs it and finds None skips those rows with the reason.
    """

    sizes: Sizes
    workdir: Path
    progress: Progress
    db: str | None = None
    original: Path | None = None


@dataclass(frozen=True)
class Workload:
    """A named group of bench rows: ``run(context)`` measures them and returns them."""

    name: str
    run: Callable[[Context], Sequence[Result]]

    def __post_init__(self) -> None:
        if not self.name or not isinstance(self.name, str):
            raise TypeError(f"a bench Workload needs a non-empty name, not {self.name!r}")
        if not callable(self.run):
            raise TypeError(f"bench Workload {self.name!r}: run must be callable, got {self.run!r}")


@dataclass(frozen=True)
class Contributed:
    """A workload and the plugin that registered it (to name it when it fails)."""

    workload: Workload
    plugin: PluginInfo

    def run(self, context: Context) -> list[Result]:
        try:
            results = list(self.workload.run(context))
        except EvstoreError as error:
            raise PluginError(
                f"bench workload {self.workload.name!r} of {self.plugin.describe()} failed: {error}"
            ) from error
        except Exception as error:
            raise PluginError(
                f"bench workload {self.workload.name!r} of {self.plugin.describe()} failed: "
                f"{describe(error)}. Fix the plugin, or {self.plugin.how_to_disable()}."
            ) from error
        strays = [result for result in results if not isinstance(result, Result)]
        if strays:
            raise PluginError(
                f"bench workload {self.workload.name!r} of {self.plugin.describe()} returned "
                f"{type(strays[0]).__name__}, not evstore.bench.Result rows"
            )
        return results


def contributed_workloads(
    taken: Sequence[str], plugins: Sequence[object] | None = None, autoload: bool | None = None
) -> list[Contributed]:
    """The workloads of the installed plugins (``EVSTORE_PLUGINS`` and the other
    variables apply) and of explicit ``plugins``, in plugin order; ``taken`` are the
    kernel's workload names."""
    found: list[Contributed] = []
    names = set(taken)

    def accept(info: PluginInfo, item: object) -> None:
        if not isinstance(item, Workload):
            raise PluginError(
                f"{info.describe()} registered {type(item).__name__} as a bench workload; "
                "register an evstore.bench.Workload"
            )
        if item.name in names:
            raise PluginError(
                f"{info.describe()} registered a bench workload named {item.name!r}, a name already "
                "taken in this run; give it another name"
            )
        names.add(item.name)
        found.append(Contributed(item, info))

    Hooks(load_plugins(plugins, autoload)).bench_workloads(accept)
    return found
