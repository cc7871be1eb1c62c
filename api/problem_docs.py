"""The problem+json answers, documented in OpenAPI for every operation, so clients (and the
schema-driven fuzz test) can check each error against a schema."""

from __future__ import annotations

from typing import Any

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
