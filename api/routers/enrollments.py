"""Enrollments and the completions learners make."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Response, status

from api.dependencies import ModuleId, Services, UnitId
from api.schemas import Appended, CompletionIn, EnrollmentIn, EnrollmentOut
from domain.ledger import Recorded

router = APIRouter(prefix="/v1/enrollments", tags=["enrollments"])


def appended(enrollment_id: UUID, recorded: Recorded) -> Appended:
    return Appended(
        enrollment_id=str(enrollment_id), appended=recorded.appended, position=recorded.position
    )


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


@router.post("/{enrollment_id}/modules/{module_id}/completion")
def complete_module(
    enrollment_id: UUID, module_id: ModuleId, services: Services, body: CompletionIn | None = None
) -> Appended:
    """Record a completed module; completing a unit's last module completes the unit."""
    occurred_at = body.occurred_at if body else None
    return appended(
        enrollment_id, services.ledger.complete_module(enrollment_id, module_id, occurred_at)
    )


@router.post("/{enrollment_id}/units/{unit_id}/completion")
def complete_unit(
    enrollment_id: UUID, unit_id: UnitId, services: Services, body: CompletionIn | None = None
) -> Appended:
    """Record a completed unit."""
    occurred_at = body.occurred_at if body else None
    return appended(
        enrollment_id, services.ledger.complete_unit(enrollment_id, unit_id, occurred_at)
    )


@router.post("/{enrollment_id}/withdrawal")
def withdraw(enrollment_id: UUID, services: Services, body: CompletionIn | None = None) -> Appended:
    """Withdraw the enrollment; its progress stays readable, marked as withdrawn."""
    occurred_at = body.occurred_at if body else None
    return appended(enrollment_id, services.ledger.withdraw(enrollment_id, occurred_at))
