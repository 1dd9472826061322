"""evstore.testing: a kit for testing projections.

- pytest fixtures (registered through the ``pytest11`` entry point, so any test suite
  in an environment where evstore is installed can use them): ``evstore_store``,
  ``evstore_store_factory``, ``evstore_all_plugins_store``, ``evstore_plugins``,
  ``evstore_event``, ``evstore_scenario`` and ``evstore_register_plugin``;
- :class:`Scenario`: given these events, when this one is appended, then these rows,
  this query result or this error;
- :class:`ProjectionContract`: the checks every projection must pass, inherited by a
  test class;
- :func:`assert_entry_point`: the installed package's entry point loads and registers
  what its author expects;
- :func:`replay_batches_of`: replays (rebuild, catch-up, workers) cut the log into
  batches of a given size, to test a batch handler across batch boundaries;
- :mod:`evstore.testing.strategies`: hypothesis strategies for event envelopes and
  workflows.

pytest imports this package for every test run in the environment, so importing it
must stay cheap: it imports nothing itself (no hypothesis, no SQLite file) and loads
each public name from its module the first time it is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .._replay import replay_batches_of
    from . import strategies
    from ._backends import TargetFactory
    from ._contract import ProjectionContract
    from ._entry_points import register_plugin
    from ._events import EventFactory
    from ._fixtures import StoreFactory
    from ._installed import assert_entry_point
    from ._scenario import Scenario
    from ._tables import Snapshot, projection_tables, schema_of, snapshot_tables, table_rows

__all__ = [
    "EventFactory",
    "ProjectionContract",
    "Scenario",
    "Snapshot",
    "StoreFactory",
    "TargetFactory",
    "assert_entry_point",
    "projection_tables",
    "register_plugin",
    "replay_batches_of",
    "schema_of",
    "snapshot_tables",
    "strategies",
    "table_rows",
]

# public name -> the private module that defines it
_LAZY = {
    "EventFactory": "._events",
    "ProjectionContract": "._contract",
    "Scenario": "._scenario",
    "Snapshot": "._tables",
    "StoreFactory": "._fixtures",
    "TargetFactory": "._backends",
    "assert_entry_point": "._installed",
    "projection_tables": "._tables",
    "register_plugin": "._entry_points",
    "replay_batches_of": "evstore._replay",
    "schema_of": "._tables",
    "snapshot_tables": "._tables",
    "table_rows": "._tables",
}


def __getattr__(name: str) -> Any:
    if name == "strategies":
        return importlib.import_module(".strategies", __name__)
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
