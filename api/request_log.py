"""One JSON line per request on stderr, and a request id echoed in `X-Request-ID`.

The line holds method, path, status, duration, request id and the key's name: never the
key itself, the query string or the body.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import sys
import time
from random import getrandbits
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.guards import header

REQUEST_ID_HEADER = "X-Request-ID"
REQUEST_ID_KEY = REQUEST_ID_HEADER.lower().encode()
# A caller's own request id is kept when it is short and plain; anything else is replaced.
ACCEPTED_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")

log = logging.getLogger("progress_ledger.requests")


def configure_request_log() -> None:
    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False


def new_request_id() -> str:
    """32 random hex digits: an id to find a request by, not a secret, so no system call."""
    return f"{getrandbits(128):032x}"


class LineWriter:
    """The request lines of one turn of the event loop, written together at its end: the
    requests a batch of commands settles all answer in the same turn, and a write (with
    its flush) per line cost more than making the line. Written through the logger's own
    handlers unless the logger was configured otherwise, then line by line through it."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, line: str) -> None:
        if not self.lines:
            try:
                asyncio.get_running_loop().call_soon(self.flush)
            except RuntimeError:  # no loop (never under a server): write at once
                self.lines.append(line)
                self.flush()
                return
        self.lines.append(line)

    def flush(self) -> None:
        lines, self.lines = self.lines, []
        handlers = log.handlers
        streams = [getattr(handler, "stream", None) for handler in handlers]
        if (
            len(handlers) != 1
            or type(handlers[0]) is not logging.StreamHandler
            or streams[0] is None
            or not log.isEnabledFor(logging.INFO)
        ):
            for line in lines:
                log.info(line)
            return
        handler = handlers[0]
        handler.acquire()
        try:
            streams[0].write("".join(f"{line}\n" for line in lines))
            streams[0].flush()
        finally:
            handler.release()


def as_json(line: dict[str, Any]) -> str:
    try:
        return orjson.dumps(line).decode()
    except TypeError:  # a path orjson will not encode (a lone surrogate): json escapes it
        return json.dumps(line, separators=(",", ":"))


class RequestLog:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.lines = LineWriter()
        configure_request_log()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        offered = header(scope, REQUEST_ID_KEY)
        request_id = offered if offered and ACCEPTED_REQUEST_ID.match(offered) else new_request_id()
        scope.setdefault("state", {})["request_id"] = request_id
        id_header = (REQUEST_ID_KEY, request_id.encode("latin-1"))
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = message.get("headers") or ()
                message["headers"] = [h for h in headers if h[0].lower() != REQUEST_ID_KEY]
                message["headers"].append(id_header)
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            line: dict[str, Any] = {
                "event": "request",
                "method": scope["method"],
                "path": scope["path"],
                "status": status,
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                "request_id": request_id,
            }
            key_name = scope["state"].get("key_name")
            if key_name:
                line["key"] = key_name
            self.lines.add(as_json(line))
