"""The command line under the oldest click evstore declares (click>=8.1): --help and a
short session run, every command's help renders. click 8.1-8.3 crashed evstore at
import once (it subscripted ``click.ParamType``, which only newer clicks allow), and
`pip check` cannot see that.

The wheel (about 100 kB) is fetched with pip and put first on PYTHONPATH (a
pure-Python wheel imports from the zip as is); without network the test is skipped."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

OLDEST_CLICK = "8.1.0"
PLUGINS = "workflows,steps,features,checkpoints,metrics,graph,supervisor"


@pytest.fixture(scope="module")
def oldest_click(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp(f"click-{OLDEST_CLICK}")
    wheels = sorted(folder.glob(f"click-{OLDEST_CLICK}-*.whl"))
    if not wheels:
        fetched = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
             f"click=={OLDEST_CLICK}", "--dest", str(folder)],
            capture_output=True, text=True, timeout=300, check=False,
        )
        wheels = sorted(folder.glob(f"click-{OLDEST_CLICK}-*.whl"))
        if not wheels:
            pytest.skip(f"cannot fetch click {OLDEST_CLICK} (offline?): {fetched.stderr.strip()[-300:]}")
    return wheels[0]


def _evstore(wheel: Path, *args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "EVSTORE_DB"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(wheel), env.get("PYTHONPATH")]))
    env["EVSTORE_PLUGINS"] = PLUGINS
    return subprocess.run([sys.executable, "-m", "evstore", *map(str, args)], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=120, check=False)


def test_the_wheel_is_the_click_that_gets_imported(oldest_click: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(oldest_click)}
    found = subprocess.run([sys.executable, "-c", "import click, importlib.metadata as m; print(click.__file__)"],
                           capture_output=True, text=True, env=env, check=True)
    assert str(oldest_click) in found.stdout


def test_help_and_every_command_help_under_the_oldest_click(oldest_click: Path) -> None:
    listing = _evstore(oldest_click, "--help")
    assert listing.returncode == 0, listing.stderr
    section = listing.stdout.split("Commands:\n")[1].split("\n\n")[0]
    commands = [line.split()[0] for line in section.splitlines() if line[:3].strip() and line.startswith("  ")]
    assert {"append", "backup", "events", "export", "import", "restore", "status", "demo"} <= set(commands)
    for command in commands:
        shown = _evstore(oldest_click, command, "--help")
        assert shown.returncode == 0 and "Usage:" in shown.stdout, (command, shown.stderr)


def test_a_session_under_the_oldest_click(oldest_click: Path, tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    lines = "".join(json.dumps(e) + "\n" for e in [
        {"workflow_id": "wf-1", "event_type": "workflow_started", "payload": {"initial_step": "plan"}},
        {"workflow_id": "wf-1", "event_type": "step_started", "step_id": "plan", "role": "planner"},
    ])
    source = tmp_path / "events.jsonl"
    source.write_text(lines)
    steps = [
        ("init",), ("append", source), ("events",), ("status", "--json"), ("export", "-o", tmp_path / "log.jsonl"),
        ("plugins", "--json"), ("verify",),
    ]
    for args in steps:
        result = _evstore(oldest_click, "--db", db, *args)
        assert result.returncode == 0, (args, result.stderr)
    conflict = _evstore(oldest_click, "--db", db, "append", "--expected-version", "0", source)
    assert conflict.returncode == 3 and "Traceback" not in conflict.stderr
    bad = _evstore(oldest_click, "--db", db, "events", "--after", str(2**63))
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
