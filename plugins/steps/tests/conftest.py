"""The plugins the kit's ``evstore_store`` loads for the steps plugin's tests."""

from __future__ import annotations

import pytest

import evstore_steps


@pytest.fixture
def evstore_plugins() -> list[object]:
    return [evstore_steps]
