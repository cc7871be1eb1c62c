"""Liveness and readiness."""

from __future__ import annotations

import os

from fastapi import APIRouter

from api.dependencies import Services
from api.schemas import ProjectionStatus, Ready

router = APIRouter(tags=["health"])


@router.get(
    "/healthz",
    responses={
        200: {"content": {"application/json": {"example": {"status": "ok", "process": "4242"}}}}
    },
)
def healthz() -> dict[str, str]:
    """The process is up; `process` is its id, which tells the workers of one server apart."""
    return {"status": "ok", "process": str(os.getpid())}


@router.get("/readyz")
def readyz(services: Services) -> Ready:
    """The database answers; how far the live projection is behind the log, whether it has
    parked events (`degraded`) or stopped moving while behind (`stalled`). Always 200 while
    the database answers: writes are still taken, and a projector stalled for one node is
    stalled for all, so taking nodes out of rotation would only add an outage of writes."""
    head = services.ledger.head_position()
    generation = services.generations.live()
    parked = services.engine.parked.count(generation.number)
    stalled = services.progress_watch.stalled_for(generation.position, head)
    status = "ready"
    if stalled > services.settings.projection_stall_seconds:
        status = "stalled"
    elif parked:
        status = "degraded"
    return Ready(
        status=status,
        database="ok",
        projection=ProjectionStatus(
            generation=generation.number,
            rules=generation.rules,
            position=generation.position,
            head=head,
            lag=max(0, head - generation.position),
            parked=parked,
            stalled_seconds=round(stalled, 1),
        ),
    )
