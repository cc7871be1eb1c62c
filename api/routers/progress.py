"""Progress reads, from the live projection; each waits for `min_position` when given."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request, Response
from pydantic import AwareDatetime
from starlette.concurrency import run_in_threadpool

from api.access import answered_at_once
from api.audit_schemas import ProgressAsOfOut
from api.dependencies import CourseId, LearnerId, ReadYourWrites, Services, services_of
from api.routers.history import progress_as_of
from api.schemas import (
    ID_PATTERN,
    VALID_ID,
    CourseProgressOut,
    LearnerProgressOut,
    RosterOut,
    RosterSummaryOut,
)
from bootstrap import LedgerServices
from domain.errors import NotFoundError
from projections.queries import CourseProgressView

router = APIRouter(prefix="/v1", tags=["progress"], dependencies=[ReadYourWrites])


def progress_out(view: CourseProgressView, projection_position: int) -> CourseProgressOut:
    return CourseProgressOut.model_validate(progress_json(view, projection_position))


def progress_json(view: CourseProgressView, projection_position: int) -> dict[str, Any]:
    """The progress document as plain data: the hottest read serialises it with orjson and
    skips building and validating pydantic models for an answer the database already shaped."""
    return {
        "learner_id": view.learner_id,
        "course_id": view.course_id,
        "enrollment_id": view.enrollment_id,
        "completed_units": view.completed_units,
        "total_units": view.total_units,
        "percentage": view.percentage,
        "completed_at": view.completed_at,
        "updated_at": view.updated_at,
        "position": view.position,
        "rules": view.rules,
        "withdrawn": view.withdrawn,
        "units": [
            {
                "unit_id": u.unit_id,
                "required": u.required,
                "completed": u.completed,
                "completed_modules": u.completed_modules,
                "total_modules": u.total_modules,
                "percentage": u.percentage,
            }
            for u in view.units
        ],
        "projection_position": projection_position,
    }


LEARNER_COURSE_PATH = "/learners/{learner_id}/courses/{course_id}/progress"


async def learner_course_progress(
    learner_id: LearnerId,
    course_id: CourseId,
    services: Services,
    as_of: Annotated[
        AwareDatetime | None,
        Query(description="Replay the events up to this instant (ISO-8601 with an offset)"),
    ] = None,
) -> Any:
    """A learner's progress in one course, unit by unit; `as_of` replays it from the events."""
    if as_of is not None:
        return await run_in_threadpool(progress_as_of, services, learner_id, course_id, as_of)
    return await live_progress(services, learner_id, course_id)


async def live_progress(services: LedgerServices, learner_id: str, course_id: str) -> Response:
    document: dict[str, Any] | None
    if services.reads is not None:
        live = await services.reads.learner_course(learner_id, course_id)
        document, position = live.value, live.projection_position
    else:
        answer = await run_in_threadpool(services.queries.learner_course, learner_id, course_id)
        document = None if answer.value is None else progress_json(answer.value, 0)
        position = answer.projection_position
    if document is None:
        raise NotFoundError(
            f"learner {learner_id!r} is not enrolled in course {course_id!r}", field="learner_id"
        )
    document["projection_position"] = position
    return Response(orjson.dumps(document, option=orjson.OPT_UTC_Z), media_type="application/json")


async def live_progress_at_once(request: Request) -> Response | None:
    """The hottest read, when nothing about it needs the dependencies: no query string (so
    no `min_position` to wait for, no `as_of`) and ids that match their pattern."""
    services = services_of(request)
    learner_id = request.path_params["learner_id"]
    course_id = request.path_params["course_id"]
    if (
        services.reads is None
        or request.scope["query_string"]
        or not VALID_ID.fullmatch(learner_id)
        or not VALID_ID.fullmatch(course_id)
    ):
        return None
    return await live_progress(services, learner_id, course_id)


router.add_api_route(
    LEARNER_COURSE_PATH,
    learner_course_progress,
    methods=["GET"],
    response_model=CourseProgressOut | ProgressAsOfOut,
    route_class_override=answered_at_once(live_progress_at_once, scope="read"),
)


@router.get("/learners/{learner_id}/progress")
def learner_progress(learner_id: LearnerId, services: Services) -> LearnerProgressOut:
    """A learner's progress in every course they are enrolled in."""
    answer = services.queries.learner_courses(learner_id)
    return LearnerProgressOut(
        learner_id=learner_id,
        courses=[progress_out(view, answer.projection_position) for view in answer.value],
        projection_position=answer.projection_position,
    )


@router.get("/courses/{course_id}/progress")
def course_roster(
    course_id: CourseId,
    services: Services,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    after: Annotated[
        str | None,
        Query(pattern=ID_PATTERN, description="The `next` cursor of the previous page"),
    ] = None,
) -> RosterOut:
    """Every learner's progress in a course, a page at a time, with a summary."""
    answer = services.queries.roster(course_id, limit, after)
    page = answer.value
    return RosterOut(
        items=[progress_out(view, answer.projection_position) for view in page.items],
        next=page.next,
        summary=RosterSummaryOut(
            enrolled=page.summary.enrolled,
            completed=page.summary.completed,
            average_percentage=page.summary.average_percentage,
        ),
        projection_position=answer.projection_position,
    )
