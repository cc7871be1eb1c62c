"""Enrollments and the completions learners make."""

from __future__ import annotations

from uuid import UUID

import orjson
from fastapi import APIRouter, Request, Response, status

from api.bootstrap import LedgerServices
from api.commands import change_enrollment
from api.dependencies import ModuleId, Services, UnitId
from api.schemas import Appended, CompletionIn, EnrollmentIn, EnrollmentOut
from domain.commands import Recorded, completing_module, completing_unit, withdrawing
from domain.ledger import now

router = APIRouter(prefix="/v1/enrollments", tags=["enrollments"])


def services_of(request: Request) -> LedgerServices:
    """As the `Services` dependency, without a dependency to solve on the hot routes."""
    services: LedgerServices = request.app.state.services
    return services


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
def enroll(body: EnrollmentIn, services: Services, response: Response) -> EnrollmentOut:
    """Enroll a learner in a course: 201 when new, 200 when the enrollment existed."""
    enrolled = services.ledger.enroll(body.learner_id, body.course_id)
    if not enrolled.created:
        response.status_code = status.HTTP_200_OK
    return EnrollmentOut(
        enrollment_id=str(enrolled.enrollment.id),
        learner_id=body.learner_id,
        course_id=body.course_id,
        position=enrolled.recorded.position,
    )


@router.post("/{enrollment_id}/modules/{module_id}/completion", response_model=Appended)
async def complete_module(
    enrollment_id: UUID, module_id: ModuleId, request: Request, body: CompletionIn | None = None
) -> Response:
    """Record a completed module; completing a unit's last module completes the unit."""
    change = completing_module(module_id, (body and body.occurred_at) or now())
    return appended(
        enrollment_id, await change_enrollment(services_of(request).ledger, enrollment_id, change)
    )


@router.post("/{enrollment_id}/units/{unit_id}/completion", response_model=Appended)
async def complete_unit(
    enrollment_id: UUID, unit_id: UnitId, request: Request, body: CompletionIn | None = None
) -> Response:
    """Record a completed unit."""
    change = completing_unit(unit_id, (body and body.occurred_at) or now())
    return appended(
        enrollment_id, await change_enrollment(services_of(request).ledger, enrollment_id, change)
    )


@router.post("/{enrollment_id}/withdrawal", response_model=Appended)
async def withdraw(
    enrollment_id: UUID, request: Request, body: CompletionIn | None = None
) -> Response:
    """Withdraw the enrollment; its progress stays readable, marked as withdrawn."""
    change = withdrawing((body and body.occurred_at) or now())
    return appended(
        enrollment_id, await change_enrollment(services_of(request).ledger, enrollment_id, change)
    )
