"""Bodies of the audit and projection-management endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, field_validator

from api.schemas import Strict
from projections.rules import RULES


class HistoryEventOut(BaseModel):
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
    enrollment_id: str
    learner_id: str
    course_id: str
    rules: str
    events: list[HistoryEventOut]
    next: int | None


class GenerationOut(BaseModel):
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
    head: int
    generations: list[GenerationOut]


class RebuildIn(Strict):
    rules: str
    dry_run: bool = False

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

    generation: int
    position: int
    # The enrollment's or the course's aggregate id.
    stream: str
    kind: str
    error: str
    parked_at: datetime | None


class ParkedOut(BaseModel):
    generation: int
    parked: list[ParkedEventOut]


class RetryOut(ParkedOut):
    applied: int
