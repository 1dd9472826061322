"""Where the original supervisor's checkout is, for every test that needs it.

``$EVSTORE_ORIGINAL_SUPERVISOR`` if set, else the first ``shared/seed/original`` found in a
folder above this repository (``../shared`` of the main checkout and of every worktree
beside it). One locator for the whole suite: the original is imported once per process
(``supervisor`` is a top-level name), so two tests looking in two places would see the
second refused as "another module named supervisor".
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ENV_ORIGINAL = "EVSTORE_ORIGINAL_SUPERVISOR"
SEED_FOLDER = Path("shared", "seed", "original")


def _has_state_module(folder: Path) -> bool:
    return (folder / "supervisor" / "core" / "state.py").is_file()


def find_checkout() -> Path | None:
    given = os.environ.get(ENV_ORIGINAL)
    if given:
        return Path(given)
    for folder in Path(__file__).resolve().parents:
        if _has_state_module(folder / SEED_FOLDER):
            return folder / SEED_FOLDER
    return None


def require_checkout() -> Path:
    """The checkout, or skip the test with the reason; in CI (``CI=true``) the checkout
    is part of the job, so a missing one fails the run instead."""
    checkout = find_checkout()
    if checkout is not None and _has_state_module(checkout):
        return checkout
    reason = (
        f"the original supervisor checkout is not here (set {ENV_ORIGINAL}, or put it at "
        f"../{SEED_FOLDER} beside the repository)"
    )
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason}; CI must provide it", pytrace=False)
    pytest.skip(reason)
