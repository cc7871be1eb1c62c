"""Requests counted by route template and status, with their latency (/metrics).

The route is the template that matched (`/v1/enrollments/{enrollment_id}/...`), never the
raw path: ids would make a series per learner. A request answered before any route was
tried (refused by the access gate or the body limits, an Idempotency-Key replay) or whose
path no route serves is counted under UNROUTED.
"""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

UNROUTED = "unrouted"


def route_template(scope: Scope) -> str:
    """The template of the route that handled the request (set by the router)."""
    route = scope.get("route")
    if route is None:
        return UNROUTED
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    return template if isinstance(template, str) else UNROUTED


class RequestMetrics:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            services = getattr(scope["app"].state, "services", None)
            if services is not None:  # None only before the app has started
                services.metrics.record_request(
                    scope["method"], route_template(scope), status, time.perf_counter() - started
                )
