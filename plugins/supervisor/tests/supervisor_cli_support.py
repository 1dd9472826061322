"""Running ``evstore`` as a user would, for the supervisor's commands: in-process with
click's runner (fast), or as a real process (the console entry point's exit statuses).

EVSTORE_PLUGINS is unset in both, so the installed plugins load through their entry
points, as for a user, and this distribution contributes ``demo`` and ``import-seed``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from evstore.cli import root_command

EVSTORE = [sys.executable, "-m", "evstore"]
_UNSET = ("EVSTORE_PLUGINS", "EVSTORE_DISABLE_PLUGINS", "EVSTORE_DISABLE_PLUGIN_AUTOLOAD", "EVSTORE_DB")


def run(*args: str | Path, **env: str | None) -> Result:
    """``evstore ARGS`` in-process, with EVSTORE_* unset unless given."""
    environment: dict[str, str | None] = dict.fromkeys(_UNSET)
    environment.update(env)
    # The root group reloads plugin commands whenever the plugin environment variables
    # change, so the shared group serves every test whatever ran before.
    return CliRunner().invoke(root_command(), [str(a) for a in args], env=environment)


def run_process(*args: str | Path, cwd: Path | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    """``python -m evstore ARGS`` in a child process, with EVSTORE_* unset unless given."""
    environment = {k: v for k, v in os.environ.items() if k not in _UNSET}
    environment.update(env)
    return subprocess.run(
        [*EVSTORE, *map(str, args)], capture_output=True, text=True, env=environment, cwd=cwd, check=False,
        timeout=120,
    )


def assert_clean_error(result: Result, *fragments: str) -> None:
    """Exit status 2, a one-line message on stderr naming ``fragments``, no traceback."""
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, (fragment, result.stderr)


def json_output(result: Result) -> Any:
    return json.loads(result.stdout)
