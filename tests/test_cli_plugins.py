"""``evstore plugins`` as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

EVSTORE = [sys.executable, "-m", "evstore"]


def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*EVSTORE, *args], capture_output=True, text=True, env={**os.environ, **env}, check=False
    )


def test_plugins_json_lists_installed_plugins() -> None:
    result = run("plugins", "--json")
    assert result.returncode == 0, result.stderr
    described = json.loads(result.stdout)
    names = [p["name"] for p in described]
    assert names == sorted(names)
    for plugin in described:
        assert set(plugin) >= {"name", "distribution", "version", "hooks", "projections", "tables", "event_types"}


def test_plugins_honours_the_allowlist() -> None:
    result = run("plugins", "--json", EVSTORE_PLUGINS="")
    assert result.returncode == 0 and json.loads(result.stdout) == []
    result = run("plugins", EVSTORE_PLUGINS="")
    assert "No plugins loaded" in result.stdout


def test_plugins_table(tmp_path: Path) -> None:
    result = run("plugins")
    assert result.returncode == 0, result.stderr


def test_broken_plugin_is_a_clear_error_not_a_traceback(tmp_path: Path) -> None:
    site = tmp_path / "site"
    dist = site / "evstore_oops-0.3.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: evstore-oops\nVersion: 0.3.0\n")
    (dist / "entry_points.txt").write_text("[evstore]\noops = oops_module\n")
    (site / "oops_module.py").write_text("raise RuntimeError('boom')\n")
    result = run("plugins", PYTHONPATH=str(site), EVSTORE_PLUGINS="oops")
    assert result.returncode == 2
    assert "plugin 'oops' (evstore-oops 0.3.0) failed to import" in result.stderr
    assert "Traceback" not in result.stderr


def test_plugin_commands_follow_the_plugin_selection_within_one_process() -> None:
    from click.testing import CliRunner

    from evstore._cli import cli

    def commands(plugins: str | None) -> str:
        result = CliRunner().invoke(cli, ["--help"], env={"EVSTORE_PLUGINS": plugins})
        assert result.exit_code == 0, result.output
        return result.output

    assert "  demo " in commands(None)  # evstore-supervisor is installed in the dev venv
    assert "  demo " not in commands("workflows,steps")
    assert "  demo " in commands("supervisor")
