"""Bodies of the audit and projection-management endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, StrictBool, field_validator

from api.schemas import COURSE, ENROLLMENT, Strict, example
from projections.rules import RULES

COMPLETED = {
    "position": 121,
    "version": 3,
    "type": "UnitCompleted",
    "course_event": False,
    "occurred_at": "2024-05-02T10:00:00Z",
    "recorded_at": "2024-05-02T10:00:01.204Z",
    "data": {"unit_id": "u2"},
    "actor": "moodle-sync",
    "reason": "marked complete from the paper register",
    "on_behalf_of": "ada",
    "attempt": 1,
    "completed_units": 2,
    "total_units": 2,
    "percentage": 100.0,
    "completed_at": "2024-05-02T10:00:00Z",
}
GENERATION = {
    "generation": 2,
    "projection": "course_progress",
    "rules": "weighted-v1",
    "status": "building",
    "position": 52000,
    "head": 240000,
    "lag": 188000,
    "events_per_second": 41250.5,
    "created_at": "2024-05-03T08:00:00Z",
    "switched_at": None,
    "error": None,
}
PARKED = {
    "generation": 1,
    "position": 4711,
    "stream": ENROLLMENT,
    "kind": "UnitCompleted",
    "error": "KeyError: 'unit_id'",
    "parked_at": "2024-05-03T08:12:00Z",
}


class HistoryEventOut(BaseModel):
    model_config = example(COMPLETED)

    position: int
    version: int
    type: str
    course_event: bool
    occurred_at: datetime
    recorded_at: datetime
    data: dict[str, Any]
    # Who did it: an API key's name, `cli`, `import` (`unknown` before actors were kept).
    actor: str
    reason: str | None
    on_behalf_of: str | None
    attempt: int
    completed_units: int
    total_units: int
    percentage: float
    completed_at: datetime | None


class HistoryOut(BaseModel):
    model_config = example(
        {
            "enrollment_id": ENROLLMENT,
            "learner_id": "ada",
            "course_id": COURSE,
            "rules": "units-v1",
            "events": [COMPLETED],
            "next": 121,
        }
    )

    enrollment_id: str
    learner_id: str
    course_id: str
    rules: str
    events: list[HistoryEventOut]
    next: int | None


class GenerationOut(BaseModel):
    model_config = example(GENERATION)

    generation: int
    projection: str
    rules: str
    status: str
    position: int
    head: int
    lag: int
    events_per_second: float | None
    created_at: datetime | None
    switched_at: datetime | None
    error: str | None = None


class ProjectionsOut(BaseModel):
    model_config = example(
        {
            "head": 240000,
            "generations": [
                {
                    **GENERATION,
                    "generation": 1,
                    "rules": "units-v1",
                    "status": "live",
                    "position": 240000,
                    "lag": 0,
                    "events_per_second": None,
                    "created_at": "2024-01-10T09:00:00Z",
                    "switched_at": "2024-01-10T09:00:00Z",
                },
                GENERATION,
            ],
        }
    )

    head: int
    generations: list[GenerationOut]


class RebuildIn(Strict):
    model_config = example({"rules": "weighted-v1", "dry_run": True})

    rules: str
    dry_run: StrictBool = False  # not 0 or "no": the schema says boolean

    @field_validator("rules")
    @classmethod
    def known_rules(cls, rules: str) -> str:
        if rules not in RULES:
            raise ValueError(f"unknown rules {rules!r}; known rules: {', '.join(sorted(RULES))}")
        return rules


class SnapshotChangeOut(BaseModel):
    learner_id: str
    course_id: str
    old_percentage: float | None
    new_percentage: float | None
    old_completed: bool | None
    new_completed: bool | None


class DiffOut(BaseModel):
    model_config = example(
        {
            "generation": 2,
            "rules": "weighted-v1",
            "against": 1,
            "against_rules": "units-v1",
            "position": 240000,
            "against_position": 240000,
            "changed": 1830,
            "learners": [
                {
                    "learner_id": "ada",
                    "course_id": COURSE,
                    "old_percentage": 50.0,
                    "new_percentage": 66.67,
                    "old_completed": False,
                    "new_completed": False,
                }
            ],
            "next": f"ada/{COURSE}",
        }
    )

    generation: int
    rules: str
    against: int
    against_rules: str
    position: int
    against_position: int
    changed: int
    learners: list[SnapshotChangeOut]
    next: str | None


class ParkedEventOut(BaseModel):
    """An event the projection could not apply, or one held behind it in its stream."""

    model_config = example(PARKED)

    generation: int
    position: int
    # The enrollment's or the course's aggregate id.
    stream: str
    kind: str
    error: str
    parked_at: datetime | None


class ParkedOut(BaseModel):
    model_config = example({"generation": 1, "parked": [PARKED]})

    generation: int
    parked: list[ParkedEventOut]


class RetryOut(ParkedOut):
    model_config = example({"generation": 1, "parked": [], "applied": 1})

    applied: int
