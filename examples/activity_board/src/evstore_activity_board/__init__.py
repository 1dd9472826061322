"""evstore-activity-board: a per-role activity board (an example third-party plugin).

Keeps, from the step events of evstore-steps and the ``metric_recorded`` events of
evstore-metrics, how many steps each role has open, started, completed, failed and
retried, and how its measured runs went. Read it with :func:`activity_board` and
:func:`role_activity`. It declares no event type of its own and imports no other
plugin.
"""

from __future__ import annotations

from collections.abc import Callable

from evstore import Projection, hookimpl
from evstore.ui import Page, Panel

from ._projection import PROJECTION_NAME, build_projection
from ._queries import RoleActivity, activity_board, role_activity
from ._ui import register_ui

evstore_plugin_name = "activity_board"

__all__ = ["PROJECTION_NAME", "RoleActivity", "activity_board", "role_activity"]


@hookimpl
def evstore_register_projections(register: Callable[[Projection], None]) -> None:
    register(build_projection())


@hookimpl
def evstore_register_ui(register: Callable[[Page | Panel], None]) -> None:
    register_ui(register)  # evstore.ui needs no extra: this imports fine without Starlette
