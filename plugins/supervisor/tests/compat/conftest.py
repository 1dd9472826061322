"""The original supervisor module, imported from its checkout, beside the facade.

The checkout is found by ``original_checkout.find_checkout`` (``$EVSTORE_ORIGINAL_SUPERVISOR``
or ``../shared/seed/original``). Without it the suite is skipped with the reason, except in
CI (``CI=true``), where the checkout is part of the job: there a missing one fails the run.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from original_checkout import require_checkout


@pytest.fixture(scope="session")
def original() -> Iterator[ModuleType]:
    """``supervisor.core.state`` of the original (its ``Database``, ``Event``,
    ``EventType``)."""
    checkout = require_checkout()
    sys.path.insert(0, str(checkout))
    try:
        yield importlib.import_module("supervisor.core.state")
    finally:
        sys.path.remove(str(checkout))


@pytest.fixture
def original_db(original: ModuleType, tmp_path: Path) -> object:
    """A fresh original ``Database`` (SQLite, the only backend it has)."""
    return original.Database(tmp_path / "original" / "state.db")
