"""Progress reads, from the live projection; each waits for `min_position` when given.

Each answer is a document of projections/progress_documents.py, built by its one function
and written by `document_response`: the response models document the shapes, they do not
validate what the database already shaped."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import AwareDatetime
from starlette.concurrency import run_in_threadpool

from api.access import answered_at_once
from api.dependencies import CourseId, LearnerId, ReadYourWrites, Services, services_of
from api.roster_parameters import roster_query
from api.routers.history import event_log
from api.schemas import ID_PATTERN, VALID_ID
from bootstrap import LedgerServices
from domain.errors import NotFoundError
from projections.audit import progress_as_of
from projections.progress_documents import CourseProgress, LearnerProgress, ProgressAsOf, Roster
from projections.progress_reads import LEARNER_COURSES_LIMIT
from projections.roster_export import roster_csv
from projections.roster_queries import RosterQuery

router = APIRouter(prefix="/v1", tags=["progress"], dependencies=[ReadYourWrites])


def document_response(document: Mapping[str, Any]) -> Response:
    """A document as JSON, written by orjson (datetimes in RFC 3339, UTC as `Z`)."""
    return Response(orjson.dumps(document, option=orjson.OPT_UTC_Z), media_type="application/json")


LEARNER_COURSE_PATH = "/learners/{learner_id}/courses/{course_id}/progress"


async def learner_course_progress(
    learner_id: LearnerId,
    course_id: CourseId,
    services: Services,
    as_of: Annotated[
        AwareDatetime | None,
        Query(description="Replay the events up to this instant (ISO-8601 with an offset)"),
    ] = None,
) -> Response:
    """A learner's progress in one course, unit by unit; `as_of` replays it from the events."""
    if as_of is not None:
        replayed = await run_in_threadpool(
            lambda: progress_as_of(
                event_log(services),
                services.generations,
                learner_id,
                course_id,
                as_of,
                services.ledger.enrollment_id(learner_id, course_id),
            )
        )
        return document_response(replayed)
    return await live_progress(services, learner_id, course_id)


async def live_progress(services: LedgerServices, learner_id: str, course_id: str) -> Response:
    reads = services.reads
    if reads.on_event_loop:
        document = await reads.learner_course_on_loop(learner_id, course_id)
    else:
        document = await run_in_threadpool(reads.learner_course, learner_id, course_id)
    if document is None:
        raise NotFoundError(
            f"learner {learner_id!r} is not enrolled in course {course_id!r}", field="learner_id"
        )
    return document_response(document)


async def live_progress_at_once(request: Request) -> Response | None:
    """The hottest read, when nothing about it needs the dependencies: no query string (so
    no `min_position` to wait for, no `as_of`) and ids that match their pattern."""
    services = services_of(request)
    learner_id = request.path_params["learner_id"]
    course_id = request.path_params["course_id"]
    if (
        not services.reads.on_event_loop
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
    response_model=CourseProgress | ProgressAsOf,
    route_class_override=answered_at_once(live_progress_at_once, scope="read"),
)


@router.get("/learners/{learner_id}/progress", response_model=LearnerProgress)
def learner_progress(
    learner_id: LearnerId,
    services: Services,
    limit: Annotated[int, Query(ge=1, le=LEARNER_COURSES_LIMIT)] = LEARNER_COURSES_LIMIT,
    after: Annotated[
        str | None,
        Query(pattern=ID_PATTERN, description="The `next` cursor of the previous page"),
    ] = None,
) -> Response:
    """A learner's progress in every course they are enrolled in, by course id, a page at a
    time (`next` is set when there are more)."""
    return document_response(services.reads.learner_courses(learner_id, after, limit))


ROSTER_CSV: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {
            "text/csv": {
                "schema": {"type": "string"},
                "example": "learner_id,course_id,enrollment_id,completed_units,total_units,"
                "percentage,completed_at,updated_at,withdrawn,attempt,held,position\n",
            }
        },
        "description": "The roster (JSON), or every matching row as CSV with `Accept: text/csv`",
    }
}


@router.get("/courses/{course_id}/progress", response_model=Roster, responses=ROSTER_CSV)
def course_roster(
    course_id: CourseId,
    services: Services,
    query: Annotated[RosterQuery, Depends(roster_query)],
    accept: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Response:
    """Every learner's progress in a course, filtered and sorted, a page at a time, with the
    course's summary; with `Accept: text/csv`, every matching row (from `after`, ignoring
    `limit`) streamed as CSV."""
    if accept is not None and "text/csv" in accept:
        chunks = roster_csv(services.db, course_id, query)
        return StreamingResponse(
            (chunk.text for chunk in chunks),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{course_id}.csv"'},
        )
    return document_response(services.reads.roster(course_id, query))
