"""The plugins the kit's ``evstore_store`` loads for the workflows plugin's tests."""

from __future__ import annotations

from collections.abc import Callable

import pytest

import evstore_workflows
from evstore import EventType, hookimpl


class StepStartedStandIn:
    """Declares ``step_started`` the way evstore-steps does, so these tests exercise the
    workflows projection's ``step_started`` handler without depending on that plugin."""

    evstore_plugin_name = "step-started-stand-in"

    @hookimpl
    def evstore_register_event_types(self, register: Callable[[EventType], None]) -> None:
        register(EventType("step_started", requires=("role", "step_id")))


@pytest.fixture
def evstore_plugins() -> list[object]:
    """The workflows plugin and the stand-in (stateless, so one list serves every store)."""
    return [evstore_workflows, StepStartedStandIn()]
