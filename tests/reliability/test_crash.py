"""Crash safety: a child process appends and is SIGKILLed at random moments.

After each kill the store is reopened: every acknowledged event is there, no transaction
is partly visible, versions are contiguous, and every projection equals a rebuild.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from reliability_workload import open_store, unit_events

from reliability_checks import check_log, check_projections_equal_rebuild

HERE = Path(__file__).parent
TRIALS = 24

pytestmark = pytest.mark.slow


def child(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])},
    )


def read_acknowledged(process: subprocess.Popen[str], kill_after: float) -> list[dict[str, Any]]:
    """Collect acknowledgement lines for ``kill_after`` seconds, then SIGKILL the child."""
    assert process.stdout is not None and process.stderr is not None
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(process.stdout or ()), daemon=True)
    reader.start()
    time.sleep(kill_after)
    process.send_signal(signal.SIGKILL)
    process.wait()
    reader.join(timeout=10)
    stderr = process.stderr.read()
    assert "Traceback" not in stderr, stderr
    # A line cut short by the kill was never fully acknowledged to us: ignore it.
    return [json.loads(line) for line in lines if line.endswith("}\n")]


def test_sigkill_during_appends_loses_nothing_acknowledged(tmp_path: Path, record_property: Any) -> None:
    path = tmp_path / "state.db"
    rng = random.Random(20261126)
    acknowledged: list[dict[str, Any]] = []
    for trial in range(TRIALS):
        durability = "full" if trial % 3 == 0 else "normal"
        process = child(str(HERE / "reliability_workload.py"), str(path), durability, str(trial))
        acknowledged += read_acknowledged(process, kill_after=rng.uniform(0.3, 1.2))
        with open_store(str(path)) as store:
            count = check_log(store, acknowledged)
            check_projections_equal_rebuild(store, path)
    events_acknowledged = sum(len(c["ids"]) for c in acknowledged)
    record_property("trials", TRIALS)
    record_property("events_acknowledged", events_acknowledged)
    print(f"\ncrash trials: {TRIALS}, commits acknowledged: {len(acknowledged)}, "
          f"events acknowledged: {events_acknowledged}, events stored: {count}, lost: 0")
    assert TRIALS >= 20 and events_acknowledged > 0


def prefill(path: Path, units: int, **options: Any) -> None:
    rng = random.Random(7)
    with open_store(str(path), **options) as store:
        for unit in range(units):
            with store.transaction() as tx:
                for commit in unit_events(rng, f"pre-{unit}"):
                    for event in commit:
                        tx.append(event)


REBUILD_CHILD = """
import sys
from reliability_workload import open_store
store = open_store(sys.argv[1])
while True:
    store.rebuild()
    print("rebuilt", flush=True)
"""

CATCH_UP_CHILD = """
import sys
from reliability_workload import open_store
store = open_store(sys.argv[1])  # opening installs the new projections and catches them up
print("caught up", flush=True)
"""


def test_sigkill_during_rebuild(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    prefill(path, 400)
    rng = random.Random(11)
    for _ in range(6):
        process = child("-c", REBUILD_CHILD, str(path))
        read_acknowledged(process, kill_after=rng.uniform(0.5, 2.0))
        with open_store(str(path)) as store:
            check_log(store, [])
            check_projections_equal_rebuild(store, path)


def test_sigkill_during_catch_up(tmp_path: Path) -> None:
    rng = random.Random(13)
    for trial in range(4):
        path = tmp_path / f"state-{trial}.db"
        # The log is written with no projection loaded; the child then installs all five
        # and catches them up from zero, and is killed somewhere in the middle.
        with __import__("evstore").EventStore.open(path, autoload=False, permissive=True) as bare:
            for unit in range(300):
                bare.append_many([e for c in unit_events(rng, f"u{unit}") for e in c if e.workflow_id.startswith("wf")])
        process = child("-c", CATCH_UP_CHILD, str(path))
        read_acknowledged(process, kill_after=rng.uniform(0.2, 1.0))
        with open_store(str(path)) as store:
            check_log(store, [])
            check_projections_equal_rebuild(store, path)
