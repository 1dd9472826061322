"""The plugins the kit's ``evstore_store`` loads for the checkpoints plugin's tests."""

from __future__ import annotations

import pytest

import evstore_checkpoints


@pytest.fixture
def evstore_plugins() -> list[object]:
    return [evstore_checkpoints]
