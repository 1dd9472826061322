"""Several processes append to the same and to different workflows while a reader tails
the log: no duplicates, no version gaps, conflicts only as ConcurrencyError (never
"database is locked"), and the reader never sees a position before a lower one."""

from __future__ import annotations

import multiprocessing
import threading
from pathlib import Path

import pytest
from reliability_workload import contend, open_store

from reliability_checks import check_log, check_projections_equal_rebuild

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("writers", [4, 8])
def test_processes_contending_for_one_store(tmp_path: Path, writers: int) -> None:
    path = tmp_path / "state.db"
    open_store(str(path)).close()
    count = 90
    context = multiprocessing.get_context("spawn")
    with context.Pool(writers) as pool:
        pending = pool.starmap_async(contend, [(str(path), w, count) for w in range(writers)])
        reader_error: list[str] = []
        reader = threading.Thread(target=tail, args=(path, pending, reader_error))
        reader.start()
        results = pending.get(timeout=300)
        reader.join()
    assert reader_error == []
    assert [r["unexpected"] for r in results] == [[]] * writers
    acknowledged = sorted(p for r in results for p in r["acknowledged"])
    assert len(acknowledged) == len(set(acknowledged)) == writers * count
    with open_store(str(path)) as store:
        assert check_log(store, []) == writers * count
        assert store.version("guarded") == writers * (count // 3)
        check_projections_equal_rebuild(store, path)
    print(f"\n{writers} writers: {len(acknowledged)} appends, "
          f"{sum(r['conflicts'] for r in results)} conflicts surfaced as ConcurrencyError")


def tail(path: Path, pending: object, errors: list[str]) -> None:
    """Poll the log; each new page must continue exactly where the last one ended."""
    seen = 0
    with open_store(str(path)) as store:
        while True:
            done = pending.ready()  # type: ignore[attr-defined]
            for event in store.read_all(after=seen, limit=200):
                if event.id != seen + 1:
                    errors.append(f"saw position {event.id} right after {seen}")
                    return
                seen = event.id
            if done and not store.read_all(after=seen, limit=1):
                return
