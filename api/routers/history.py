"""Audit: an enrollment's timeline, and progress as it stood at an instant, both replayed from
the events rather than read from the snapshots."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query

from api.audit_schemas import HistoryEventOut, HistoryOut, ProgressAsOfOut
from api.dependencies import Services
from api.schemas import UnitProgressOut
from bootstrap import LedgerServices
from domain.errors import NotFoundError
from domain.identifiers import enrollment_aggregate_id
from projections.audit import EventLog, generation_at, timeline

router = APIRouter(prefix="/v1/enrollments", tags=["audit"])


def event_log(services: LedgerServices) -> EventLog:
    return EventLog(services.ledger.recorder, services.ledger.mapper, services.db)


@router.get("/{enrollment_id}/history")
def enrollment_history(
    enrollment_id: UUID,
    services: Services,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    after: Annotated[
        int | None, Query(ge=0, description="The `next` cursor of the previous page")
    ] = None,
) -> HistoryOut:
    """Every event of the enrollment, and each course change that moved its numbers, in order."""
    replayed = timeline(event_log(services), enrollment_id, services.generations.live().rules)
    moments = [m for m in replayed.moments if after is None or m.position > after]
    page = moments[:limit]
    return HistoryOut(
        enrollment_id=replayed.enrollment_id,
        learner_id=replayed.learner_id,
        course_id=replayed.course_id,
        rules=replayed.rules,
        events=[
            HistoryEventOut(
                position=m.position,
                version=m.version,
                type=m.type,
                course_event=m.course_event,
                occurred_at=m.occurred_at,
                recorded_at=m.recorded_at,
                data=m.data,
                completed_units=m.progress.completed_units,
                total_units=m.progress.total_units,
                percentage=m.progress.percentage,
                completed_at=m.completed_at,
            )
            for m in page
        ],
        next=page[-1].position if len(moments) > limit else None,
    )


def progress_as_of(
    services: LedgerServices, learner_id: str, course_id: str, as_of: datetime
) -> ProgressAsOfOut:
    """Replays the enrollment and its course up to `as_of` under the rules then live."""
    generation = generation_at(services.generations, as_of)
    enrollment_id = enrollment_aggregate_id(course_id, learner_id)
    try:
        replayed = timeline(event_log(services), enrollment_id, generation.rules, as_of)
    except NotFoundError:
        raise NotFoundError(
            f"learner {learner_id!r} was not enrolled in course {course_id!r} at {as_of}",
            field="learner_id",
        ) from None
    progress = replayed.progress
    return ProgressAsOfOut(
        learner_id=learner_id,
        course_id=course_id,
        enrollment_id=replayed.enrollment_id,
        completed_units=progress.completed_units,
        total_units=progress.total_units,
        percentage=progress.percentage,
        completed_at=replayed.state.completed_at,
        updated_at=replayed.state.updated_at,
        position=replayed.position,
        rules=generation.rules,
        withdrawn=replayed.state.withdrawn,
        units=[UnitProgressOut.model_validate(u, from_attributes=True) for u in replayed.units()],
        projection_position=replayed.position,
        as_of=as_of,
        generation=generation.number,
    )
