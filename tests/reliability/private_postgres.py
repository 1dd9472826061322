"""A PostgreSQL cluster of the test run's own, for tests that stop or restart the server.

The shared server on 5432 serves every other test (and other people's runs): it is never
stopped or restarted. This cluster lives in a temporary folder, listens on a free port of
127.0.0.1 and on a socket in that folder, and is removed when the process ends. One per
test process, made on first use (initdb takes a few seconds).

Without PostgreSQL's server binaries the tests using it skip, except under CI=true, where
a missing server is a broken machine, not a reason to pass.
"""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

BIN = Path(os.environ.get("EVSTORE_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))
_cluster: PrivateCluster | None = None


class PrivateCluster:
    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="evstore-private-pg-"))
        self.data = self.folder / "data"
        self.port = _free_port()
        self.log = self.folder / "server.log"
        shutil.chown(self.folder, "postgres", "postgres")
        self.folder.chmod(0o755)
        self._as_postgres(BIN / "initdb", "-D", self.data, "-A", "trust", "-U", "postgres", "--no-sync")
        self.start()

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _as_postgres(self, *command: str | Path) -> None:
        run_as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run(
            [*run_as, *map(str, command)], check=True, capture_output=True, timeout=120,
        )

    def _pg_ctl(self, action: str, *extra: str) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._as_postgres(BIN / "pg_ctl", "-D", self.data, "-l", self.log, "-o", options, "-w", action, *extra)

    def start(self) -> None:
        self._pg_ctl("start")

    def stop(self) -> None:
        """A fast shutdown: open sessions are cut off, as in a failover or an upgrade."""
        self._pg_ctl("stop", "-m", "fast")

    def restart(self) -> None:
        self._pg_ctl("restart", "-m", "fast")

    def running(self) -> bool:
        run_as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        found = subprocess.run([*run_as, str(BIN / "pg_ctl"), "-D", str(self.data), "status"],
                               capture_output=True, timeout=30, check=False)
        return found.returncode == 0

    def remove(self) -> None:
        try:
            self.stop()
        except subprocess.CalledProcessError:
            pass  # already stopped
        shutil.rmtree(self.folder, ignore_errors=True)


def private_cluster() -> PrivateCluster:
    """This process's private cluster (started), or a skip saying why there is none."""
    global _cluster
    if _cluster is None:
        missing = [name for name in ("initdb", "pg_ctl") if not (BIN / name).exists()]
        if missing or (os.geteuid() == 0 and shutil.which("runuser") is None):
            reason = f"no PostgreSQL server binaries in {BIN} ({', '.join(missing) or 'runuser'} missing)"
            if os.environ.get("CI") == "true":
                pytest.fail(f"{reason}: CI must run the server failure tests")
            pytest.skip(reason)
        _cluster = PrivateCluster()
        atexit.register(_cluster.remove)
    elif not _cluster.running():  # a test that stopped it failed before starting it again
        _cluster.start()
    return _cluster


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
