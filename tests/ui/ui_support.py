"""Helpers for the dashboard tests: a store with a realistic run and hostile events, the
dashboard served by a real uvicorn on a free loopback port, and plain HTTP requests."""

from __future__ import annotations

import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evstore import EventStore, NewEvent

# Payloads a hostile or careless writer could put in the log: each must show as text.
HOSTILE = {
    "html": "</pre></td></tr></table><script>alert('payload')</script>",
    "attribute": "\"'><svg onload=alert(1)>",
    "template": "{{ 7*7 }} {% raw %}{{ config }}",
    "sql": "'; DROP TABLE events; --",
    "url": "javascript:alert(document.cookie)",
    "unicode": "naïve ✓ \u202e reversed",
}
HOSTILE_WORKFLOW = "wf/<script>alert('wf')</script>"
HOSTILE_TYPE = "<img src=x onerror=alert('type')>"
MARKERS = ("alert('payload')", "onload=alert(1)", "alert('wf')", "onerror=alert('type')")


def build_store(path: Path) -> None:
    """A supervisor demo run (every plugin has something to show) plus hostile events."""
    from evstore_supervisor import Database
    from evstore_supervisor._demo import run_demo

    with Database(path) as database:
        run_demo(database)
    with EventStore.open(path, permissive=True) as store:
        store.append(NewEvent(workflow_id=HOSTILE_WORKFLOW, event_type=HOSTILE_TYPE, role="<b>role</b>",
                              step_id="<i>step</i>", status="<u>failed</u>", payload=HOSTILE,
                              metadata={"note": "<script>alert('meta')</script>"}))


@dataclass
class Served:
    base: str
    port: int

    def get(self, path: str, headers: Mapping[str, str] | None = None, method: str = "GET") -> Response:
        request = urllib.request.Request(self.base + path, headers=dict(headers or {}), method=method)
        opener = urllib.request.build_opener(_NoRedirect)
        try:
            with opener.open(request, timeout=30) as answer:
                return Response(answer.status, dict(answer.headers.items()), answer.read().decode())
        except urllib.error.HTTPError as error:
            return Response(error.code, dict(error.headers.items()), error.read().decode())


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    text: str

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers.items() if k.lower() == name.lower()), None)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


@contextmanager
def serve(app: Any, host: str = "127.0.0.1") -> Iterator[Served]:
    """Serve ``app`` with uvicorn on a free port of ``host`` until the block ends."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((host, 0))
    sock.listen(64)
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=1))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the dashboard did not start")
        time.sleep(0.02)
    try:
        yield Served(f"http://127.0.0.1:{port}", port)
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        sock.close()
