"""``evstore plugins`` in a terminal of any width shows every name whole: a name cut to
"evstore-te…" is one the reader can neither read nor type."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

EVSTORE = [sys.executable, "-m", "evstore"]


def run(*args: str, columns: int) -> str:
    result = subprocess.run(
        [*EVSTORE, *args], capture_output=True, text=True, check=False,
        env={**os.environ, "COLUMNS": str(columns)},
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def names_shown(plugin: dict[str, Any]) -> list[str]:
    """What a reader copies from the listing: every name of every field."""
    fields = [plugin["name"], plugin["distribution"], *(p["name"] for p in plugin["projections"])]
    return [name for name in fields if name] + [*plugin["tables"], *plugin["event_types"], *plugin["hooks"]]


@pytest.fixture(scope="module")
def described() -> list[dict[str, Any]]:
    plugins: list[dict[str, Any]] = json.loads(run("plugins", "--json", columns=80))
    assert any(len(p["distribution"] or "") > 20 for p in plugins), "a long distribution name makes this test bite"
    return plugins


@pytest.mark.parametrize("columns", [80, 60])
def test_a_narrow_terminal_shows_every_name_whole(described: list[dict[str, Any]], columns: int) -> None:
    output = run("plugins", columns=columns)
    assert "…" not in output
    assert max(len(line.rstrip()) for line in output.splitlines()) <= columns
    words = set(output.replace("│", " ").split())
    for plugin in described:
        missing = [name for name in names_shown(plugin) if name not in words]
        assert not missing, f"at {columns} columns `evstore plugins` does not show {missing} whole"


def test_a_wide_terminal_keeps_the_table(described: list[dict[str, Any]]) -> None:
    output = run("plugins", columns=300)
    header = next(line for line in output.splitlines() if "distribution" in line)
    assert all(column in header for column in ("plugin", "distribution", "projections", "tables", "hooks"))
    words = set(output.replace("│", " ").split())
    assert all(name in words for plugin in described for name in names_shown(plugin))
