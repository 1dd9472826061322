"""Fixtures for the workflows plugin's tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import evstore_workflows
from evstore import EventStore, EventType, hookimpl

StoreFactory = Callable[..., EventStore]


class StepStartedStandIn:
    """Declares ``step_started`` the way evstore-steps does, so these tests exercise the
    workflows projection's ``step_started`` handler without depending on that plugin."""

    evstore_plugin_name = "step-started-stand-in"

    @hookimpl
    def evstore_register_event_types(self, register: Callable[[EventType], None]) -> None:
        register(EventType("step_started", requires=("role", "step_id")))


@pytest.fixture(scope="session")
def default_plugins() -> list[object]:
    """The workflows plugin and the stand-in (stateless, so one list serves every store)."""
    return [evstore_workflows, StepStartedStandIn()]


@pytest.fixture
def open_store(tmp_path: Path, default_plugins: list[object]) -> Iterator[StoreFactory]:
    """Open stores on ``tmp_path / "s.db"`` (or ``path=``) with autoload off and, unless
    ``plugins=`` says otherwise, the workflows plugin and the stand-in; all closed at
    teardown."""
    opened: list[EventStore] = []

    def factory(plugins: list[object] | None = None, **options: Any) -> EventStore:
        options.setdefault("autoload", False)
        if plugins is None:
            plugins = default_plugins
        store = EventStore.open(options.pop("path", tmp_path / "s.db"), plugins=plugins, **options)
        opened.append(store)
        return store

    yield factory
    for store in opened:
        store.close()


@pytest.fixture
def store(open_store: StoreFactory) -> EventStore:
    return open_store()
