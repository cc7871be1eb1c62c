"""A learner's rights: export everything held about them, or erase them (admin only)."""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from api.actors import acting_of
from api.dependencies import LearnerId, Services
from api.schemas import ErasureOut
from bootstrap.learner_rights import erase_learner, export_learner

router = APIRouter(prefix="/v1/learners", tags=["learners"])


@router.get("/{learner_id}/export")
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
