"""Bulk ingest: up to 10,000 completions in one request, each answered on its own."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from api.actors import acting_of
from api.batch_items import MAX_ITEMS, BatchTooLarge, CompletionItem, NotABatch, parse_body
from api.dependencies import Services
from api.guards import NDJSON
from api.problems import problem
from api.schemas import COURSE, example
from ledger.importer import BatchResult, CompletionImporter
from projections.collector import collector_paused

router = APIRouter(tags=["completions"])

BATCH_PATH = "/v1/completions:batch"

ITEMS = [
    {"learner_id": "ada", "course_id": COURSE, "unit_id": "u1"},
    {
        "learner_id": "bob",
        "course_id": COURSE,
        "module_id": "m2",
        "occurred_at": "2024-05-03T09:30:00Z",
    },
    {"learner_id": "cy", "course_id": COURSE, "unit_id": "u9"},
]


class ItemErrorOut(BaseModel):
    detail: str
    field: str | None


class ItemResultOut(BaseModel):
    index: int
    status: Literal["appended", "already_complete", "error"]
    appended: list[str]
    error: ItemErrorOut | None = None


class BatchOut(BaseModel):
    model_config = example(
        {
            "results": [
                {"index": 0, "status": "appended", "appended": ["UnitCompleted"], "error": None},
                {"index": 1, "status": "already_complete", "appended": [], "error": None},
                {
                    "index": 2,
                    "status": "error",
                    "appended": [],
                    "error": {
                        "detail": f"course {COURSE!r} has no unit 'u9'",
                        "field": "unit_id",
                    },
                },
            ],
            "appended": 1,
            "already_complete": 1,
            "errors": 1,
            "position": 4712,
        }
    )

    results: list[ItemResultOut]
    appended: int
    already_complete: int
    errors: int
    position: int


def batch_json(outcome: BatchResult) -> Response:
    """Serialised straight to JSON: ten thousand results through pydantic would cost more
    than recording them (the shape is BatchOut, as the OpenAPI document says)."""
    results: list[dict[str, Any]] = [
        {
            "index": r.index,
            "status": r.status,
            "appended": r.appended,
            "error": None
            if r.error is None
            else {"detail": r.error.detail, "field": r.error.field},
        }
        for r in outcome.results
    ]
    body = {
        "results": results,
        "appended": outcome.count("appended"),
        "already_complete": outcome.count("already_complete"),
        "errors": outcome.count("error"),
        "position": outcome.position,
    }
    return Response(orjson.dumps(body), media_type="application/json")


@router.post(
    BATCH_PATH,
    response_model=BatchOut,
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "A JSON array of items, or NDJSON: one item a line, as in\n\n"
            + "".join(f"    {orjson.dumps(item).decode()}\n" for item in ITEMS),
            "content": {
                "application/json": {
                    "schema": {
                        "type": "array",
                        # Any item is taken: a bad one is answered in its own result, the others
                        # are recorded; a good one is a CompletionItem.
                        "items": {"anyOf": [CompletionItem.model_json_schema(), {}]},
                        "maxItems": MAX_ITEMS,
                    },
                    "example": ITEMS,
                },
                # Its example is in the description: a fuzzer that sends the examples of an
                # operation (tests/test_fuzz.py) knows no way to send NDJSON.
                NDJSON: {"schema": {"type": "string"}},
            },
        }
    },
)
async def complete_in_bulk(
    request: Request,
    services: Services,
    enroll: Annotated[bool, Query(description="Enroll learners who are not enrolled yet")] = False,
) -> Response:
    """Record up to 10,000 completions (JSON array or NDJSON); a result for every item."""
    body = await request.body()
    content_type = request.headers.get("content-type", "application/json")
    importer = CompletionImporter(services.ledger, acting_of(request))
    return await run_in_threadpool(work_out, importer, body, content_type, enroll)


def work_out(
    importer: CompletionImporter, body: bytes, content_type: str, enroll: bool
) -> Response:
    """Parsing too runs off the event loop: ten thousand items take tens of milliseconds."""
    with collector_paused():
        try:
            items = parse_body(body, content_type)
        except (BatchTooLarge, NotABatch) as error:
            return problem(422, str(error), field="body")
        return batch_json(importer.run(items, enroll=enroll))
