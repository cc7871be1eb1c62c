"""What the OpenAPI document adds to every operation, so clients (and the schema-driven fuzz
test) can check it: the problem+json answers each one can give, the Idempotency-Key header on
POSTs, and the read documents' examples."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field

from api.access import PROBES
from api.guards import BODY_METHODS
from api.openapi_examples import put_examples_back
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


# What each error status means, wherever an operation can answer it.
ERROR_STATUSES = {
    "400": "The request is refused: a roster cursor that is not one, or (xAPI) anything the "
    "specification refuses, naming it",
    "401": "No API key, or an unknown one",
    "403": "The key lacks the scope this operation needs; with no keys configured, a client "
    "that is not on loopback",
    "404": "What the path or the body names does not exist",
    "409": "The change conflicts with the record (exists already, withdrawn, another rebuild)",
    "413": "The body is too large",
    "415": "The body is not JSON",
    "422": "A parameter, the Idempotency-Key or the body is invalid; `field` names it",
    "503": "The database is away or the projection is behind; retry later",
}

# The statuses each operation's own checks answer (its parameters, its body, what the ledger
# refuses), by operation id; what the layers around every route answer is added below.
# tests/test_error_statuses.py makes each of them happen on a real server.
OWN_ERRORS: dict[str, tuple[int, ...]] = {
    "learner_course_progress": (404, 422),
    "learner_progress": (422,),  # a learner with no enrollment has an empty page
    "course_roster": (400, 422),  # an unknown course has an empty roster
    "list_courses": (422,),
    "create_course": (409, 422),
    "get_enrollment": (404, 422),
    "list_learner_enrollments": (422,),
    "change_threshold": (404, 422),
    "get_course": (404, 422),
    "add_unit": (404, 422),
    "change_unit": (404, 422),
    "remove_unit": (404, 422),
    "add_module": (404, 422),
    "remove_module": (404, 422),
    "change_module": (404, 422),
    "enroll": (404, 422),  # enrolling again is 200, after a withdrawal too
    "complete_module": (404, 409, 422),
    "revoke_module": (404, 409, 422),
    "complete_unit": (404, 409, 422),
    "revoke_unit": (404, 409, 422),
    "withdraw": (404, 422),  # withdrawing twice changes nothing
    "reset": (404, 409, 422),
    "complete_in_bulk": (422,),  # each item's refusal is in its own result
    "enrollment_history": (404, 422),
    "list_projections": (),
    "list_parked": (),
    "retry_parked": (),
    "start_rebuild": (409, 422),
    "get_rebuild": (404, 422),
    "cancel_rebuild": (404, 409, 422),
    "rebuild_diff": (404, 422),
    "export": (404, 422),
    "erase": (404, 422),
    "list_webhooks": (),
    "create": (422,),
    "get": (404, 422),
    "delete": (404, 422),
    "deliveries": (404, 422),
    "delivery_attempts": (404, 422),
    "redeliver": (404, 422),
    "put_statement": (400, 409),
    "post_statements": (400, 409),
    "get_statement": (400, 404),  # its parameters are checked by the route: 400, not 422
    "unmatched": (),
    "about": (),
    "healthz": (),
    "readyz": (),
    "metrics": (),
}
# Answered without the database (the metrics say `ledger_database_up 0` instead).
NO_DATABASE = frozenset({"healthz", "about", "metrics"})


def error_statuses(path: str, method: str, operation: dict[str, Any]) -> list[str]:
    """Every status this operation can answer with a problem: its own, and those of the
    layers around it (api/access.py, api/guards.py, api/idempotency.py)."""
    name = operation["operationId"]
    if name not in OWN_ERRORS:
        raise KeyError(f"{name}: say in OWN_ERRORS which error statuses it answers")
    statuses = set(OWN_ERRORS[name])
    if "security" in operation:  # it asks for a key
        statuses.add(401)
    if path not in PROBES:  # a key without the scope; with no keys, a client off loopback
        statuses.add(403)
    if method.upper() in BODY_METHODS:  # BodyGuard reads the body, whatever the route
        statuses |= {413, 415}
    if method == "post":  # an invalid Idempotency-Key
        statuses.add(422)
    if name not in NO_DATABASE:
        statuses.add(503)
    return [str(status) for status in sorted(statuses)]


def document_errors(document: dict[str, Any]) -> None:
    """Each operation lists exactly its own error statuses, each answered by the one
    `Problem` (FastAPI's own 422 and its HTTPValidationError give way to it)."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            for status in [s for s in responses if s.startswith(("4", "5"))]:
                del responses[status]
            for status in error_statuses(path, method, operation):
                responses[status] = problem_response(ERROR_STATUSES[status])
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
            put_examples_back(app, document)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
