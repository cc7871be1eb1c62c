"""Every error as RFC 9457 application/problem+json, naming the field at fault."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import IntegrityError, PersistenceError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from domain.errors import (
    AlreadyExistsError,
    ConcurrencyError,
    EnrollmentWithdrawnError,
    InvalidStructureError,
    LedgerError,
    NotFoundError,
)

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"

STATUS_OF: dict[type[LedgerError], int] = {
    NotFoundError: 404,
    AlreadyExistsError: 409,
    EnrollmentWithdrawnError: 409,
    InvalidStructureError: 422,
    ConcurrencyError: 503,
}

TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Content too large",
    415: "Unsupported media type",
    422: "Invalid request",
    500: "Internal server error",
    503: "Service unavailable",
}


class ServiceUnavailable(Exception):
    """The service cannot answer now (database away, projection behind); retry later."""

    def __init__(self, detail: str, *, retry_after: int = 1, field: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.retry_after = retry_after
        self.field = field


def problem(
    status: int,
    detail: str,
    *,
    field: str | None = None,
    errors: Sequence[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    if field is not None:
        body["field"] = field
    if errors:
        body["errors"] = list(errors)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def field_name(location: Sequence[str | int]) -> str:
    """("body", "units", 0, "unit_id") → "units[0].unit_id"; ("path", "course_id") → "course_id"."""
    parts = (
        list(location[1:])
        if location and location[0] in ("body", "path", "query")
        else list(location)
    )
    name = ""
    for part in parts:
        if isinstance(part, int):
            name += f"[{part}]"
        else:
            name += f".{part}" if name else str(part)
    return name or "body"


METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at this path, asked of each route (included routers
    too) as Starlette's router does; HEAD wherever GET is (see api/head_requests.py).
    Starlette's own 405 names only the first route that matched the path."""
    methods = {
        method
        for method in METHODS
        for route in request.app.router.routes
        if route.matches({**request.scope, "method": method})[0] == Match.FULL
    }
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods)


def unparsable_body(error: StarletteHTTPException) -> str:
    """FastAPI answers a bare 400 when parsing the body fails other than by a JSON syntax
    error: nesting too deep (RecursionError), bytes that are not UTF-8."""
    cause = error.__cause__
    if isinstance(cause, RecursionError):
        return "the body is not JSON the API accepts: it is nested too deeply"
    if isinstance(cause, UnicodeDecodeError):
        return "the body is not JSON: it is not valid UTF-8"
    return "the body is not JSON"


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    def invalid_request(_: Request, error: RequestValidationError) -> JSONResponse:
        errors = [
            {
                # A body that is not JSON has no field; its loc ends in a character offset.
                "field": "body" if e["type"] == "json_invalid" else field_name(e["loc"]),
                "in": e["loc"][0] if e["loc"] else "body",
                "message": e["msg"],
            }
            for e in error.errors()
        ]
        first = errors[0] if errors else {"field": "body", "message": "invalid"}
        return problem(
            422, f"{first['field']}: {first['message']}", field=first["field"], errors=errors
        )

    @app.exception_handler(LedgerError)
    def refused(_: Request, error: LedgerError) -> JSONResponse:
        status = next((s for kind, s in STATUS_OF.items() if isinstance(error, kind)), 400)
        headers = {"Retry-After": "1"} if status == 503 else None
        return problem(status, error.message, field=error.field, headers=headers)

    @app.exception_handler(ServiceUnavailable)
    def unavailable(_: Request, error: ServiceUnavailable) -> JSONResponse:
        return problem(
            503, error.detail, field=error.field, headers={"Retry-After": str(error.retry_after)}
        )

    @app.exception_handler(IntegrityError)
    def conflict(_: Request, error: IntegrityError) -> JSONResponse:
        return problem(409, "the record changed concurrently; retry the request")

    @app.exception_handler(PersistenceError)
    def database_away(_: Request, error: PersistenceError) -> JSONResponse:
        log.warning("database unavailable: %s", error)
        return problem(
            503, "the database is unavailable; retry shortly", headers={"Retry-After": "2"}
        )

    @app.exception_handler(StarletteHTTPException)
    def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        headers = dict(error.headers or {})
        if error.status_code == 400:
            # The app raises no HTTPException itself: a 400 is FastAPI failing to parse a body,
            # refused like every other malformed body.
            return problem(422, f"body: {unparsable_body(error)}", field="body")
        if error.status_code == 405:
            headers["Allow"] = ", ".join(allowed_methods(request))
        return problem(error.status_code, str(error.detail), headers=headers)

    @app.exception_handler(Exception)
    def unexpected(_: Request, error: Exception) -> JSONResponse:
        log.exception("unexpected error")
        return problem(500, "an unexpected error occurred; it has been logged")
