"""The plugins the kit's ``evstore_store`` loads for the metrics plugin's tests."""

from __future__ import annotations

import pytest

import evstore_metrics


@pytest.fixture
def evstore_plugins() -> list[object]:
    return [evstore_metrics]
