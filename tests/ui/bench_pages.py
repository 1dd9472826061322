"""How fast every dashboard page answers on a big store (a benchmark, not a test).

    python tests/ui/bench_pages.py [--events 1000000] [--db PATH] [--repeat 5] [--index]

Builds the store once (reused when PATH already holds at least that many events): a
realistic mix through the installed plugins (workflows with steps, metrics and
checkpoints; features with their cascade; graph executions), plus events of a rare
type and with a rare payload word. Then serves the dashboard with uvicorn on a free
loopback port and times each page over HTTP: the median and the slowest of --repeat
requests after one warm-up. --index adds events(event_type, id) and events(timestamp)
to the scratch store first, to show what such kernel indexes would change.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from evstore import EventStore, NewEvent

RARE_TYPE, RARE_WORD = "audit_note", "needle-7f3a"


def build(path: Path, events: int) -> None:
    import evstore_features as features
    import evstore_graph

    store = EventStore.open(path, permissive=True, durability="normal")
    start = datetime(2025, 1, 1, tzinfo=UTC)
    clock = [start]

    def at() -> datetime:
        clock[0] += timedelta(seconds=2)
        return clock[0]

    engine = evstore_graph.GraphEngine(store)
    engine.save_graph("pipeline", "pipeline", {"nodes": [{"id": "plan"}, {"id": "build"}, {"id": "test"}],
                                               "edges": [{"source": "plan", "target": "build"},
                                                         {"source": "build", "target": "test"}]})
    n = 0
    while store.head() < events:
        n += 1
        wf = f"wf-{n:07d}"
        batch = [NewEvent(workflow_id=wf, event_type="workflow_started", payload={"initial_step": "s0"},
                          timestamp=at())]
        for s in range(4):
            role = ("planner", "implementer", "tester", "reviewer")[s]
            batch += [
                NewEvent(workflow_id=wf, event_type="step_started", step_id=f"{wf}-s{s}", role=role,
                         payload={"gates": ["lint"], "context": {"attempt": 1}}, timestamp=at()),
                NewEvent(workflow_id=wf, event_type="step_completed", step_id=f"{wf}-s{s}",
                         payload={"output": {"summary": f"done {s} of {wf}"}}, timestamp=at()),
                NewEvent(workflow_id=wf, event_type="metric_recorded", role=role,
                         payload={"cli": ("claude", "codex", "gemini")[(n + s) % 3], "task_type": role,
                                  "success": (n * 7 + s) % 5 != 0, "duration_seconds": 5.0 + (n * s) % 40},
                         timestamp=at()),
            ]
        batch.append(NewEvent(workflow_id=wf, event_type="checkpoint_created", step_id=f"{wf}-s3",
                              payload={"git_sha": f"{n:040x}", "context": {"n": n}}, timestamp=at()))
        if n % 997 == 0:
            batch.append(NewEvent(workflow_id=wf, event_type=RARE_TYPE, payload={"note": RARE_WORD}, timestamp=at()))
        batch.append(NewEvent(workflow_id=wf, event_type="workflow_completed", timestamp=at()))
        store.append_many(batch)
        if n % 200 == 0:
            _feature(store, features, n)
        if n % 500 == 0:
            _execution(engine, n, wf)
        if n % 2000 == 0:
            print(f"  {store.head():,} events", file=sys.stderr, flush=True)
    store.close()


def _feature(store: EventStore, features: Any, n: int) -> None:
    fid = f"F{n}"
    features.create_feature(store, fid, f"Feature {n}")
    features.create_phase(store, f"{fid}-P1", fid, "Backend", 1)
    for c in range(3):
        features.create_component(store, f"{fid}-C{c}", f"{fid}-P1", f"part {c}", feature_id=fid)
        features.start_component(store, f"{fid}-C{c}")
        features.complete_component(store, f"{fid}-C{c}", {"ok": True})


def _execution(engine: Any, n: int, wf: str) -> None:
    engine.start_execution(f"x{n}", "pipeline", workflow_id=wf)
    for _ in range(3):
        for node in engine.claim_ready_nodes(f"x{n}", worker_id="w1"):
            engine.complete_node(f"x{n}", node.node_id, {}, worker_id="w1")


def pages(store: EventStore) -> list[str]:
    head = store.head()
    middle = head // 2
    workflow = store.read_all(after=middle, limit=1)[0].workflow_id
    feature = store.reader.fetchvalue("SELECT MAX(id) FROM features")
    execution = store.reader.fetchvalue("SELECT MAX(id) FROM graph_executions")
    cascade = store.reader.fetchvalue("SELECT MAX(id) FROM events WHERE id > ? AND event_type = 'feature_completed'",
                                      [head - 20_000])
    since = store.read_all(after=head - 1000, limit=1)[0].timestamp_text[:19]
    return [
        "/", "/log", f"/log?before={middle}", "/log?before=100", f"/log?after={middle}",
        "/log?type=step_completed", f"/log?type={RARE_TYPE}", "/log?type=no_such_type",
        f"/log?text={RARE_WORD}", "/log?text=done+3", f"/log?since={quote(since)}",
        "/log?until=2025-01-02", f"/log?workflow={workflow}", f"/events/{middle}",
        f"/events/{cascade or middle}", "/workflows", "/workflows?q=wf-00012", f"/workflows?after={workflow}",
        f"/workflows/{workflow}", "/projections", "/p/workflows/workflows", "/p/workflows/workflows?status=completed",
        "/p/steps/steps", "/p/steps/steps?status=completed&role=tester", "/p/features/features",
        f"/p/features/features?feature={feature}", "/p/checkpoints/checkpoints",
        f"/p/checkpoints/checkpoints?workflow={workflow}", "/p/metrics/metrics", "/p/metrics/metrics?days=30",
        "/p/metrics/metrics?by=cli&days=1",
        "/p/graph/executions", f"/p/graph/executions?execution={execution}", "/p/activity_board/board",
    ]


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free loopback port for the length of the block."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=1))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


def measure(path: Path, repeat: int) -> list[tuple[str, float, float, int]]:
    from evstore.ui import create_app

    store = EventStore.open(path)
    results = []
    with serving(create_app(store)) as base:
        for page in pages(store):
            timings = []
            for attempt in range(repeat + 1):
                started = time.perf_counter()
                with urllib.request.urlopen(base + page, timeout=120) as answer:
                    size = len(answer.read())
                if attempt:  # the first request warms caches; it is not counted
                    timings.append(time.perf_counter() - started)
            results.append((page, statistics.median(timings), max(timings), size))
    store.close()
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python tests/ui/bench_pages.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--db", type=Path, default=Path("/tmp/evstore-ui-bench/store.db"))
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--index", action="store_true", help="add event_type and timestamp indexes first")
    options = parser.parse_args(argv)
    existing = EventStore.open(options.db).head() if options.db.exists() else 0
    if existing < options.events:
        print(f"building {options.events:,} events in {options.db} ...", file=sys.stderr)
        started = time.perf_counter()
        build(options.db, options.events)
        print(f"built in {time.perf_counter() - started:.0f}s", file=sys.stderr)
    if options.index:
        import sqlite3

        with sqlite3.connect(options.db) as raw:
            raw.execute("CREATE INDEX IF NOT EXISTS bench_events_type ON events (event_type, id)")
            raw.execute("CREATE INDEX IF NOT EXISTS bench_events_time ON events (timestamp)")
    results = measure(options.db, options.repeat)
    with EventStore.open(options.db) as store:
        head = store.head()
    print(f"{head:,} events; median and slowest of {options.repeat} requests per page"
          f"{' (with event_type and timestamp indexes)' if options.index else ''}")
    for page, median, slowest, size in results:
        print(f"{median * 1000:8.1f} ms {slowest * 1000:8.1f} ms {size / 1024:8.1f} KiB  {page}")


if __name__ == "__main__":
    main()
