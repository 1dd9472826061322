"""The kit's ``evstore_store`` loads these plugins for every test here: the board, and
the plugins that declare the events it handles (so appends are validated as in
production)."""

from __future__ import annotations

import pytest

import evstore_activity_board
import evstore_metrics
import evstore_steps


@pytest.fixture
def evstore_plugins() -> list[object]:
    return [evstore_activity_board, evstore_steps, evstore_metrics]
