"""The plugins the kit's ``evstore_store`` loads for the features plugin's tests."""

from __future__ import annotations

import pytest

import evstore_features


@pytest.fixture
def evstore_plugins() -> list[object]:
    return [evstore_features]
