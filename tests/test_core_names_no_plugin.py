"""The core distribution knows no plugin: not by import (tests/test_layout.py), and not by
name either, in its messages, test kit or docstrings. What a plugin's users need to hear
(its event vocabulary, its importer's name) comes from the plugin."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "core" / "src" / "evstore"
# The one place allowed: asking for `evstore demo` without its plugin says what to
# install, which only a name the core knows can say (the plugin is absent).
INSTALL_HINT = re.compile(r"^_COMMANDS_FROM_PLUGINS = ")


def first_party_names() -> set[str]:
    """Each first-party plugin's distribution and import names, and its importer's command."""
    names = {"import-seed"}
    for pyproject in (ROOT / "plugins").glob("*/pyproject.toml"):
        if not pyproject.parent.name.startswith("_"):
            distribution = tomllib.loads(pyproject.read_text())["project"]["name"]
            names |= {distribution, distribution.replace("-", "_")}
    return names


def test_the_names_are_read_from_the_plugins() -> None:
    assert {"evstore-supervisor", "evstore_supervisor", "evstore_workflows"} <= first_party_names()


def test_core_source_names_no_plugin() -> None:
    pattern = re.compile("|".join(re.escape(n) for n in sorted(first_party_names(), key=len, reverse=True)))
    found = [
        f"{source.relative_to(ROOT)}:{number}: {line.strip()}"
        for source in sorted(CORE.rglob("*.py"))
        for number, line in enumerate(source.read_text().splitlines(), 1)
        if pattern.search(line) and not INSTALL_HINT.match(line)
    ]
    assert not found, "the core names a plugin; let the plugin say it (or say it generically):\n" + "\n".join(found)
