"""Every asset the dashboard serves ships inside the evstore wheel, and none is fetched
from elsewhere at run time (users run this on air-gapped machines)."""

from __future__ import annotations

import fnmatch
import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UI = ROOT / "core" / "src" / "evstore" / "_ui"
ASSETS = sorted(p for p in [*(UI / "templates").iterdir(), *(UI / "static").iterdir()] if p.is_file())
REMOTE = re.compile(r"""(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}|@import|url\(\s*['"]?(?:https?:|//)""", re.IGNORECASE)


def test_there_are_assets() -> None:
    names = {p.name for p in ASSETS}
    assert {"base.html", "log.html", "ui.css", "ui.js", "favicon.svg"} <= names


@pytest.mark.parametrize("asset", ASSETS, ids=lambda p: p.name)
def test_no_asset_loads_anything_from_elsewhere(asset: Path) -> None:
    text = asset.read_text()
    allowed = {"http://www.w3.org/2000/svg"}  # an XML namespace name, never fetched
    found = [m.group(0) for m in REMOTE.finditer(text) if not any(m.group(0) in a for a in allowed)]
    assert found == [], f"{asset.name} refers to {found}"


def test_the_wheel_carries_every_template_and_static_file() -> None:
    """setuptools puts in the wheel the package data core/pyproject.toml declares: every
    asset must match one of its patterns (a new file type would otherwise be left out)."""
    config = tomllib.loads((ROOT / "core" / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["evstore"]
    package = ROOT / "core" / "src" / "evstore"
    missing = [p.relative_to(package).as_posix() for p in ASSETS
               if not any(fnmatch.fnmatch(p.relative_to(package).as_posix(), pattern) for pattern in patterns)]
    assert missing == []
