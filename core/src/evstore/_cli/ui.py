"""``evstore ui``: serve the read-only dashboard on a store."""

from __future__ import annotations

import ipaddress
import os
import secrets
import shlex
import socket
import threading
import webbrowser
from pathlib import Path
from typing import Any

import click

from ._shared import CommandError, database_path, db_option, open_store

ENV_TOKEN = "EVSTORE_UI_TOKEN"
DEFAULT_PORT = 8765


@click.command("ui", short_help="Look at the store in a browser (read-only dashboard).")
@db_option
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind. Anything but loopback needs --token.")
@click.option("--port", type=click.IntRange(0, 65535), default=DEFAULT_PORT, show_default=True,
              help="Port to bind (0: any free port).")
@click.option("--token", envvar=ENV_TOKEN, show_envvar=True, default=None,
              help="Require this token on every request ('generate' makes one up and prints it).")
@click.option("--open", "open_browser", is_flag=True, help="Open the dashboard in the default browser.")
def ui_command(db: Path | None, host: str, port: int, token: str | None, open_browser: bool) -> None:
    """Serve a dashboard of the store: the log (filters, keyset pages, each event's
    envelope, payload and causation chain, a live tail), each workflow's timeline, the
    projections' health, and the pages and panels plugins contribute.

    The store is opened read-only and no page writes. It binds 127.0.0.1 unless told
    otherwise; binding any other address requires --token, and every request must then
    carry it (the printed URL does, once; the browser keeps it in a cookie).

    Needs the ui extra: pip install 'evstore[ui]'. Stop it with Ctrl-C.

    Exit status: 0 stopped; 2 no database at the path, the extra is missing, the
    address is taken, or another address without --token.
    """
    try:
        import uvicorn

        from ..ui import create_app
    except ModuleNotFoundError as error:
        raise CommandError(
            f"evstore ui needs the ui extra ({error.name} is not installed): pip install 'evstore[ui]'"
        ) from None
    loopback = _is_loopback(host)
    if not loopback and not token:
        raise CommandError(
            f"binding {host} would show the store to the network: pass --token SECRET (or --token generate), "
            "and every request will need it; or bind 127.0.0.1"
        )
    if token == "generate":
        token = secrets.token_urlsafe(24)
    if token is not None and len(token) < 16:
        raise CommandError("the token is too short to protect anything: use at least 16 characters "
                           "(or --token generate)")
    sock = _bind(host, port)
    store = _open_read_only(db)
    try:
        bound_port = sock.getsockname()[1]
        app = create_app(store, token=token, allowed_hosts=None if loopback else ["*"])
        shown_host = f"[{host}]" if ":" in host else host
        url = f"http://{shown_host}:{bound_port}/" + (f"?token={token}" if token else "")
        click.echo(f"evstore ui: {database_path(db)} at {url}  (read-only; Ctrl-C stops it)", err=True)
        config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=1, access_log=False)
        server = uvicorn.Server(config)
        if open_browser:
            threading.Thread(target=_open_when_started, args=(server, url), daemon=True).start()
        try:
            server.run(sockets=[sock])
        except KeyboardInterrupt:
            pass  # uvicorn re-raises the Ctrl-C it shut down on: stopping is this command's normal end
    finally:
        sock.close()
        store.close()


def _open_read_only(db: Path | None) -> Any:
    """The store, read-only: no schema creation, migrations or catch-up, and every write
    raises. A missing database is the same one-line error every command gives."""
    from .. import EventStore

    path = database_path(db)
    if not path.exists():
        open_store(db)  # raises the CommandError that names the path and `evstore init`
    return EventStore.open(path, read_only=True)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound before the store opens, so a taken port is one clear
    line and nothing else happens."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    if os.name != "nt":
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as error:
        sock.close()
        raise CommandError(
            f"cannot listen on {host}:{port}: {error.strerror or error}. Choose another --port "
            f"(or stop what uses it), e.g. `evstore ui --port {port + 1 if port else 0}`"
        ) from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def _open_when_started(server: Any, url: str) -> None:
    import time

    for _ in range(100):
        if server.started:
            webbrowser.open(url)
            return
        time.sleep(0.05)


def command_line(db: Path) -> str:
    """The command that opens the dashboard on ``db`` (what `make demo` prints)."""
    return f"evstore --db {shlex.quote(str(db))} ui --open"
