"""Enrollments and the completions learners make."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from uuid import UUID

import orjson
from fastapi import APIRouter, Request, Response, status
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from api.access import AnswerAtOnce, answered_at_once
from api.dependencies import ModuleId, Services, UnitId, services_of
from api.schemas import VALID_ID, Appended, CompletionIn, EnrollmentIn, EnrollmentOut
from domain.commands import (
    Change,
    ChangeEnrollment,
    Recorded,
    completing_module,
    completing_unit,
    withdrawing,
)
from ledger.application import ProgressLedger, enrolled, now

router = APIRouter(prefix="/v1/enrollments", tags=["enrollments"])


def appended(enrollment_id: UUID, recorded: Recorded) -> Response:
    """The `Appended` body, serialised directly: FastAPI would validate it through pydantic
    again, which costs more than the rest of the answer."""
    body = {
        "enrollment_id": str(enrollment_id),
        "appended": recorded.appended,
        "position": recorded.position,
    }
    return Response(orjson.dumps(body), media_type="application/json")


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses={200: {"model": EnrollmentOut, "description": "Already enrolled"}},
)
async def enroll(body: EnrollmentIn, services: Services, response: Response) -> EnrollmentOut:
    """Enroll a learner in a course: 201 when new, 200 when the enrollment existed."""
    command = await run_in_threadpool(
        services.ledger.enroll_command, body.learner_id, body.course_id
    )
    outcome = enrolled(command, await services.ledger.decide(command))
    if not outcome.created:
        response.status_code = status.HTTP_200_OK
    return EnrollmentOut(
        enrollment_id=str(command.enrollment_id),
        learner_id=body.learner_id,
        course_id=body.course_id,
        position=outcome.recorded.position,
    )


async def change_enrollment(
    ledger: ProgressLedger, enrollment_id: UUID, change: Change
) -> Recorded:
    return await ledger.decide(ChangeEnrollment(enrollment_id, change))


# The canonical spelling only: any other the path's UUID accepts takes the full path.
CANONICAL_UUID = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")


async def occurred_at(request: Request) -> datetime | None:
    """The body's `occurred_at`, or now when there is no body; None when the body does not
    validate through `CompletionIn` (the full path then refuses it, naming the field)."""
    body = await request.body()
    if not body:
        return now()
    try:
        completion = CompletionIn.model_validate_json(body)
    except ValidationError:
        return None
    return completion.occurred_at or now()


def changing_at_once(param: str | None, make: Callable[..., Change]) -> AnswerAtOnce:
    """The fast answer of a route whose change is `make(path_param, when)`, or `make(when)`
    without a path parameter."""

    async def answer(request: Request) -> Response | None:
        path = request.path_params
        raw_id: str = path["enrollment_id"]
        target: str | None = path[param] if param else None
        if (
            request.scope["query_string"]
            or not CANONICAL_UUID.fullmatch(raw_id)
            or (target is not None and not VALID_ID.fullmatch(target))
        ):
            return None
        when = await occurred_at(request)
        if when is None:
            return None
        enrollment_id = UUID(raw_id)
        change = make(when) if target is None else make(target, when)
        ledger = services_of(request).ledger
        return appended(enrollment_id, await change_enrollment(ledger, enrollment_id, change))

    return answer


async def complete_module(
    enrollment_id: UUID, module_id: ModuleId, request: Request, body: CompletionIn | None = None
) -> Response:
    """Record a completed module; completing a unit's last module completes the unit."""
    change = completing_module(module_id, (body and body.occurred_at) or now())
    return appended(
        enrollment_id, await change_enrollment(services_of(request).ledger, enrollment_id, change)
    )


async def complete_unit(
    enrollment_id: UUID, unit_id: UnitId, request: Request, body: CompletionIn | None = None
) -> Response:
    """Record a completed unit."""
    change = completing_unit(unit_id, (body and body.occurred_at) or now())
    return appended(
        enrollment_id, await change_enrollment(services_of(request).ledger, enrollment_id, change)
    )


async def withdraw(
    enrollment_id: UUID, request: Request, body: CompletionIn | None = None
) -> Response:
    """Withdraw the enrollment; its progress stays readable, marked as withdrawn."""
    change = withdrawing((body and body.occurred_at) or now())
    return appended(
        enrollment_id, await change_enrollment(services_of(request).ledger, enrollment_id, change)
    )


for path, endpoint, answer in (
    (
        "/{enrollment_id}/modules/{module_id}/completion",
        complete_module,
        changing_at_once("module_id", completing_module),
    ),
    (
        "/{enrollment_id}/units/{unit_id}/completion",
        complete_unit,
        changing_at_once("unit_id", completing_unit),
    ),
    ("/{enrollment_id}/withdrawal", withdraw, changing_at_once(None, withdrawing)),
):
    router.add_api_route(
        path,
        endpoint,
        methods=["POST"],
        response_model=Appended,
        route_class_override=answered_at_once(answer, scope="write"),
    )
