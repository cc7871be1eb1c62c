"""The examples of the OpenAPI document, as they were written.

FastAPI writes its document without nulls (`exclude_none`), and the nulls of examples go
with them: an answer whose `completed_at` is null would be shown without it, which its
schema refuses. So the examples of the API's models (their `model_config`) and of its routes
(`responses=`, `openapi_extra=`) are put back as written once the document is built; and the
read documents, whose shapes are projections/progress_documents.py's TypedDicts (the read
side knows nothing of HTTP), get theirs from here, by schema name.
tests/test_api_examples.py validates every one against its schema."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from pydantic import BaseModel

from api.schemas import COURSE, ENROLLMENT

PROGRESS: dict[str, Any] = {
    "learner_id": "ada",
    "course_id": COURSE,
    "enrollment_id": ENROLLMENT,
    "completed_units": 1,
    "total_units": 2,
    "percentage": 50.0,
    "completed_at": None,
    "updated_at": "2024-05-02T10:00:01.204Z",
    "position": 121,
    "rules": "units-v1",
    "withdrawn": False,
    "units": [
        {
            "unit_id": "u1",
            "required": True,
            "completed": False,
            "completed_modules": 1,
            "total_modules": 2,
            "percentage": 50.0,
        },
        {
            "unit_id": "u2",
            "required": True,
            "completed": True,
            "completed_modules": 0,
            "total_modules": 0,
            "percentage": 100.0,
        },
    ],
    "projection_position": 240,
    "held": False,
    "attempt": 1,
}
# Lists leave each learner's units out.
ROW = {**PROGRESS, "units": []}
COMPLETED_ROW = {
    **ROW,
    "learner_id": "bob",
    "enrollment_id": "5b1f8e2a-7c3d-4a9e-b6f0-1e2d3c4b5a69",
    "completed_units": 2,
    "percentage": 100.0,
    "completed_at": "2024-05-03T09:30:00Z",
    "updated_at": "2024-05-03T09:30:00.871Z",
    "position": 160,
}

SCHEMA_EXAMPLES: dict[str, dict[str, Any]] = {
    "CourseProgress": PROGRESS,
    "ProgressAsOf": {
        **PROGRESS,
        "completed_units": 0,
        "percentage": 0.0,
        "updated_at": "2024-05-01T10:00:00.530Z",
        "position": 120,
        "units": [
            PROGRESS["units"][0],
            {**PROGRESS["units"][1], "completed": False, "percentage": 0.0},
        ],
        "as_of": "2024-05-01T12:00:00Z",
        "generation": 1,
    },
    "LearnerProgress": {
        "learner_id": "ada",
        "courses": [PROGRESS],
        "next": COURSE,
        "projection_position": 240,
    },
    "Roster": {
        "items": [ROW, COMPLETED_ROW],
        "next": "WyJsZWFybmVyX2lkIixmYWxzZSwiYm9iIiwiYm9iIl0",
        "summary": {"enrolled": 38, "completed": 11, "average_percentage": 61.84},
        "projection_position": 240,
    },
    "CourseList": {
        "items": [
            {
                "course_id": COURSE,
                "units": 2,
                "completion_threshold": 80.0,
                "enrolled": 38,
                "completed": 11,
                "average_percentage": 61.84,
            }
        ],
        "next": None,
        "projection_position": 240,
    },
}


def api_models() -> Iterator[type[BaseModel]]:
    """Every model the API defines (its request and response bodies)."""
    found = list(BaseModel.__subclasses__())
    while found:
        model = found.pop()
        found.extend(model.__subclasses__())
        if model.__module__.startswith("api."):
            yield model


def model_examples() -> dict[str, list[Any]]:
    examples: dict[str, list[Any]] = {}
    for model in api_models():
        extra = model.model_config.get("json_schema_extra")
        found = extra.get("examples") if isinstance(extra, dict) else None
        if isinstance(found, list):
            examples[model.__name__] = found
    return examples


def route_media(route: APIRoute) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """Where a route spells out its media types: ("200", type, media) for its answers,
    ("requestBody", type, media) for its body."""
    for status, response in route.responses.items():
        for media_type, media in response.get("content", {}).items():
            yield str(status), media_type, media
    body = (route.openapi_extra or {}).get("requestBody", {})
    for media_type, media in body.get("content", {}).items():
        yield "requestBody", media_type, media


def put_examples_back(app: FastAPI, document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    for name, examples in model_examples().items():
        if name in schemas:
            schemas[name]["examples"] = examples
    for name, example in SCHEMA_EXAMPLES.items():
        schemas[name]["examples"] = [example]
    for route in app.routes:
        if not isinstance(route, APIRoute) or not route.include_in_schema:
            continue
        for method in route.methods or ():
            operation = document["paths"][route.path_format][method.lower()]
            for where, media_type, media in route_media(route):
                if "example" in media:
                    place = (
                        operation[where]
                        if where == "requestBody"
                        else operation["responses"][where]
                    )
                    place["content"][media_type]["example"] = media["example"]
