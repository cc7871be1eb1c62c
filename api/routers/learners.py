"""A learner's rights: export everything held about them, or erase them (admin only)."""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from api.actors import acting_of
from api.dependencies import LearnerId, Services
from api.openapi_examples import PROGRESS
from api.schemas import COURSE, ENROLLMENT, ErasureOut
from bootstrap.learner_rights import erase_learner, export_learner

router = APIRouter(prefix="/v1/learners", tags=["learners"])

EXPORT = {
    "learner_id": "ada",
    "enrollments": [
        {
            "enrollment_id": ENROLLMENT,
            "course_id": COURSE,
            "progress": PROGRESS,
            "events": [
                {
                    "position": 119,
                    "version": 1,
                    "type": "Enrolled",
                    "recorded_at": "2024-05-01T09:00:00.412Z",
                    "occurred_at": "2024-05-01T09:00:00.412Z",
                    "data": {"learner_id": "ada", "course_id": COURSE},
                    "actor": "moodle-sync",
                    "reason": None,
                    "on_behalf_of": None,
                },
                {
                    "position": 121,
                    "version": 2,
                    "type": "UnitCompleted",
                    "recorded_at": "2024-05-02T10:00:01.204Z",
                    "occurred_at": "2024-05-02T10:00:00Z",
                    "data": {"unit_id": "u2"},
                    "actor": "moodle-sync",
                    "reason": None,
                    "on_behalf_of": None,
                },
            ],
        }
    ],
    "xapi_statements": [],
}


@router.get(
    "/{learner_id}/export",
    responses={
        200: {
            "description": "Each enrollment with its events and progress, and the xAPI "
            "statements the learner made",
            "content": {"application/json": {"schema": {"type": "object"}, "example": EXPORT}},
        }
    },
)
async def export(learner_id: LearnerId, services: Services) -> Response:
    """Everything held about the learner: each enrollment, its events and its progress."""
    document = await run_in_threadpool(export_learner, services, learner_id)
    return Response(orjson.dumps(document, option=orjson.OPT_UTC_Z), media_type="application/json")


@router.delete("/{learner_id}")
async def erase(learner_id: LearnerId, services: Services, request: Request) -> ErasureOut:
    """Erase the learner: their key is destroyed, so nothing left identifies them, and every
    row derived from them is deleted; each enrollment records the erasure. 404 when the
    ledger holds nothing about them (also once erased)."""
    erasure = await run_in_threadpool(erase_learner, services, learner_id, acting_of(request))
    return ErasureOut(
        erased_enrollments=erasure.enrollments,
        position=erasure.position,
        shredded=erasure.shredded,
    )
