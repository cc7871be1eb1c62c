"""What the OpenAPI document adds to every operation, so clients (and the schema-driven fuzz
test) can check it: the problem+json answers, and the Idempotency-Key header on POSTs."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, Field

from api.problems import PROBLEM_JSON


class Problem(BaseModel):
    """RFC 9457 problem details; `field` names the input at fault."""

    type: str
    title: str
    status: int
    detail: str
    field: str | None = None
    errors: list[dict[str, str]] | None = Field(
        None, description="Every invalid input: its `field`, where it was (`in`) and a `message`"
    )


def problem_response(description: str) -> dict[str, Any]:
    schema = Problem.model_json_schema()
    return {"description": description, "content": {PROBLEM_JSON: {"schema": schema}}}


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    "4XX": problem_response(
        "The request was refused (400, 401 no or unknown key, 403 missing scope, 404, 409, "
        "413 body too large, 415 not JSON, 422 invalid, naming the field)"
    ),
    503: problem_response("The database is away or the projection is behind; retry later"),
}


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
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
