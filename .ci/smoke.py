"""CLI smoke tests against an installed evstore, the way a new user runs it.

Usage: VENV/bin/python .ci/smoke.py [--without-supervisor]

Runs the ``evstore`` console script of the interpreter's environment (never the
repository's sources) in a scratch folder outside the repository: ``--help`` of every
command, ``plugins --json``, a store's round trip (init, append, events, status, verify,
export, import, rebuild, catch-up), ``evstore demo`` followed by ``verify``,
``examples/quickstart.py`` and the example plugin's test suite (the ``evstore.testing``
kit) and, where a server runs on 127.0.0.1:5432, a store on PostgreSQL (required under
CI). Any traceback or warning on stderr fails the run. With
``--without-supervisor`` (evstore-supervisor not installed) it checks instead that
``evstore demo`` says what to install.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
EVSTORE = str(BIN / "evstore")
PLUGINS = {"workflows", "steps", "features", "checkpoints", "metrics", "graph", "supervisor"}
NOISE = re.compile(r"Traceback|Warning|warning:", re.IGNORECASE)
EVENTS = [
    {"workflow_id": "wf-1", "event_type": "workflow_started", "payload": {"initial_step": "plan"}},
    {"workflow_id": "wf-1", "event_type": "step_started", "step_id": "plan", "role": "planner"},
    {"workflow_id": "wf-1", "event_type": "step_completed", "step_id": "plan", "payload": {"output": {"n": 1}}},
]


def run(
    *args: str, expect: int = 0, cwd: Path, program: str = EVSTORE, label: str | None = None
) -> subprocess.CompletedProcess[str]:
    started = time.perf_counter()
    done = subprocess.run([program, *args], cwd=cwd, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "COLUMNS": "80"})
    shown = label or " ".join([Path(program).name, *args])
    if done.returncode != expect or NOISE.search(done.stderr):
        sys.exit(f"smoke: `{shown}` exited {done.returncode} (expected {expect})\n"
                 f"--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}")
    print(f"  ok  {shown}  ({time.perf_counter() - started:.2f}s)")
    return done


def command_names(help_text: str) -> list[str]:
    """The command names of the root ``--help`` (click lists them under "Commands:")."""
    section = help_text.split("Commands:\n", 1)[1].split("\n\n", 1)[0]  # an epilog may follow
    return [m[1] for m in re.finditer(r"^  (\S+)", section, re.MULTILINE)]


def the_installed_package_is_used(cwd: Path) -> None:
    where = run("-c", "import evstore; print(evstore.__file__, evstore.__version__)", cwd=cwd,
                program=sys.executable).stdout.split()
    version = (ROOT / "VERSION").read_text().strip()
    if ROOT in Path(where[0]).parents or where[1] != version:
        sys.exit(f"smoke: imported {where}, expected an installed evstore {version} outside {ROOT}")


def full_product(cwd: Path) -> None:
    names = command_names(run("--help", cwd=cwd).stdout)
    for required in ("init", "append", "events", "status", "verify", "export", "import", "demo", "import-seed"):
        if required not in names:
            sys.exit(f"smoke: `evstore --help` does not list {required}: {names}")
    for name in names:
        run(name, "--help", cwd=cwd)
    found = {plugin["name"] for plugin in json.loads(run("plugins", "--json", cwd=cwd).stdout)}
    if PLUGINS - found:
        sys.exit(f"smoke: `evstore plugins --json` lacks {sorted(PLUGINS - found)}")

    (cwd / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in EVENTS))
    run("--db", "a.db", "init", cwd=cwd)
    run("--db", "a.db", "append", "events.jsonl", cwd=cwd)
    listed = [json.loads(line) for line in run("--db", "a.db", "events", "--json", cwd=cwd).stdout.splitlines()]
    if [e["event_type"] for e in listed] != [e["event_type"] for e in EVENTS]:
        sys.exit(f"smoke: `evstore events --json` gave {listed}")
    run("--db", "a.db", "status", "--check", cwd=cwd)
    run("--db", "a.db", "verify", cwd=cwd)
    run("--db", "a.db", "export", "-o", "log.jsonl", cwd=cwd)
    run("--db", "b.db", "import", "log.jsonl", cwd=cwd)
    run("--db", "b.db", "rebuild", "--all", cwd=cwd)
    run("--db", "b.db", "catch-up", cwd=cwd)
    run("--db", "b.db", "verify", cwd=cwd)
    run("--db", "missing.db", "status", expect=2, cwd=cwd)

    run("demo", cwd=cwd)
    run("verify", cwd=cwd)  # the demo's store, ./.evstore/store.db
    run(str(ROOT / "examples" / "quickstart.py"), cwd=cwd, program=sys.executable)
    # The test kit (evstore[testing]: its pytest plugin, ProjectionContract, strategies) as
    # a plugin author uses it: the example plugin's own suite, against the installed wheels.
    run("-m", "pytest", "-q", "-p", "no:cacheprovider", str(ROOT / "examples" / "activity_board" / "tests"),
        cwd=cwd, program=sys.executable)


POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
POSTGRES_ROUND_TRIP = f"""
import uuid, psycopg, evstore_workflows
from evstore import EventStore, NewEvent
schema = "smoke_" + uuid.uuid4().hex[:12]
try:
    with EventStore.open({POSTGRES!r}, schema=schema, plugins=[evstore_workflows], autoload=False) as store:
        store.append(NewEvent(workflow_id="wf-1", event_type="workflow_started", payload={{"initial_step": "plan"}}))
        assert store.reader.fetchall("SELECT id, status, current_step FROM workflows") == [("wf-1", "active", "plan")]
        assert store.rebuild() == 1 and [e.version for e in store.read("wf-1")] == [1]
finally:
    with psycopg.connect({POSTGRES!r}, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {{schema}} CASCADE")
"""


def postgres(cwd: Path) -> None:
    """The PostgreSQL backend (evstore[postgresql]) on a scratch schema: psycopg, the pool
    and pglast (the table-ownership guard parses the plugin's DDL) at work."""
    try:
        import socket

        socket.create_connection(("127.0.0.1", 5432), timeout=2).close()
    except OSError:
        if os.environ.get("CI"):
            sys.exit("smoke: PostgreSQL is not reachable on 127.0.0.1:5432")
        print("  skipped  the PostgreSQL round trip: no server on 127.0.0.1:5432")
        return
    run("-c", POSTGRES_ROUND_TRIP, cwd=cwd, program=sys.executable, label="a store on PostgreSQL")


def without_supervisor(cwd: Path) -> None:
    done = run("demo", expect=2, cwd=cwd)
    if "evstore-supervisor" not in done.stderr or "pip install" not in done.stderr:
        sys.exit(f"smoke: `evstore demo` without the supervisor plugin should say what to install:\n{done.stderr}")
    run("--help", cwd=cwd)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="evstore-smoke-") as folder:
        cwd = Path(folder)
        the_installed_package_is_used(cwd)
        if "--without-supervisor" in sys.argv[1:]:
            without_supervisor(cwd)
        else:
            full_product(cwd)
            postgres(cwd)


if __name__ == "__main__":
    main()
