"""The live tail: server-sent events carrying each new matching event as a table row.

The stream polls the log (twice a second) from a worker thread, so the event loop never
blocks on the database and each poll uses that thread's own connection. It resumes
from the browser's ``Last-Event-ID`` after a reconnect, so a dropped connection loses
nothing. Polling, not a wake-up from the writer: the writer may be another process.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import anyio
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse

from .._errors import InvalidArgumentError
from . import _log
from ._server import query_int, ui_state

POLL_SECONDS = 0.5
KEEPALIVE_SECONDS = 15.0


async def live_tail(request: Request) -> Response:
    try:
        log_filter = _log.LogFilter.from_params(request.query_params)
        after = query_int(request.query_params, "after")
        resume = request.headers.get("last-event-id", "").strip()
        if resume.isdigit():
            after = int(resume)
    except InvalidArgumentError as error:
        return PlainTextResponse(str(error), status_code=400)
    state = ui_state(request)
    if after is None:
        after = await anyio.to_thread.run_sync(state.store.head)
    row_macro = state.env.get_template("_rows.html").module.event_row  # type: ignore[attr-defined]
    prefix = request.scope.get("root_path", "")

    async def stream() -> AsyncIterator[str]:
        position = sent = after
        quiet = 0.0
        yield f"retry: 2000\nid: {position}\n\n"
        while not await request.is_disconnected():
            events, position = await anyio.to_thread.run_sync(_log.events_after, state.store, log_filter, position)
            for event in events:
                data = json.dumps({"id": event.id, "html": str(row_macro(event, prefix, True))})
                yield f"id: {event.id}\nevent: append\ndata: {data}\n\n"
            if position != sent:
                # An id-only message moves the browser's Last-Event-ID past events the
                # filter skipped, so a reconnect does not search them again.
                sent = position
                yield f"id: {position}\n\n"
            if events:
                continue
            await anyio.sleep(POLL_SECONDS)
            quiet += POLL_SECONDS
            if quiet >= KEEPALIVE_SECONDS:
                quiet = 0.0
                yield ": keep-alive\n\n"

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
