"""What every request passes before a page sees it: the Host check, read-only methods,
the token, and the headers that keep a page from running anything it did not ship.

A pure ASGI middleware, so it wraps streamed responses (the live tail) too.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.datastructures import Headers
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Loopback names: a page on another site that rebinds its DNS name to 127.0.0.1 still
# sends its own name as Host, so refusing unknown hosts keeps it from reading the
# dashboard (the browser would otherwise treat the answers as same-origin to it).
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
READ_METHODS = frozenset({"GET", "HEAD"})
SECURITY_HEADERS = [
    (b"content-security-policy",
     b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
     b"connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cache-control", b"no-store"),
]


class RequestGuard:
    def __init__(self, app: ASGIApp, *, token: str | None, allowed_hosts: Sequence[str] | None) -> None:
        self.app = app
        self.token = token
        hosts = LOOPBACK_HOSTS if allowed_hosts is None else tuple(allowed_hosts)
        self.any_host = "*" in hosts
        self.hosts = frozenset(h.lower().strip("[]") for h in hosts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = self._refusal(scope)
        send = _with_security_headers(send)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _refusal(self, scope: Scope) -> Response | None:
        headers = Headers(scope=scope)
        if not self.any_host and _host_name(headers.get("host", "")) not in self.hosts:
            return PlainTextResponse(
                "Unknown Host header: this dashboard answers only to the names it was started for "
                "(see `evstore ui --help`, --host).", status_code=421,
            )
        if scope["method"] not in READ_METHODS:
            return PlainTextResponse("The dashboard is read-only: only GET and HEAD.", status_code=405,
                                     headers={"Allow": "GET, HEAD"})
        if self.token is None:
            return None
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True))
        offered = query.get("token")
        if offered is not None and self._matches(offered):
            # Trade the URL's token for a cookie and drop it from the address bar (and
            # from the history and any Referer), then let the page load normally.
            rest = urlencode({k: v for k, v in query.items() if k != "token"})
            target = scope.get("root_path", "") + scope["path"] + (f"?{rest}" if rest else "")
            response = RedirectResponse(target, status_code=303)
            response.set_cookie(self.cookie_name(scope), offered, httponly=True, samesite="strict",
                                path=scope.get("root_path", "") or "/")
            return response
        if self._matches(_bearer(headers)) or self._matches(_cookie(headers, self.cookie_name(scope))):
            return None
        return PlainTextResponse(
            "This dashboard needs its token: open the URL `evstore ui` printed (it ends in "
            "?token=...), or send `Authorization: Bearer TOKEN`.", status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )

    def _matches(self, offered: str | None) -> bool:
        assert self.token is not None
        return offered is not None and hmac.compare_digest(offered.encode(), self.token.encode())

    @staticmethod
    def cookie_name(scope: Scope) -> str:
        # Cookies ignore ports: two dashboards on one host must not overwrite each other's.
        server = scope.get("server") or ("", 0)
        return f"evstore_ui_token_{server[1] or 0}"


def _host_name(host: str) -> str:
    host = host.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _bearer(headers: Headers) -> str | None:
    value = headers.get("authorization", "")
    scheme, _, credentials = value.partition(" ")
    return credentials.strip() if scheme.lower() == "bearer" and credentials.strip() else None


def _cookie(headers: Headers, name: str) -> str | None:
    cookie: SimpleCookie = SimpleCookie()
    try:
        cookie.load(headers.get("cookie", ""))
    except Exception:  # a malformed Cookie header is just no cookie
        return None
    morsel = cookie.get(name)
    return morsel.value if morsel is not None else None


def _with_security_headers(send: Send) -> Send:
    async def sender(message: Message) -> None:
        if message["type"] == "http.response.start":
            present = {k.lower() for k, _ in message.get("headers", [])}
            extra: list[Any] = [(k, v) for k, v in SECURITY_HEADERS if k not in present]
            message = {**message, "headers": [*message.get("headers", []), *extra]}
        await send(message)

    return sender
