"""Enrollments and the completions learners make."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated
from uuid import UUID

import orjson
from fastapi import APIRouter, Query, Request, Response, status
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from api.access import AnswerAtOnce, answered_at_once
from api.actors import acting_of
from api.dependencies import ModuleId, Services, UnitId, services_of
from api.schemas import (
    ID_PATTERN,
    VALID_ID,
    ActingIn,
    Appended,
    CompletionIn,
    EnrollmentIn,
    EnrollmentOut,
    ResetIn,
)
from domain.acting import Acting
from domain.commands import (
    Change,
    ChangeEnrollment,
    Recorded,
    completing_module,
    completing_unit,
    resetting,
    revoking_module,
    revoking_unit,
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
async def enroll(
    body: EnrollmentIn, services: Services, request: Request, response: Response
) -> EnrollmentOut:
    """Enroll a learner in a course: 201 when new, 200 when the enrollment existed."""
    command = await run_in_threadpool(
        services.ledger.enroll_command, body.learner_id, body.course_id
    )
    outcome = enrolled(command, await services.ledger.decide(command, acting_of(request)))
    if not outcome.created:
        response.status_code = status.HTTP_200_OK
    return EnrollmentOut(
        enrollment_id=str(command.enrollment_id),
        learner_id=body.learner_id,
        course_id=body.course_id,
        position=outcome.recorded.position,
    )


async def change_enrollment(
    ledger: ProgressLedger, enrollment_id: UUID, change: Change, acting: Acting
) -> Recorded:
    return await ledger.decide(ChangeEnrollment(enrollment_id, change), acting)


# The canonical spelling only: any other the path's UUID accepts takes the full path.
CANONICAL_UUID = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")


NO_BODY = CompletionIn()


async def completion_of(request: Request) -> CompletionIn | None:
    """The body, or an empty one when there is no body; None when the body does not
    validate through `CompletionIn` (the full path then refuses it, naming the field)."""
    body = await request.body()
    if not body:
        return NO_BODY
    try:
        return CompletionIn.model_validate_json(body)
    except ValidationError:
        return None


def acting_in(request: Request, body: ActingIn | None) -> Acting:
    return (
        acting_of(request) if body is None else acting_of(request, body.reason, body.on_behalf_of)
    )


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
        completion = await completion_of(request)
        if completion is None:
            return None
        when = completion.occurred_at or now()
        enrollment_id = UUID(raw_id)
        change = make(when) if target is None else make(target, when)
        ledger = services_of(request).ledger
        acting = acting_in(request, completion)
        return appended(
            enrollment_id, await change_enrollment(ledger, enrollment_id, change, acting)
        )

    return answer


async def complete_module(
    enrollment_id: UUID, module_id: ModuleId, request: Request, body: CompletionIn | None = None
) -> Response:
    """Record a completed module; completing a unit's last module completes the unit."""
    change = completing_module(module_id, (body and body.occurred_at) or now())
    ledger, acting = services_of(request).ledger, acting_in(request, body)
    return appended(enrollment_id, await change_enrollment(ledger, enrollment_id, change, acting))


async def complete_unit(
    enrollment_id: UUID, unit_id: UnitId, request: Request, body: CompletionIn | None = None
) -> Response:
    """Record a completed unit."""
    change = completing_unit(unit_id, (body and body.occurred_at) or now())
    ledger, acting = services_of(request).ledger, acting_in(request, body)
    return appended(enrollment_id, await change_enrollment(ledger, enrollment_id, change, acting))


async def withdraw(
    enrollment_id: UUID, request: Request, body: CompletionIn | None = None
) -> Response:
    """Withdraw the enrollment; its progress stays readable, marked as withdrawn."""
    change = withdrawing((body and body.occurred_at) or now())
    ledger, acting = services_of(request).ledger, acting_in(request, body)
    return appended(enrollment_id, await change_enrollment(ledger, enrollment_id, change, acting))


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


ReasonQuery = Annotated[
    str | None, Query(min_length=1, max_length=500, description="Why (kept in the history)")
]
OnBehalfOfQuery = Annotated[
    str | None, Query(pattern=ID_PATTERN, max_length=200, description="Whom the caller acts for")
]


@router.delete("/{enrollment_id}/units/{unit_id}/completion", response_model=Appended)
async def revoke_unit(
    enrollment_id: UUID,
    unit_id: UnitId,
    request: Request,
    reason: ReasonQuery = None,
    on_behalf_of: OnBehalfOfQuery = None,
) -> Response:
    """Take a unit's completion back; the numbers drop. Revoking what is not complete
    appends nothing; a later completion counts again."""
    change = revoking_unit(unit_id, now())
    ledger, acting = services_of(request).ledger, acting_of(request, reason, on_behalf_of)
    return appended(enrollment_id, await change_enrollment(ledger, enrollment_id, change, acting))


@router.delete("/{enrollment_id}/modules/{module_id}/completion", response_model=Appended)
async def revoke_module(
    enrollment_id: UUID,
    module_id: ModuleId,
    request: Request,
    reason: ReasonQuery = None,
    on_behalf_of: OnBehalfOfQuery = None,
) -> Response:
    """Take a module's completion back, and with it its unit's if the unit was complete."""
    change = revoking_module(module_id, now())
    ledger, acting = services_of(request).ledger, acting_of(request, reason, on_behalf_of)
    return appended(enrollment_id, await change_enrollment(ledger, enrollment_id, change, acting))


@router.post("/{enrollment_id}/reset", response_model=Appended)
async def reset(enrollment_id: UUID, body: ResetIn, request: Request) -> Response:
    """Begin a new attempt: the numbers start from zero; history keeps every attempt."""
    ledger, acting = services_of(request).ledger, acting_in(request, body)
    return appended(
        enrollment_id, await change_enrollment(ledger, enrollment_id, resetting(now()), acting)
    )
