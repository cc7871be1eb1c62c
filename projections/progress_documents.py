"""The progress documents people read: one shape each, and one function each that builds it
from the rows its statement returns (projections/progress_reads.py).

The same functions serve both databases, the HTTP routes, the CLI and the tests. The shapes
are TypedDicts: the hottest read builds its document straight from the row, with no object
per unit, and the API serialises it as it is (and documents it in its OpenAPI schema).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson

# pydantic reads these shapes for the API's schema, and needs this TypedDict before 3.12.
from typing_extensions import TypedDict

from projections.rules import rounded

NOISE = Decimal("1e-9")


class UnitProgress(TypedDict):
    unit_id: str
    required: bool
    completed: bool
    completed_modules: int
    total_modules: int
    percentage: float


class CourseProgress(TypedDict):
    """A learner's progress in one course, unit by unit in the course's order."""

    learner_id: str
    course_id: str
    enrollment_id: str
    completed_units: int
    total_units: int
    percentage: float
    completed_at: datetime | None
    updated_at: datetime | None
    # The log position of the last event that changed this enrollment's numbers.
    position: int
    rules: str
    withdrawn: bool
    units: list[UnitProgress]
    # The live projection's position when read: it reflects the log at least up to here.
    projection_position: int
    # An event of this enrollment (or its course) could not be applied and is parked: these
    # are its last good numbers, and its later events wait behind it.
    held: bool
    # 1, then one more after each reset: the numbers are this attempt's.
    attempt: int


class ProgressAsOf(CourseProgress):
    """Progress replayed from the events recorded up to `as_of`, under the rules of the
    generation that was live then."""

    as_of: datetime
    generation: int


class LearnerProgress(TypedDict):
    """A page of the learner's courses, by course id; `next` is the cursor of the next."""

    learner_id: str
    courses: list[CourseProgress]
    next: str | None
    projection_position: int


class RosterSummary(TypedDict):
    """Over the learners not withdrawn."""

    enrolled: int
    completed: int
    average_percentage: float


class Roster(TypedDict):
    """A page of a course's learners in the order asked (projections/roster_queries.py);
    `next` is the opaque cursor of the next page, None on the last."""

    items: list[CourseProgress]
    next: str | None
    summary: RosterSummary
    projection_position: int


# A progress row, as every progress statement selects it (progress_reads.PROGRESS_COLUMNS):
# the live position, the enrollment's columns (all NULL when there is no enrollment), the
# course's structure and the enrollment's unit rows, both as JSON text.
ProgressRow = Sequence[Any]
ENROLLMENT_ID = 3
PROGRESS_COLUMN_COUNT = 16


def course_progress(row: ProgressRow) -> CourseProgress:
    """The hottest read's document: little Python, the units as the statement shaped them."""
    (
        projection_position,
        learner_id,
        course_id,
        enrollment_id,
        completed_units,
        total_units,
        percentage,
        completed_at,
        updated_at,
        position,
        rules,
        withdrawn,
        structure,
        unit_rows,
        held,
        attempt,
    ) = row
    by_unit = {unit["unit_id"]: unit for unit in orjson.loads(unit_rows or "[]")}
    units = [
        by_unit[spec["unit_id"]]
        for spec in orjson.loads(structure or "[]")
        if spec["unit_id"] in by_unit
    ]
    return {
        "learner_id": learner_id,
        "course_id": course_id,
        "enrollment_id": enrollment_id,
        "completed_units": completed_units,
        "total_units": total_units,
        "percentage": percentage,
        "completed_at": completed_at,
        "updated_at": updated_at,
        "position": position,
        "rules": rules,
        "withdrawn": withdrawn,
        "units": units,
        "projection_position": projection_position,
        "held": held,
        "attempt": attempt,
    }


def learner_course_progress(row: ProgressRow | None) -> CourseProgress | None:
    """None when the learner is not enrolled in the course (or nothing is live)."""
    if row is None or row[ENROLLMENT_ID] is None:
        return None
    return course_progress(row)


def learner_progress(learner_id: str, rows: Sequence[ProgressRow], limit: int) -> LearnerProgress:
    """Rows in course order, at most `limit` + 1 (one more says that a next page exists);
    one row of NULLs (but the position) when there is none."""
    courses = [course_progress(row) for row in rows[:limit] if row[ENROLLMENT_ID] is not None]
    return {
        "learner_id": learner_id,
        "courses": courses,
        "next": courses[-1]["course_id"] if len(rows) > limit else None,
        "projection_position": int(rows[0][0]) if rows else 0,
    }


def rounded_average(average: float | Decimal) -> float:
    """The roster's average, rounded once (two decimals, half up). SQLite averages in
    binary floating point: its last bits of noise are dropped (at 1e-9) before the rounding,
    so that an exact 41.665 is not read as 41.66499999."""
    return rounded(Decimal(str(average)).quantize(NOISE))
