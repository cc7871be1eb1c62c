"""The Statements and About resources of xAPI 1.0.3 and 2.0, at /xapi/.

Every answer carries `X-Experience-API-Version`; every request to the Statements resource
must send one (1.0.x or 2.0.x). Writes are all or nothing: a refused request keeps nothing.
"""

from __future__ import annotations

import json
from typing import Annotated, Any
from uuid import UUID

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from api.actors import acting_of
from api.dependencies import Services
from api.problems import STATUS_OF, problem
from api.schemas import COURSE_IRI, example
from bootstrap import LedgerServices
from domain.acting import Acting
from domain.errors import LedgerError
from domain.xapi_commands import StatementConflict
from domain.xapi_validation import InvalidStatement
from ledger.xapi_intake import IntakeOptions, StatementIntake
from projections.collector import collector_paused
from projections.xapi_unmatched import unmatched_activities

router = APIRouter(prefix="/xapi", tags=["xAPI"])
about_router = APIRouter(prefix="/xapi", tags=["xAPI"])
unmatched_router = APIRouter(tags=["xAPI"])

STATEMENTS_PATH = "/xapi/statements"
VERSION_HEADER = "X-Experience-API-Version"
SUPPORTED = ("1.0.3", "2.0.0")


STATEMENT_ID = "9a3c2f0e-5b7d-4e1a-8c6f-2d4b1a0e9f73"
STATEMENT = {
    "id": STATEMENT_ID,
    "actor": {
        "objectType": "Agent",
        "name": "Ada",
        "account": {"homePage": "https://lms.example.org", "name": "ada"},
    },
    "verb": {"id": "http://adlnet.gov/expapi/verbs/completed", "display": {"en-US": "completed"}},
    "object": {"objectType": "Activity", "id": COURSE_IRI},
    "result": {"completion": True},
    "timestamp": "2024-05-01T10:00:00Z",
}
OBJECT = {"type": "object", "description": "An xAPI statement"}
# Documented only: the route reads the header itself, so that a missing or unknown version is
# answered 400 as xAPI says (a FastAPI parameter would answer 422).
VERSION_PARAMETER = {
    "name": "X-Experience-API-Version",
    "in": "header",
    "required": True,
    "description": "The xAPI version the client speaks: 1.0.x or 2.0.x",
    "schema": {"type": "string", "pattern": "^(1\\.0|2\\.0)", "examples": ["2.0.0"]},
}
VERSION_ANSWERED = {
    "X-Experience-API-Version": {
        "description": "The version the answer is in",
        "schema": {"type": "string", "examples": ["2.0.0"]},
    }
}


def answered_version(request: Request) -> str | None:
    """The version this LRS answers in for the request's, or None when it speaks no such."""
    asked = request.headers.get(VERSION_HEADER, "")
    if asked.startswith("1.0"):
        return "1.0.3"
    if asked.startswith("2.0"):
        return "2.0.0"
    return None


def with_version(response: Response, version: str) -> Response:
    response.headers[VERSION_HEADER] = version
    return response


def refused(status: int, detail: str, field: str | None, version: str) -> Response:
    return with_version(problem(status, detail, field=field), version)


def intake_of(services: LedgerServices) -> StatementIntake:
    settings = services.settings
    options = IntakeOptions(
        learner_identifier=settings.xapi_learner_identifier, enroll=settings.xapi_enroll
    )
    return StatementIntake(services.ledger, options)


def parsed(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return InvalidStatement("the body is not JSON", field="body")


def kept_or_refused(
    intake: StatementIntake, acting: Acting, body: bytes, version: str, one_id: str | None
) -> list[str] | Response:
    """Parsing, checking and keeping, off the event loop and with the collector paused (a
    thousand statements make many objects that all live until the answer)."""
    with collector_paused():
        sent = parsed(body)
        if isinstance(sent, InvalidStatement):
            return refused(400, sent.message, sent.field, version)
        if one_id is not None:  # PUT: one statement, under the id in the query
            if not isinstance(sent, dict):
                return refused(400, "the body must be one statement", "body", version)
            given = sent.get("id")
            if given is not None and str(given).lower() != one_id.lower():
                return refused(400, "the statement's id differs from statementId", "id", version)
            sent = {**sent, "id": one_id.lower()}
        many = isinstance(sent, list)
        statements = sent if many else [sent]
        if not statements:
            return refused(400, "the array holds no statement", "body", version)
        path = "statements[{index}]" if many else "statement"
        stored_version = "2.0.0" if version.startswith("2") else "1.0.0"
        try:
            return intake.receive(statements, acting, stored_version, path)
        except InvalidStatement as error:
            return refused(400, error.message, error.field, version)
        except StatementConflict as error:
            return refused(409, error.message, error.field, version)
        except LedgerError as error:
            return refused(STATUS_OF.get(type(error), 400), error.message, error.field, version)


async def keep(
    request: Request, services: Services, version: str, one_id: str | None = None
) -> list[str] | Response:
    body = await request.body()
    intake, acting = intake_of(services), acting_of(request)
    return await run_in_threadpool(kept_or_refused, intake, acting, body, version, one_id)


@router.put(
    STATEMENTS_PATH.removeprefix("/xapi"),
    status_code=204,
    responses={204: {"description": "Stored (or stored before)", "headers": VERSION_ANSWERED}},
    openapi_extra={
        "parameters": [VERSION_PARAMETER],
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": OBJECT, "example": STATEMENT}},
        },
    },
)
async def put_statement(
    request: Request,
    services: Services,
    # Checked here, not by FastAPI: xAPI answers a missing one 400, like every refusal.
    statement_id: Annotated[
        str | None, Query(alias="statementId", description="Required: the statement's UUID")
    ] = None,
) -> Response:
    """Store one statement under the id given; the same again is no new effect (204)."""
    version = answered_version(request)
    if version is None:
        return no_version()
    if statement_id is None or not valid_uuid(statement_id):
        return refused(400, "statementId must be a UUID", "statementId", version)
    kept = await keep(request, services, version, statement_id)
    if isinstance(kept, Response):
        return kept
    return with_version(Response(status_code=204), version)


@router.post(
    STATEMENTS_PATH.removeprefix("/xapi"),
    response_model=list[str],
    responses={
        200: {
            "description": "The statements' ids, in order",
            "headers": VERSION_ANSWERED,
            "content": {"application/json": {"example": [STATEMENT_ID]}},
        }
    },
    openapi_extra={
        "parameters": [VERSION_PARAMETER],
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"anyOf": [OBJECT, {"type": "array", "items": OBJECT}]},
                    "example": [STATEMENT],
                }
            },
        },
    },
)
async def post_statements(request: Request, services: Services) -> Response:
    """Store one statement or an array of them, all or none; their ids, in order."""
    version = answered_version(request)
    if version is None:
        return no_version()
    kept = await keep(request, services, version)
    if isinstance(kept, Response):
        return kept
    # orjson: a thousand ids through the standard library's encoder cost more (same JSON).
    return with_version(Response(orjson.dumps(kept), media_type="application/json"), version)


@router.get(
    STATEMENTS_PATH.removeprefix("/xapi"),
    responses={
        200: {
            "description": "The statement as stored (with what the LRS sets)",
            "headers": VERSION_ANSWERED,
            "content": {
                "application/json": {
                    "schema": OBJECT,
                    "example": {
                        **STATEMENT,
                        "stored": "2024-05-01T10:00:02.118Z",
                        "authority": {
                            "objectType": "Agent",
                            "account": {"homePage": "urn:progress-ledger:api-key", "name": "lms"},
                        },
                        "version": "2.0.0",
                    },
                }
            },
        }
    },
    openapi_extra={"parameters": [VERSION_PARAMETER]},
)
async def get_statement(
    request: Request,
    services: Services,
    statement_id: Annotated[str | None, Query(alias="statementId")] = None,
    voided_statement_id: Annotated[str | None, Query(alias="voidedStatementId")] = None,
) -> Response:
    """One statement by `statementId` (not voided) or `voidedStatementId` (voided)."""
    version = answered_version(request)
    if version is None:
        return no_version()
    if (statement_id is None) == (voided_statement_id is None):
        return refused(
            400,
            "send exactly one of statementId or voidedStatementId (queries are not served)",
            "statementId",
            version,
        )
    wanted = statement_id or voided_statement_id or ""
    field = "statementId" if statement_id else "voidedStatementId"
    if not valid_uuid(wanted):
        return refused(400, f"{field} must be a UUID", field, version)
    kept = await run_in_threadpool(intake_of(services).stored, wanted)
    voided = voided_statement_id is not None
    if kept is None or (kept.voided_by is not None) != voided:
        return refused(404, f"no {'voided ' if voided else ''}statement {wanted}", field, version)
    try:
        document = json.loads(kept.statement)
    except ValueError:  # its learner was erased
        return refused(404, f"no statement {wanted}", field, version)
    return with_version(JSONResponse(document), version)


class AboutOut(BaseModel):
    model_config = example({"version": list(SUPPORTED)})

    version: list[str]


@about_router.get("/about", response_model=AboutOut)
async def about() -> Response:
    """The xAPI versions this LRS speaks."""
    return with_version(JSONResponse({"version": list(SUPPORTED)}), SUPPORTED[-1])


def valid_uuid(text: str) -> bool:
    try:
        UUID(text)
    except ValueError:
        return False
    return len(text) == 36


def no_version() -> Response:
    return with_version(
        problem(400, f"send {VERSION_HEADER}: 1.0.3 or 2.0.0", field=VERSION_HEADER),
        SUPPORTED[-1],
    )


class UnmatchedOut(BaseModel):
    model_config = example(
        {
            "activities": {
                "https://lms.example.org/xblock/block-v1:Org+Intro+2024+type@problem+block@q7": 12,
                "https://lms.example.org/xblock/block-v1:Org+Intro+2024+type@video+block@v2": 3,
            },
            "statements": 15,
        }
    )

    activities: dict[str, int]
    statements: int


@unmatched_router.get("/v1/xapi/unmatched")
async def unmatched(services: Services) -> UnmatchedOut:
    """Statements kept about activities no course, unit or module was linked to, counted by
    activity IRI (most first): the links an operator may be missing."""
    ledger = services.ledger
    counts = await run_in_threadpool(unmatched_activities, ledger.recorder, ledger.mapper)
    return UnmatchedOut(activities=counts, statements=sum(counts.values()))
