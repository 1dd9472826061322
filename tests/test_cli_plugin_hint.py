"""A command that one of our plugins adds, asked for without that plugin: the error says
what to install (or what disables it) instead of only "No such command"."""

from __future__ import annotations

import importlib_metadata
import pytest
from click.testing import CliRunner

from evstore._cli import cli


def run(*args: str, **env: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), env={"EVSTORE_DB": None, **env})
    assert "Traceback" not in result.output
    return result.exit_code, result.output


@pytest.mark.parametrize("command", ["demo", "import-seed"])
def test_a_supervisor_command_without_the_plugin_installed_says_what_to_install(
    command: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = importlib_metadata.distribution

    def without_supervisor(name: str) -> importlib_metadata.Distribution:
        if name == "evstore-supervisor":
            raise importlib_metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(importlib_metadata, "distribution", without_supervisor)
    code, output = run(command, EVSTORE_PLUGINS="")
    assert code == 2
    assert f"No such command '{command}'" in output
    assert "pip install evstore-supervisor" in output and "pip install 'evstore[all]'" in output


def test_a_supervisor_command_with_the_plugin_disabled_says_how_it_is_disabled() -> None:
    pytest.importorskip("evstore_supervisor")
    code, output = run("demo", EVSTORE_DISABLE_PLUGINS="supervisor")
    assert code == 2
    assert "evstore-supervisor is installed but its plugin is not loaded" in output
    assert "EVSTORE_DISABLE_PLUGINS" in output


def test_the_command_itself_runs_when_its_plugin_is_loaded() -> None:
    pytest.importorskip("evstore_supervisor")
    code, output = run("demo", "--help", EVSTORE_PLUGINS="supervisor")
    assert code == 0 and "Usage:" in output


def test_other_unknown_commands_keep_clicks_message() -> None:
    code, output = run("no-such-command", EVSTORE_PLUGINS="")
    assert code == 2
    assert "No such command 'no-such-command'" in output and "pip install" not in output
