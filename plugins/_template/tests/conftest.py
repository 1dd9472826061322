"""What the kit's fixtures (``evstore_store``, ``evstore_scenario``) load for these tests."""

from __future__ import annotations

import pytest

import evstore_template


# --8<-- [start:plugins-fixture]
@pytest.fixture
def evstore_plugins() -> list[object]:
    """The plugins the kit's evstore_store fixture loads: this one only."""
    return [evstore_template]
# --8<-- [end:plugins-fixture]
