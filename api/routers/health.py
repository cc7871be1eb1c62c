"""Liveness and readiness."""

from __future__ import annotations

import os

from fastapi import APIRouter

from api.dependencies import Services
from api.schemas import ProjectionStatus, Ready

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up; `process` is its id, which tells the workers of one server apart."""
    return {"status": "ok", "process": str(os.getpid())}


@router.get("/readyz")
def readyz(services: Services) -> Ready:
    """The database answers; how far the live projection is behind the log."""
    head = services.ledger.head_position()
    generation = services.generations.live()
    return Ready(
        status="ready",
        database="ok",
        projection=ProjectionStatus(
            generation=generation.number,
            rules=generation.rules,
            position=generation.position,
            head=head,
            lag=max(0, head - generation.position),
        ),
    )
