"""Request and response bodies. Unknown fields are refused, so a typo never passes silently.
The progress documents' shapes are projections/progress_documents.py's."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
)

from domain.event_times import checked_event_time

ID_PATTERN = r"^[A-Za-z0-9._:+@~-]{1,200}$"
VALID_ID = re.compile(ID_PATTERN)  # for the hot routes that check ids themselves

# Opaque platform keys such as `course-v1:Org+Course+Run`.
Identifier = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=ID_PATTERN)]
Title = Annotated[str, StringConstraints(max_length=500)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def example(document: dict[str, Any]) -> ConfigDict:
    """A model's example, shown with its schema in the OpenAPI document (each model sets its
    own: a subclass would inherit its parent's; tests/test_api_examples.py validates them)."""
    return ConfigDict(json_schema_extra={"examples": [document]})


# The ids the examples share, so that they read as one story.
COURSE = "course-v1:Org+Intro+2024"
ENROLLMENT = "23d60660-d2ef-49f9-ac9d-aa8c103d4f2e"
COURSE_IRI = "https://lms.example.org/course/course-v1:Org+Intro+2024"


# An xAPI activity IRI whose statements complete what carries it (docs/xapi.md).
ActivityIri = Annotated[
    str, Field(min_length=3, max_length=2000, pattern=r"^[A-Za-z][A-Za-z0-9+.\-]*:\S+$")
]


class ModuleIn(Strict):
    module_id: Identifier
    title: Title = ""
    activity_id: ActivityIri | None = None


class ModuleAddIn(ModuleIn):
    model_config = example({"module_id": "m3", "title": "The mode", "position": 1})

    position: Annotated[int | None, Field(ge=0, description="Index among the unit's modules")] = (
        None
    )


class UnitIn(Strict):
    unit_id: Identifier
    title: Title = ""
    required: StrictBool = True
    weight: Annotated[float, Field(gt=0, le=1_000_000)] = 1.0
    modules: Annotated[list[ModuleIn], Field(max_length=1000)] = []
    activity_id: ActivityIri | None = None


class UnitAddIn(UnitIn):
    model_config = example(
        {
            "unit_id": "u3",
            "title": "Correlation",
            "weight": 2.0,
            "modules": [{"module_id": "m5", "title": "Scatter plots"}],
            "position": 2,
        }
    )

    position: Annotated[int | None, Field(ge=0, description="Index among the units")] = None


Threshold = Annotated[
    float,
    Field(gt=0, le=100, description="The percentage at which a learner has completed the course"),
]


class CourseIn(Strict):
    model_config = example(
        {
            "course_id": COURSE,
            "title": "Introduction to statistics",
            "units": [
                {
                    "unit_id": "u1",
                    "title": "Averages",
                    "modules": [
                        {"module_id": "m1", "title": "The mean"},
                        {"module_id": "m2", "title": "The median"},
                    ],
                },
                {"unit_id": "u2", "title": "Spread", "weight": 2.0},
            ],
            "completion_threshold": 80.0,
            "activity_id": COURSE_IRI,
        }
    )

    course_id: Identifier
    title: Title = ""
    units: Annotated[list[UnitIn], Field(max_length=1000)] = []
    completion_threshold: Threshold = 100.0
    activity_id: ActivityIri | None = None


class CoursePatch(Strict):
    """What is given changes; what is left out stays."""

    model_config = example({"completion_threshold": 75.0})

    completion_threshold: Threshold | None = None
    activity_id: ActivityIri | None = None


class ModulePatch(Strict):
    model_config = example(
        {
            "activity_id": "https://lms.example.org/xblock/block-v1:Org+Intro+2024+type@video+block@mean"
        }
    )

    activity_id: ActivityIri


class UnitPatch(Strict):
    """What is given changes; what is left out stays."""

    model_config = example({"title": "Measures of spread", "required": False, "weight": 1.5})

    title: Title | None = None
    required: StrictBool | None = None
    weight: Annotated[float | None, Field(gt=0, le=1_000_000)] = None
    activity_id: ActivityIri | None = None


class CourseOut(BaseModel):
    model_config = example(
        {
            "course_id": COURSE,
            "title": "Introduction to statistics",
            "version": 1,
            "units": [
                {
                    "unit_id": "u1",
                    "title": "Averages",
                    "required": True,
                    "weight": 1.0,
                    "modules": [
                        {"module_id": "m1", "title": "The mean"},
                        {"module_id": "m2", "title": "The median"},
                    ],
                },
                {
                    "unit_id": "u2",
                    "title": "Spread",
                    "required": True,
                    "weight": 2.0,
                    "modules": [],
                },
            ],
            "completion_threshold": 80.0,
        }
    )

    course_id: str
    title: str
    version: int
    units: list[UnitIn]
    completion_threshold: float


class CourseChanged(BaseModel):
    model_config = example({"course_id": COURSE, "version": 2, "position": 118})

    course_id: str
    version: int
    position: int


class EnrollmentIn(Strict):
    model_config = example({"learner_id": "ada", "course_id": COURSE})

    learner_id: Identifier
    course_id: Identifier


class EnrollmentOut(BaseModel):
    model_config = example(
        {"enrollment_id": ENROLLMENT, "learner_id": "ada", "course_id": COURSE, "position": 119}
    )

    enrollment_id: str
    learner_id: str
    course_id: str
    position: int


class ErasureOut(BaseModel):
    model_config = example({"erased_enrollments": 2, "position": 240, "shredded": True})

    erased_enrollments: int = Field(description="Enrollments that recorded the erasure")
    position: int = Field(description="Covers the erasure: use it as `min_position`")
    shredded: bool = Field(
        description="The deleted bytes are out of every file too (SQLite: false while a "
        "reader held the write-ahead log; it is truncated at the next erasure or checkpoint)"
    )


# Every way in takes event times through this one type (domain/event_times.py's range).
EventTime = Annotated[AwareDatetime, AfterValidator(checked_event_time)]


Reason = Annotated[str, StringConstraints(min_length=1, max_length=500)]


class ActingIn(Strict):
    """Staff acting for a learner say why, and may name whom they act for; both are kept
    with the event (and erased with the learner)."""

    reason: Reason | None = Field(None, description="Why (kept in the history)")
    on_behalf_of: Identifier | None = Field(None, description="Whom the caller acts for")


class CompletionIn(ActingIn):
    model_config = example(
        {
            "occurred_at": "2024-05-01T10:00:00Z",
            "reason": "marked complete from the paper register",
            "on_behalf_of": "ada",
        }
    )

    occurred_at: EventTime | None = Field(
        None,
        description="When the learner did it (ISO-8601 with a UTC offset), from "
        "1970-01-01T00:00:00Z to 5 minutes after now",
    )


class ResetIn(ActingIn):
    model_config = example({"reason": "retaking the course after the summer"})

    reason: Reason = Field(description="Why the learner starts again (kept in the history)")


class Appended(BaseModel):
    model_config = example(
        {
            "enrollment_id": ENROLLMENT,
            "appended": ["ModuleCompleted", "UnitCompleted"],
            "position": 121,
        }
    )

    enrollment_id: str
    appended: list[str]
    position: int


class ProjectionStatus(BaseModel):
    generation: int
    rules: str
    position: int
    head: int
    lag: int
    # Events parked because they could not be applied (GET /v1/projections/parked).
    parked: int = 0
    # Seconds the projection has been behind the head without moving (0 when it moves).
    stalled_seconds: float = 0.0


class Ready(BaseModel):
    model_config = example(
        {
            "status": "ready",
            "database": "ok",
            "projection": {
                "generation": 1,
                "rules": "units-v1",
                "position": 240,
                "head": 241,
                "lag": 1,
                "parked": 0,
                "stalled_seconds": 0.0,
            },
        }
    )

    # ready; degraded (events parked: their streams are held); stalled (behind the head,
    # no progress for LEDGER_PROJECTION_STALL_SECONDS). All answered with 200: see README.
    status: str
    database: str
    projection: ProjectionStatus
