"""Lists: the courses with their counts, an enrollment by its id, a learner's enrollments.
Erased learners have no rows left to list."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response

from api.dependencies import LearnerId, ReadYourWrites, Services
from api.routers.progress import document_response
from api.schemas import ID_PATTERN
from domain.errors import NotFoundError
from projections.course_listing import CourseList, course_list
from projections.progress_documents import CourseProgress, LearnerProgress
from projections.progress_reads import LEARNER_COURSES_LIMIT

router = APIRouter(prefix="/v1", tags=["lists"], dependencies=[ReadYourWrites])

Limit = Annotated[int, Query(ge=1, le=1000)]
After = Annotated[
    str | None, Query(pattern=ID_PATTERN, description="The `next` cursor of the previous page")
]


@router.get("/courses", response_model=CourseList, operation_id="list_courses")
def list_courses(services: Services, limit: Limit = 100, after: After = None) -> Response:
    """The courses by id, a page at a time, each with its enrolled, completed and average
    percentage (over the learners not withdrawn)."""
    return document_response(course_list(services.db, after, limit))


@router.get(
    "/enrollments/{enrollment_id}", response_model=CourseProgress, operation_id="get_enrollment"
)
def get_enrollment(enrollment_id: UUID, services: Services) -> Response:
    """One enrollment's progress, unit by unit."""
    document = services.reads.enrollment(str(enrollment_id))
    if document is None:
        raise NotFoundError(f"enrollment {enrollment_id} does not exist", field="enrollment_id")
    return document_response(document)


@router.get(
    "/learners/{learner_id}/enrollments",
    response_model=LearnerProgress,
    operation_id="list_learner_enrollments",
)
def list_learner_enrollments(
    learner_id: LearnerId,
    services: Services,
    limit: Annotated[int, Query(ge=1, le=LEARNER_COURSES_LIMIT)] = 100,
    after: After = None,
) -> Response:
    """The learner's enrollments by course id, a page at a time, without their units."""
    return document_response(services.reads.learner_courses(learner_id, after, limit, units=False))
