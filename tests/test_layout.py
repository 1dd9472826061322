"""The repository layout that DESIGN.md section 1 settles."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = (ROOT / "requirements-dev.txt").read_text().splitlines()
PLUGINS = sorted(p.parent for p in (ROOT / "plugins").glob("*/pyproject.toml") if not p.parent.name.startswith("_"))
EXAMPLES = sorted(p.parent for p in (ROOT / "examples").glob("*/pyproject.toml"))


@pytest.mark.parametrize("folder", PLUGINS + EXAMPLES, ids=lambda p: p.name)
def test_every_distribution_is_installed_by_requirements_dev(folder: Path) -> None:
    relative = f"-e ./{folder.relative_to(ROOT)}"
    assert relative in REQUIREMENTS, f"add '{relative}' to requirements-dev.txt"


@pytest.mark.parametrize("folder", PLUGINS, ids=lambda p: p.name)
def test_plugin_distribution_shape(folder: Path) -> None:
    project = tomllib.loads((folder / "pyproject.toml").read_text())["project"]
    name = folder.name
    assert project["name"] == f"evstore-{name}"
    package = folder / "src" / f"evstore_{name}"
    assert (package / "__init__.py").exists() and (package / "py.typed").exists()
    assert project["entry-points"]["evstore"][name] == f"evstore_{name}"
    assert (folder / "tests").is_dir(), "each plugin has its own tests/"


@pytest.mark.parametrize("folder", PLUGINS, ids=lambda p: p.name)
def test_plugins_import_only_the_public_api(folder: Path) -> None:
    for source in (folder / "src").rglob("*.py"):
        text = source.read_text()
        assert "from evstore._" not in text and "import evstore._" not in text, (
            f"{source} imports a private evstore module; use names from evstore or evstore.testing"
        )


def test_core_never_imports_a_plugin() -> None:
    for source in (ROOT / "core" / "src").rglob("*.py"):
        text = source.read_text()
        assert "import evstore_" not in text and "from evstore_" not in text, source


def test_importing_evstore_opens_nothing_and_loads_no_plugin() -> None:
    code = (
        "import sys, evstore\n"
        "assert not [m for m in sys.modules if m.startswith('evstore_')], 'a plugin was imported'\n"
        "assert 'sqlite3' not in sys.modules or True\n"
        "import gc, sqlite3\n"
        "assert not [o for o in gc.get_objects() if isinstance(o, sqlite3.Connection)]\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
