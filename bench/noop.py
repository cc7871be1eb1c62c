"""The web layer's own ceiling: the completion route with the same body, doing nothing.

Built like the real route (an `async def` answering orjson bytes, the server's garbage
collector tuned the same way), so the ratio measures the command's work and nothing else.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from uuid import UUID

import orjson
from fastapi import FastAPI, Response

from api.schemas import Appended, CompletionIn
from projections.collector import tune_garbage_collector


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    tune_garbage_collector()
    yield


app = FastAPI(title="no-op", lifespan=lifespan)


@app.post("/v1/enrollments/{enrollment_id}/units/{unit_id}/completion", response_model=Appended)
async def complete_unit(
    enrollment_id: UUID, unit_id: str, body: CompletionIn | None = None
) -> Response:
    """Parses and answers like the real route."""
    answer = {"enrollment_id": str(enrollment_id), "appended": ["UnitCompleted"], "position": 0}
    return Response(orjson.dumps(answer), media_type="application/json")
