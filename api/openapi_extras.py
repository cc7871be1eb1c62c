"""What the OpenAPI document adds to every operation, so clients (and the schema-driven fuzz
test) can check it: the problem+json answers, and the Idempotency-Key header on POSTs."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field

from api.problems import PROBLEM_JSON


class Problem(BaseModel):
    """RFC 9457 problem details; `field` names the input at fault."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": "about:blank",
                    "title": "Not found",
                    "status": 404,
                    "detail": "course 'intro' has no unit 'u9'",
                    "field": "unit_id",
                }
            ]
        }
    )

    type: str
    title: str
    status: int
    detail: str
    field: str | None = None
    errors: list[dict[str, str]] | None = Field(
        None, description="Every invalid input: its `field`, where it was (`in`) and a `message`"
    )


PROBLEM_SCHEMA = {"$ref": "#/components/schemas/Problem"}


def problem_response(description: str) -> dict[str, Any]:
    """One shared `Problem` component, referred to by every error answer."""
    return {"description": description, "content": {PROBLEM_JSON: {"schema": PROBLEM_SCHEMA}}}


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    503: problem_response("The database is away or the projection is behind; retry later"),
}
# What each error status means, wherever an operation can answer it.
ERROR_STATUSES = {
    "400": "The query is refused (a cursor of another sort, a range upside down; for xAPI, "
    "any request the specification refuses), naming it",
    "401": "No API key, or an unknown one",
    "403": "The key lacks the scope this operation needs",
    "404": "What the path or the body names does not exist",
    "409": "The change conflicts with the record (exists already, withdrawn, changed meanwhile)",
    "413": "The body is too large",
    "415": "The body is not JSON",
    "422": "A parameter or the body is invalid; `field` names it",
}


def error_statuses(path: str, method: str, operation: dict[str, Any]) -> list[str]:
    """The statuses this operation can answer with a problem, from what it takes."""
    statuses = ["401", "403"]
    if operation.get("parameters") or "requestBody" in operation:
        statuses.append("422")
    if "{" in path or "requestBody" in operation:  # a body names courses and enrollments too
        statuses.append("404")
    if method in ("post", "put", "patch", "delete"):
        statuses.append("409")
    if "requestBody" in operation:
        statuses += ["413", "415"]
    if (
        method == "get" and any(p.get("name") == "after" for p in operation.get("parameters", []))
    ) or path.startswith("/xapi/statements"):
        statuses.append("400")
    return sorted(statuses)


def document_errors(document: dict[str, Any]) -> None:
    """Each operation lists its own error statuses, each answered by the one `Problem`."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            for status in error_statuses(path, method, operation):
                responses.setdefault(status, problem_response(ERROR_STATUSES[status]))
            validation = responses.get("422", {}).get("content", {})
            if "application/json" in validation:  # FastAPI's own HTTPValidationError
                responses["422"] = problem_response(ERROR_STATUSES["422"])
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)


IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Repeat the request with the same key to get the first answer again "
    "without recording anything twice; the same key with another request is 422",
    "schema": {"type": "string", "pattern": "^[\\x21-\\x7e]{1,255}$"},
}


def document_idempotency_key(app: FastAPI) -> None:
    """Adds the Idempotency-Key header (handled by api.idempotency) to every POST."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = build()
            for operations in document.get("paths", {}).values():
                if "post" in operations:
                    operations["post"].setdefault("parameters", []).append(IDEMPOTENCY_KEY)
            document_errors(document)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
