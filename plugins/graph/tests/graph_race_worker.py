"""The body of one racing worker process (a module of its own, so that a process started
with the 'spawn' method can import it by name)."""

from __future__ import annotations

import random
import time
import traceback
from typing import Any

import evstore_graph
from evstore import ConcurrencyError, EventStore

GIVE_UP_AFTER = 60.0  # seconds: a stuck race reports an error instead of hanging the suite


def claim_and_complete(path: str, worker_id: str, barrier: Any, results: Any, options: dict[str, Any]) -> None:
    """Once every worker has its store open (``barrier``), claim ready nodes of execution
    'race' (one to three at a time) and complete them until the execution has finished.
    Reports ``(worker_id, claimed node ids, conflicts reported by the engine)``, or the
    traceback of an error."""
    try:
        store = EventStore.open(path, plugins=[evstore_graph], autoload=False, durability="normal")
        engine = evstore_graph.GraphEngine(store, **options)
        claimed: list[str] = []
        conflicts = 0
        barrier.wait(timeout=60)
        deadline = time.monotonic() + GIVE_UP_AFTER
        while time.monotonic() < deadline:
            try:
                nodes = engine.claim_ready_nodes("race", worker_id, limit=random.randint(1, 3))
            except ConcurrencyError:
                conflicts += 1  # lost max_attempts races in a row: decide again
                continue
            if not nodes:
                execution = engine.get_execution("race")
                if execution is None or execution.status != "running":
                    break
                time.sleep(0.001)  # the other worker holds every slot: let it finish one
                continue
            claimed.extend(node.node_id for node in nodes)
            for node in nodes:
                while True:
                    try:
                        engine.complete_node("race", node.node_id, {"by": worker_id}, worker_id=worker_id)
                        break
                    except ConcurrencyError:
                        conflicts += 1
        else:
            raise TimeoutError(f"{worker_id}: the execution did not finish in {GIVE_UP_AFTER}s")
        store.close()
        results.put((worker_id, (claimed, conflicts)))
    except BaseException:
        results.put((worker_id, traceback.format_exc()))
