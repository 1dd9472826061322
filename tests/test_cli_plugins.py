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


def _broken_site(tmp_path: Path, module_text: str = "raise RuntimeError('boom')\n") -> Path:
    site = tmp_path / "site"
    dist = site / "evstore_oops-0.3.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: evstore-oops\nVersion: 0.3.0\n")
    (dist / "entry_points.txt").write_text("[evstore]\noops = oops_module\n")
    (site / "oops_module.py").write_text(module_text)
    return site


def test_a_broken_plugin_is_listed_with_its_error_beside_the_others(tmp_path: Path) -> None:
    site = _broken_site(tmp_path)
    result = run("plugins", "--json", PYTHONPATH=str(site), EVSTORE_PLUGINS="oops,steps")
    assert result.returncode == 1, result.stderr
    oops, steps = json.loads(result.stdout)
    assert (oops["name"], oops["distribution"], oops["version"]) == ("oops", "evstore-oops", "0.3.0")
    assert "plugin 'oops' (evstore-oops 0.3.0) failed to import (oops_module): RuntimeError: boom" in oops["error"]
    assert oops["disable"] == "disable it with EVSTORE_DISABLE_PLUGINS=oops" and oops["projections"] == []
    assert (steps["name"], steps["error"]) == ("steps", None) and steps["projections"]
    assert "Traceback" not in result.stderr

    table = run("plugins", PYTHONPATH=str(site), EVSTORE_PLUGINS="oops,steps", COLUMNS="200")
    assert table.returncode == 1 and "Traceback" not in table.stderr
    assert "oops (failed)" in table.stdout and "steps" in table.stdout
    assert "oops: plugin 'oops' (evstore-oops 0.3.0) failed to import" in table.stdout


def test_a_plugin_whose_registration_raises_is_listed_too(tmp_path: Path) -> None:
    module = (
        "from evstore import hookimpl\n"
        "@hookimpl\n"
        "def evstore_register_projections(register):\n"
        "    raise KeyError('no table')\n"
    )
    site = _broken_site(tmp_path, module)
    result = run("plugins", "--json", PYTHONPATH=str(site), EVSTORE_PLUGINS="oops")
    [oops] = json.loads(result.stdout)
    assert result.returncode == 1
    assert "failed while registering projections: KeyError: 'no table'" in oops["error"]


def test_a_store_still_refuses_to_open_with_a_broken_plugin(tmp_path: Path) -> None:
    site = _broken_site(tmp_path)
    result = run("--db", str(tmp_path / "s.db"), "init", PYTHONPATH=str(site), EVSTORE_PLUGINS="oops")
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


SHADOWING_PLUGIN = '''
import click

from evstore import hookimpl


@click.command("export")
def hijacked_export():
    click.echo("the plugin's export ran")


@click.command("hello")
def hello():
    """Say hello."""
    click.echo("hello from the plugin")


@hookimpl
def evstore_register_commands(cli):
    cli.add_command(hijacked_export)

    @cli.command("status")
    def hijacked_status():
        click.echo("the plugin's status ran")

    cli.add_command(hello)
'''


def test_a_plugin_command_named_like_a_built_in_is_refused_and_named(tmp_path: Path) -> None:
    site = tmp_path / "site"
    dist = site / "evstore_shadow-1.2.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: evstore-shadow\nVersion: 1.2.0\n")
    (dist / "entry_points.txt").write_text("[evstore]\nshadow = shadow_module\n")
    (site / "shadow_module.py").write_text(SHADOWING_PLUGIN)
    env = {"PYTHONPATH": str(site), "EVSTORE_PLUGINS": "shadow"}
    listing = run("--help", **env)
    assert listing.returncode == 0, listing.stderr
    warnings = listing.stderr.strip().splitlines()
    assert len(warnings) == 2, listing.stderr
    for name, line in zip(("export", "status"), warnings, strict=True):
        assert line.startswith("warning: plugin 'shadow' (evstore-shadow 1.2.0) adds a command"), line
        assert f"'{name}', which is a built-in evstore command" in line
        assert "EVSTORE_DISABLE_PLUGINS=shadow" in line
    assert "  hello " in listing.stdout  # its other command still loads
    db = tmp_path / "store.db"
    assert run("--db", str(db), "init", **env).returncode == 0
    export = run("--db", str(db), "export", **env)
    assert export.returncode == 0 and "the plugin's export ran" not in export.stdout
    assert run("hello", **env).stdout == "hello from the plugin\n"


def test_two_plugins_adding_one_command_name_keep_the_first(tmp_path: Path) -> None:
    site = tmp_path / "site"
    for plugin in ("alpha", "beta"):
        dist = site / f"evstore_{plugin}-0.1.0.dist-info"
        dist.mkdir(parents=True)
        (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: evstore-{plugin}\nVersion: 0.1.0\n")
        (dist / "entry_points.txt").write_text(f"[evstore]\n{plugin} = {plugin}_module\n")
        (site / f"{plugin}_module.py").write_text(
            "import click\nfrom evstore import hookimpl\n\n"
            f"@click.command('greet')\ndef greet():\n    click.echo('{plugin} greets')\n\n"
            "@hookimpl\ndef evstore_register_commands(cli):\n    cli.add_command(greet)\n"
        )
    result = run("greet", PYTHONPATH=str(site), EVSTORE_PLUGINS="alpha,beta")
    assert result.stdout == "alpha greets\n"
    assert "plugin 'beta' (evstore-beta 0.1.0) adds a command 'greet', which plugin 'alpha'" in result.stderr
