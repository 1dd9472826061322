"""Serving: the token, a panel that raises, the live tail over HTTP, and `evstore ui`."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from evstore import EventStore, hookimpl
from evstore.ui import Panel, View, create_app

from ui_support import Served, serve

TOKEN = "s3cret-token-for-tests-0123456789"


@pytest.fixture(scope="module")
def guarded(demo_store: EventStore) -> Iterator[Served]:
    with serve(create_app(demo_store, token=TOKEN)) as running:
        yield running


@pytest.mark.parametrize("path", ["/", "/log", "/events/1", "/static/ui.css", "/events/live", "/p/metrics/metrics"])
def test_with_a_token_every_request_needs_it(guarded: Served, path: str) -> None:
    assert guarded.get(path).status == 401
    assert guarded.get(path, headers={"Authorization": "Bearer wrong"}).status == 401
    if "live" not in path:
        assert guarded.get(path, headers={"Authorization": f"Bearer {TOKEN}"}).status == 200


def test_the_token_in_the_url_becomes_a_cookie(guarded: Served) -> None:
    answer = guarded.get(f"/log?type=step_started&token={TOKEN}")
    assert answer.status == 303 and answer.header("location") == "/log?type=step_started"
    cookie = answer.header("set-cookie") or ""
    assert cookie.startswith(f"evstore_ui_token_{guarded.port}={TOKEN}") and "HttpOnly" in cookie
    assert "samesite=strict" in cookie.lower()
    name_value = cookie.split(";", 1)[0]
    assert guarded.get("/log", headers={"Cookie": name_value}).status == 200
    assert guarded.get("/log", headers={"Cookie": f"evstore_ui_token_{guarded.port}=nope"}).status == 401
    assert guarded.get("/log?token=nope").status == 401


def test_a_panel_that_raises_shows_its_error_and_the_page_still_renders(tmp_path: Path) -> None:
    def broken(view: View) -> Any:
        raise KeyError("output")

    def fine(view: View) -> Any:
        return "still here <b>escaped</b>"

    def contribute(register: Any) -> None:
        register(Panel("broken", "Broken", broken))
        register(Panel("fine", "Fine", fine))

    plugin = SimpleNamespace(evstore_plugin_name="shaky", evstore_register_ui=hookimpl(contribute))
    with EventStore.open(tmp_path / "s.db", autoload=False) as store, \
            serve(create_app(store, plugins=[plugin], autoload=False)) as running:
        answer = running.get("/")
    assert answer.status == 200
    assert "plugin &#39;shaky&#39; failed to draw &#39;Broken&#39;: KeyError: &#39;output&#39;" in answer.text
    assert "remove it from the plugins=[...]" in answer.text
    assert "still here &lt;b&gt;escaped&lt;/b&gt;" in answer.text


def _append_in_another_process(path: Path, workflow: str) -> None:
    code = (
        "import sys\nfrom evstore import EventStore, NewEvent\n"
        "with EventStore.open(sys.argv[1], permissive=True) as s:\n"
        "    s.append(NewEvent(workflow_id=sys.argv[2], event_type='tail_probe', payload={'x': '<b>new</b>'}))\n"
    )
    subprocess.run([sys.executable, "-c", code, str(path), workflow], check=True, timeout=60)


def _sse_events(connection: http.client.HTTPConnection, until: float) -> Iterator[dict[str, str]]:
    response = connection.getresponse()
    assert response.status == 200 and response.getheader("content-type", "").startswith("text/event-stream")
    fields: dict[str, str] = {}
    while time.monotonic() < until:
        line = response.fp.readline().decode().rstrip("\n")
        if not line:
            if fields:
                yield fields
            fields = {}
            continue
        name, _, value = line.partition(": ")
        fields[name] = value


def test_the_live_tail_streams_events_another_process_appends(served: Served, demo_path: Path,
                                                             demo_store: EventStore) -> None:
    head = demo_store.head()
    connection = http.client.HTTPConnection("127.0.0.1", served.port, timeout=30)
    connection.request("GET", f"/events/live?after={head}&workflow=tail-wf")
    _append_in_another_process(demo_path, "other-wf")  # filtered out
    _append_in_another_process(demo_path, "tail-wf")
    for message in _sse_events(connection, time.monotonic() + 30):
        if message.get("event") == "append":
            data = json.loads(message["data"])
            break
    else:
        raise AssertionError("no event arrived on the live tail")
    connection.close()
    assert data["id"] == head + 2 and message["id"] == str(head + 2)
    assert "tail-wf" in data["html"] and "&lt;b&gt;new&lt;/b&gt;" in data["html"] and "<b>" not in data["html"]


def test_the_live_tail_resumes_from_last_event_id(served: Served, demo_path: Path, demo_store: EventStore) -> None:
    head = demo_store.head()
    _append_in_another_process(demo_path, "resume-wf")
    connection = http.client.HTTPConnection("127.0.0.1", served.port, timeout=30)
    connection.request("GET", "/events/live?after=1", headers={"Last-Event-ID": str(head)})
    first = next(m for m in _sse_events(connection, time.monotonic() + 30) if m.get("event") == "append")
    connection.close()
    assert json.loads(first["data"])["id"] == head + 1


# --- the command ----------------------------------------------------------------------------


def _evstore(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k not in ("EVSTORE_DB", "EVSTORE_UI_TOKEN")}
    environment.update(env)
    return subprocess.run([sys.executable, "-m", "evstore", *args], capture_output=True, text=True, timeout=60,
                          env=environment)


def test_another_host_without_a_token_is_refused(demo_path: Path) -> None:
    done = _evstore("--db", str(demo_path), "ui", "--host", "0.0.0.0")
    assert done.returncode == 2 and "--token" in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_a_short_token_is_refused(demo_path: Path) -> None:
    done = _evstore("--db", str(demo_path), "ui", "--token", "short")
    assert done.returncode == 2 and "at least 16 characters" in done.stderr


def test_a_missing_database_is_one_line(tmp_path: Path) -> None:
    done = _evstore("--db", str(tmp_path / "nope.db"), "ui")
    assert done.returncode == 2 and "no database at" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "nope.db").exists()


def test_a_taken_port_is_one_line(demo_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = _evstore("--db", str(demo_path), "ui", "--port", str(port))
    assert done.returncode == 2 and f"cannot listen on 127.0.0.1:{port}" in done.stderr


@contextmanager
def _running(*args: str) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    environment = {k: v for k, v in os.environ.items() if k not in ("EVSTORE_DB", "EVSTORE_UI_TOKEN")}
    process = subprocess.Popen([sys.executable, "-m", "evstore", *args], stderr=subprocess.PIPE, text=True,
                               env=environment)
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        found = re.search(r"at (http://\S+)", line)
        assert found, line
        yield found.group(1), process
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)


def _get(url: str, **headers: str) -> tuple[int, dict[str, str]]:
    import urllib.error
    import urllib.request

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *a: Any, **k: Any) -> None:
            return None

    try:
        with urllib.request.build_opener(NoRedirect).open(urllib.request.Request(url, headers=headers),
                                                          timeout=30) as answer:
            return answer.status, dict(answer.headers.items())
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers.items())


def test_evstore_ui_serves_the_store_on_loopback(demo_path: Path) -> None:
    with _running("--db", str(demo_path), "ui", "--port", "0") as (url, process):
        assert url.startswith("http://127.0.0.1:") and "token" not in url
        assert _get(url)[0] == 200 and _get(url + "projections")[0] == 200
    assert process.returncode in (0, -signal.SIGINT)


def test_evstore_ui_on_all_addresses_needs_the_token_on_every_request(demo_path: Path) -> None:
    with _running("--db", str(demo_path), "ui", "--host", "0.0.0.0", "--port", "0", "--token", "generate") as (url, _):
        token = url.split("?token=", 1)[1]
        base = url.split("?", 1)[0].replace("0.0.0.0", "127.0.0.1")
        assert len(token) >= 16
        assert _get(base)[0] == 401 and _get(base + "log")[0] == 401 and _get(base + "static/ui.js")[0] == 401
        assert _get(base + "log", Authorization=f"Bearer {token}")[0] == 200
        status, headers = _get(f"{base}?token={token}")
        assert status == 303
        cookie = next(v for k, v in headers.items() if k.lower() == "set-cookie").split(";", 1)[0]
        assert _get(base + "workflows", Cookie=cookie)[0] == 200
