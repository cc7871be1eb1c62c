"""Examples of the read documents, shown with their schemas in the OpenAPI document. The
documents' shapes are projections/progress_documents.py's TypedDicts (the read side knows
nothing of HTTP), so their examples are kept here, by schema name, and put into the
components by api/openapi_extras.py; tests/test_api_examples.py validates each."""

from __future__ import annotations

from typing import Any

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


def add_schema_examples(schemas: dict[str, Any]) -> None:
    for name, document in SCHEMA_EXAMPLES.items():
        schemas[name]["examples"] = [document]
