"""Workers under failure: killed mid-batch (one or all), two for one projection, a poison
event, the database stopped under them, a dead LISTEN connection.

The projections here record every event they apply in a table whose primary key is the
event id: an event applied twice makes the insert fail and the projection go failing,
so "status ok and one row per event" is exactly "nothing applied twice or skipped".
Workers are real ``evstore worker`` processes, killed with SIGKILL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from private_postgres import private_cluster

from evstore import EventStore, NewEvent, StoreConnectionError, Worker
from evstore.testing import TargetFactory

PROJECTIONS = ("rec_a", "rec_b")
LEASE = 1.0  # seconds: a SQLite worker that died is replaced after about this long
WAIT = 30.0  # the most any step here waits for workers (it takes a second or two)

RECORDER = '''
import os
import time

from evstore import EventType, Migration, Projection, hookimpl

evstore_plugin_name = "recorder"


def recorder(name):
    projection = Projection(
        name, 1, tables=(f"{name}_applied",), lifecycle="async",
        migrations=[Migration(
            "create", f"CREATE TABLE {name}_applied (event_id TEXT PRIMARY KEY, position INTEGER NOT NULL)"
        )],
    )

    @projection.on("tick")
    def record(db, event):
        if event.payload.get("poison") == name and os.environ.get("RECORDER_FIXED") != "1":
            with open(os.environ["RECORDER_ATTEMPTS"], "a") as attempts:
                attempts.write(f"{event.id}\\n")
            raise RuntimeError(f"poison event {event.id}")
        hold = os.environ.get("RECORDER_HOLD")
        if hold and event.id > int(os.environ["RECORDER_HOLD_AFTER"]):
            while os.path.exists(hold):  # stuck mid-batch, transaction open, until the test says
                time.sleep(0.01)
        db.execute(f"INSERT INTO {name}_applied (event_id, position) VALUES (?, ?)", (str(event.event_id), event.id))

    return projection


@hookimpl
def evstore_register_event_types(register):
    register(EventType("tick"))


@hookimpl
def evstore_register_projections(register):
    for name in ("rec_a", "rec_b"):
        register(recorder(name))
'''


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An installed-looking distribution ``evstore-recorder`` (on PYTHONPATH for workers)."""
    folder = tmp_path_factory.mktemp("site")
    dist = folder / "evstore_recorder-0.1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: evstore-recorder\nVersion: 0.1.0\n")
    (dist / "entry_points.txt").write_text("[evstore]\nrecorder = evstore_test_recorder\n")
    (folder / "evstore_test_recorder.py").write_text(RECORDER)
    return folder


@pytest.fixture
def env(site: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The environment of workers and of this test's own stores (autoload finds the
    recorder through sys.path here, through PYTHONPATH in the workers)."""
    monkeypatch.syspath_prepend(str(site))
    values = {
        "EVSTORE_PLUGINS": "recorder", "RECORDER_ATTEMPTS": str(tmp_path / "attempts.txt"),
        "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]),
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


class Workers:
    """``evstore worker`` processes on one store, all killed at the end."""

    def __init__(self, target: str, env: dict[str, str], folder: Path) -> None:
        self.target, self.env, self.folder = target, env, folder
        self.processes: list[subprocess.Popen[str]] = []
        self.logs: list[Path] = []

    def start(self, *args: str, ready: bool = True, **env: str) -> subprocess.Popen[str]:
        """A worker, returned once it has opened the store and begun its loop (unless
        not ``ready``: on SQLite a worker stuck mid-batch holds the write lock, and a new
        one's open waits for it)."""
        log = self.folder / f"worker-{len(self.processes)}.log"
        with log.open("w") as stderr:  # a file, not a pipe nobody reads: a full pipe would block it
            process = subprocess.Popen(
                [sys.executable, "-m", "evstore", "--db", self.target, "worker", "--busy-timeout", "60",
                 "--lease", str(LEASE), "--poll", "0.2", "--batch-size", "20", *args],
                env={**os.environ, **self.env, **env}, stdout=subprocess.DEVNULL, stderr=stderr, text=True,
            )
        self.processes.append(process)
        self.logs.append(log)
        if ready:
            wait_until(lambda: ": applying " in log.read_text() or process.poll() is not None, "the worker started")
            assert process.poll() is None, log.read_text()
        return process

    def any_died(self) -> bool:
        return any(process.poll() is not None for process in self.processes)

    def errors(self) -> str:
        """What the workers wrote on stderr."""
        return "\n".join(log.read_text() for log in self.logs)

    def kill_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)


@pytest.fixture
def workers(store_target: str, env: dict[str, str], tmp_path: Path) -> Iterator[Workers]:
    started = Workers(store_target, env, tmp_path)
    yield started
    started.kill_all()


def ticks(count: int, **payload: Any) -> list[NewEvent]:
    return [NewEvent(workflow_id=f"wf-{n % 7}", event_type="tick", payload=dict(payload)) for n in range(count)]


def status_of(store: EventStore) -> dict[str, Any]:
    return {s.name: s for s in store.projection_status()}


def wait_until(condition: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:g} s: {what}")
        time.sleep(0.05)


def caught_up(store: EventStore) -> bool:
    head = store.head()
    return all(status_of(store)[name].position >= head for name in PROJECTIONS)


def assert_each_event_applied_once(store: EventStore) -> None:
    """Every event in the log has exactly one row in each projection, at its position,
    and no projection failed on the way (an event applied twice fails its insert)."""
    everything = sorted((str(e.event_id), e.id) for e in store.read_all())
    for name in PROJECTIONS:
        status = status_of(store)[name]
        assert status.status == "ok" and status.position == store.head(), status
        rows = sorted(tuple(row) for row in store.reader.fetchall(f"SELECT event_id, position FROM {name}_applied"))
        assert rows == everything, f"{name}: rows differ from the log"


def assert_verify_passes(store: EventStore) -> None:
    """``evstore verify``: the live rows equal a rebuild of the log."""
    result = subprocess.run(
        [sys.executable, "-m", "evstore", "--db", store.location, "verify"], capture_output=True, text=True,
        env=os.environ, check=False, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture
def store(store_target: str, env: dict[str, str]) -> Iterator[EventStore]:
    with EventStore.open(store_target, durability="normal") as opened:
        yield opened


def leader_pids(store: EventStore) -> set[int]:
    return {int(s.leader.split(":")[1]) for s in store.projection_status() if s.leader}


def holding(tmp_path: Path, after: int) -> dict[str, str]:
    """The environment of a worker that applies events up to ``after``, then stops in
    the middle of its next batch (inside a handler, its transaction open) while the
    file ``hold`` exists."""
    hold = tmp_path / "hold"
    hold.touch()
    return {"RECORDER_HOLD": str(hold), "RECORDER_HOLD_AFTER": str(after)}


def test_killing_the_leader_mid_batch_hands_over_from_the_checkpoint(
    store: EventStore, workers: Workers, tmp_path: Path
) -> None:
    store.append_many(ticks(300))
    first = workers.start(**holding(tmp_path, after=150))
    wait_until(
        lambda: leader_pids(store) == {first.pid} and status_of(store)["rec_a"].position == 140,
        "the first worker led and applied 7 batches of rec_a",
    )
    second = workers.start(ready=store.dialect == "postgresql")
    time.sleep(0.3)  # the second is running, waiting for the leases (on SQLite, for the write lock)
    # (Its lease row may have expired meanwhile; on PostgreSQL its session lock still
    # excludes the second worker, on SQLite its write lock does.)
    assert second.pid not in leader_pids(store) and status_of(store)["rec_a"].position == 140
    first.send_signal(signal.SIGKILL)  # mid-batch: events 141-150 applied in an open transaction
    first.wait(timeout=10)
    wait_until(lambda: leader_pids(store) == {second.pid}, "the second worker took over")
    store.append_many(ticks(50))  # appends go on meanwhile
    wait_until(lambda: caught_up(store), "the second worker caught up")
    assert second.poll() is None
    assert_each_event_applied_once(store)
    assert_verify_passes(store)


def test_killing_every_worker_and_restarting_them(store: EventStore, workers: Workers, tmp_path: Path) -> None:
    store.append_many(ticks(200))
    hold = holding(tmp_path, after=90)
    started = [workers.start(**hold), workers.start(ready=store.dialect == "postgresql", **hold)]
    wait_until(lambda: status_of(store)["rec_a"].position == 80, "progress")
    for process in started:
        process.send_signal(signal.SIGKILL)
    for process in started:
        process.wait(timeout=10)
    assert status_of(store)["rec_a"].position == 80
    store.append_many(ticks(30))
    for _ in range(2):
        workers.start()
    wait_until(lambda: caught_up(store), "the restarted workers caught up")
    assert_each_event_applied_once(store)
    assert_verify_passes(store)


def test_two_workers_for_one_projection_one_waits(store: EventStore, workers: Workers) -> None:
    store.append_many(ticks(20))
    first = workers.start("rec_a")
    wait_until(lambda: caught_up_one(store, "rec_a"), "the first worker applied rec_a")
    second = workers.start("rec_a")
    store.append_many(ticks(20))
    wait_until(lambda: caught_up_one(store, "rec_a"), "rec_a applied again")
    time.sleep(0.5)
    assert leader_pids(store) == {first.pid}, "the second worker took a lease it should wait for"
    assert second.poll() is None  # waiting, not exited
    first.send_signal(signal.SIGTERM)  # a graceful stop gives the lease up: no expiry to wait for
    assert first.wait(timeout=WAIT) == 0
    store.append_many(ticks(20))
    wait_until(lambda: caught_up_one(store, "rec_a") and leader_pids(store) == {second.pid}, "the second took over")
    assert status_of(store)["rec_b"].position == 0  # nobody was asked to apply it


def caught_up_one(store: EventStore, name: str) -> bool:
    return status_of(store)[name].position >= store.head()


def test_a_poison_event_fails_one_projection_and_the_others_keep_going(
    store: EventStore, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    store.append_many([*ticks(10), *ticks(1, poison="rec_a"), *ticks(10)])
    worker = Worker(store, poll_interval=0.05, batch_size=5)
    runner = threading.Thread(target=worker.run)
    runner.start()
    try:
        wait_until(lambda: caught_up_one(store, "rec_b"), "rec_b applied past the poison event")
        time.sleep(2.5)  # long enough for a hot loop to retry hundreds of times
        attempts = Path(env["RECORDER_ATTEMPTS"]).read_text().split()
        status = status_of(store)["rec_a"]
        assert status.status == "failing" and status.position == 10 and "poison event 11" in (status.error or "")
        # Tried at once, then after 1 s, then 2 s more: two or three tries in these
        # ~3 s (polling every 0.05 s without back-off would make it dozens).
        assert 1 <= len(attempts) <= 4, attempts
        store.append_many(ticks(5))
        wait_until(lambda: caught_up_one(store, "rec_b"), "rec_b keeps going while rec_a is failing")
        monkeypatch.setenv("RECORDER_FIXED", "1")  # the plugin is fixed: rec_a recovers on its own
        worker._retry_at.clear()  # rather than wait out the back-off
        wait_until(lambda: caught_up(store), "rec_a recovered")
    finally:
        worker.stop()
        runner.join(timeout=WAIT)
    assert_each_event_applied_once(store)


# --- PostgreSQL only ------------------------------------------------------------------------


@pytest.mark.evstore_backends("postgresql")
def test_a_dead_listen_connection_does_not_stall_a_projection(
    store: EventStore, workers: Workers, evstore_target_factory: TargetFactory
) -> None:
    import psycopg

    store.append_many(ticks(10))
    worker = workers.start("--poll", "1")
    wait_until(lambda: caught_up(store), "caught up")
    channel = store._backend.channel  # type: ignore[attr-defined]
    with psycopg.connect(evstore_target_factory.postgres_url, autocommit=True) as admin:
        listening = "SELECT pid FROM pg_stat_activity WHERE query = %s"
        wait_until(lambda: bool(admin.execute(listening, (f"LISTEN {channel}",)).fetchall()), "a listener")
        for (pid,) in admin.execute(listening, (f"LISTEN {channel}",)).fetchall():
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    store.append_many(ticks(10))
    wait_until(lambda: caught_up(store), "applied after its LISTEN connection was killed")
    assert worker.poll() is None
    assert_each_event_applied_once(store)


@pytest.mark.evstore_backends("postgresql")
def test_workers_survive_the_database_stopping_under_them(
    env: dict[str, str], evstore_backend: str, tmp_path: Path
) -> None:
    cluster = private_cluster()
    target = f"{cluster.url}?options=-csearch_path%3Dworkers_{int(time.time() * 1000)}"
    workers = Workers(target, env, tmp_path)
    try:
        with EventStore.open(target, durability="normal") as store:
            store.append_many(ticks(300))
            hold = holding(tmp_path, after=150)
            for _ in range(2):
                workers.start(**hold)
            wait_until(lambda: status_of(store)["rec_a"].position == 140, "progress up to the hold")
            # The server goes away and comes back while the leader is inside a batch. Its
            # next statement finds the connection dead while the server is up again: the
            # worker must neither exit nor blame the projection (mark it failing).
            cluster.stop()
            time.sleep(1.0)  # the other worker finds the server gone between batches
            cluster.start()
            Path(hold["RECORDER_HOLD"]).unlink()
            with pytest.raises(StoreConnectionError):  # this store's connection died with the server
                store.head()
            store.append_many(ticks(20))
            wait_until(lambda: caught_up(store) or workers.any_died(), "the workers reconnected and caught up")
            assert not workers.any_died(), workers.errors()
            # The lost connection was never blamed on a projection.
            assert "marked failing" not in workers.errors()
            assert_each_event_applied_once(store)
    finally:
        workers.kill_all()
