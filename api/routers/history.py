"""Audit: an enrollment's timeline, replayed from the events rather than read from the
snapshots. (Progress as it stood at an instant is the progress route's `as_of`.)"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query

from api.audit_schemas import HistoryEventOut, HistoryOut
from api.dependencies import Services
from bootstrap import LedgerServices
from projections.audit import EventLog, timeline

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
                actor=m.acting.actor,
                reason=m.acting.reason,
                on_behalf_of=m.acting.on_behalf_of,
                attempt=m.attempt,
                completed_units=m.progress.completed_units,
                total_units=m.progress.total_units,
                percentage=m.progress.percentage,
                completed_at=m.completed_at,
            )
            for m in page
        ],
        next=page[-1].position if len(moments) > limit else None,
    )
