"""The repository layout that DESIGN.md section 1 settles."""

from __future__ import annotations

import ast
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
    # Their tests too: a third party's tests can only use what evstore and its kit publish.
    for source in [*(folder / "src").rglob("*.py"), *(folder / "tests").rglob("*.py")]:
        text = source.read_text()
        assert "from evstore._" not in text and "import evstore._" not in text, (
            f"{source} imports a private evstore module; use names from evstore or evstore.testing"
        )


# The facade that composes the six first-party plugins into the original supervisor's
# Database, and so imports them; docs/plugins.md ("What a plugin may import") documents
# the exception.
COMPOSES_PLUGINS = {"supervisor"}


def imported_modules(source: Path) -> set[str]:
    """The absolute modules a source file imports, anywhere in it (functions included)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source.read_text(), str(source))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
    return found


@pytest.mark.parametrize(
    "folder", [*PLUGINS, ROOT / "plugins" / "_template", *EXAMPLES], ids=lambda p: p.name
)
def test_a_plugin_imports_no_other_plugin(folder: Path) -> None:
    [package] = [p for p in (folder / "src").iterdir() if (p / "__init__.py").exists()]
    allowed = {package.name}
    if folder.name in COMPOSES_PLUGINS:
        allowed |= {f"evstore_{p.name}" for p in PLUGINS if p.name not in COMPOSES_PLUGINS}
    for source in package.rglob("*.py"):
        others = {m.split(".")[0] for m in imported_modules(source) if m.startswith("evstore_")} - allowed
        assert not others, (
            f"{source.relative_to(ROOT)} imports {sorted(others)[0]}: a plugin handles another plugin's "
            "events by their names and never imports it (docs/plugins.md, 'What a plugin may import')"
        )


def test_core_never_imports_a_plugin() -> None:
    for source in (ROOT / "core" / "src").rglob("*.py"):
        text = source.read_text()
        assert "import evstore_" not in text and "from evstore_" not in text, source


def test_importing_evstore_opens_nothing_and_loads_no_plugin() -> None:
    code = (
        "import sys, evstore\n"
        "assert not [m for m in sys.modules if m.startswith('evstore_')], 'a plugin was imported'\n"
        # The backends load with the first store of their kind: psycopg is an optional
        # extra, so `import evstore` must work without it, and without sqlite3 loaded.
        "assert not {'sqlite3', 'psycopg'} & set(sys.modules), 'importing evstore loaded a database driver'\n"
        "import gc, sqlite3\n"
        "assert not [o for o in gc.get_objects() if isinstance(o, sqlite3.Connection)]\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
