"""Refuses request bodies that are too large (413) or not JSON (415) before any route runs.

The body is read here, bounded, and handed on whole: the routes (and the Idempotency-Key
check) then see exactly the bytes that were measured.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.problems import problem

BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            text: str = value.decode("latin-1")
            return text
    return None


NDJSON = "application/x-ndjson"
FORM = "application/x-www-form-urlencoded"


def media_type(content_type: str | None) -> str:
    return "" if content_type is None else content_type.split(";", 1)[0].strip().lower()


def is_json(content_type: str | None) -> bool:
    kind = media_type(content_type)
    return kind == "application/json" or (
        kind.startswith("application/") and kind.endswith("+json")
    )


async def read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole body, or None as soon as it passes `limit` bytes."""
    chunks = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def replaying(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


class BodyGuard:
    """`bulk_paths` take NDJSON as well as JSON, up to the larger bulk body size;
    `form_paths` (the pages' forms) take a form's url-encoded body instead."""

    def __init__(
        self,
        app: ASGIApp,
        bulk_paths: frozenset[str] = frozenset(),
        form_paths: frozenset[str] = frozenset(),
    ) -> None:
        self.app = app
        self.bulk_paths = bulk_paths
        self.form_paths = form_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in BODY_METHODS:
            await self.app(scope, receive, send)
            return
        settings = scope["app"].state.services.settings
        bulk = scope["path"] in self.bulk_paths
        limit: int = settings.max_batch_body_bytes if bulk else settings.max_body_bytes
        declared = header(scope, b"content-length")
        content_type = header(scope, b"content-type")
        too_large = declared is not None and declared.isdigit() and int(declared) > limit
        body = None if too_large else await read_body(receive, limit)
        if body is None:
            refused = problem(413, f"the request body is larger than {limit} bytes", field="body")
            await refused(scope, receive, send)
            return
        if scope["path"] in self.form_paths:
            if body and media_type(content_type) != FORM:
                unsupported = problem(415, f"the form body must be {FORM}", field="Content-Type")
                await unsupported(scope, receive, send)
                return
        elif body and not (is_json(content_type) or (bulk and media_type(content_type) == NDJSON)):
            accepted = "application/json or application/x-ndjson" if bulk else "application/json"
            unsupported = problem(415, f"the request body must be {accepted}", field="Content-Type")
            await unsupported(scope, receive, send)
            return
        await self.app(scope, replaying(body, receive), send)
