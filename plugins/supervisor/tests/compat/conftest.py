"""The original supervisor module, imported from its checkout, beside the facade.

The checkout is ``$EVSTORE_ORIGINAL_SUPERVISOR`` if set, else the first
``shared/seed/original`` found in a folder above this repository (``../shared`` of the
main checkout and of every worktree beside it). Without it the suite is skipped with the
reason, except in CI (``CI=true``), where the checkout is part of the job: there a
missing one fails the run.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

ENV_ORIGINAL = "EVSTORE_ORIGINAL_SUPERVISOR"
SEED_FOLDER = Path("shared", "seed", "original")


def _checkout() -> Path | None:
    given = os.environ.get(ENV_ORIGINAL)
    if given:
        return Path(given)
    for folder in Path(__file__).resolve().parents:
        candidate = folder / SEED_FOLDER
        if (candidate / "supervisor" / "core" / "state.py").is_file():
            return candidate
    return None


@pytest.fixture(scope="session")
def original() -> Iterator[ModuleType]:
    """``supervisor.core.state`` of the original (its ``Database``, ``Event``,
    ``EventType``)."""
    checkout = _checkout()
    if checkout is None or not (checkout / "supervisor" / "core" / "state.py").is_file():
        reason = (
            f"the original supervisor checkout is not here (set {ENV_ORIGINAL}, or put it at "
            f"../{SEED_FOLDER} beside the repository)"
        )
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason}; CI must provide it", pytrace=False)
        pytest.skip(reason)
    sys.path.insert(0, str(checkout))
    try:
        yield importlib.import_module("supervisor.core.state")
    finally:
        sys.path.remove(str(checkout))


@pytest.fixture
def original_db(original: ModuleType, tmp_path: Path) -> object:
    """A fresh original ``Database`` (SQLite, the only backend it has)."""
    return original.Database(tmp_path / "original" / "state.db")
