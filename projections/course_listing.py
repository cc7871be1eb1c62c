"""The courses, a page at a time by course id, each with its enrolled, completed and average
(over the learners not withdrawn, as the roster's summary counts them)."""

from __future__ import annotations

from typing import Any

# pydantic reads these shapes for the API's schema, and needs this TypedDict before 3.12.
from typing_extensions import TypedDict

from eventstore.database import Database
from projections.progress_documents import rounded_average
from projections.progress_tables import GENERATIONS


class CourseSummary(TypedDict):
    course_id: str
    units: int
    completion_threshold: float | None
    enrolled: int
    completed: int
    average_percentage: float


class CourseList(TypedDict):
    items: list[CourseSummary]
    next: str | None
    projection_position: int


def course_list_statement(db: Database) -> str:
    """Keyset by course id on the structure's primary key; each course's counts on the
    (course_id, learner_id) index of its progress rows."""
    progress, structure = db.table("course_progress"), db.table("course_structure")
    length = "json_array_length(s.units::json)" if db.is_postgres else "json_array_length(s.units)"
    counted = f"FROM {progress} p WHERE p.course_id = s.course_id AND p.withdrawn = %s"
    return (
        f"SELECT g.position AS projection_position, s.course_id, {length} AS units, "
        "s.completion_threshold, "
        f"(SELECT COUNT(*) {counted}) AS enrolled, "
        f"(SELECT COUNT(*) {counted} AND p.completed_at IS NOT NULL) AS completed, "
        f"(SELECT COALESCE(AVG(COALESCE(p.exact_percentage, p.percentage)), 0) {counted}) "
        "AS average "
        f"FROM {db.table(GENERATIONS)} g LEFT JOIN {structure} s ON s.course_id > %s "
        "WHERE g.status = 'live' ORDER BY s.course_id LIMIT %s"
    )


def course_list(db: Database, after: str | None, limit: int) -> CourseList:
    params: list[Any] = [False, False, False, after or "", limit + 1]
    with db.one_statement() as cursor:
        cursor.execute(course_list_statement(db), params)
        rows = cursor.fetchall()
    items: list[CourseSummary] = [
        {
            "course_id": row["course_id"],
            "units": int(row["units"]),
            "completion_threshold": row["completion_threshold"],
            "enrolled": int(row["enrolled"]),
            "completed": int(row["completed"]),
            "average_percentage": rounded_average(row["average"]),
        }
        for row in rows[:limit]
        if row["course_id"] is not None
    ]
    return {
        "items": items,
        "next": items[-1]["course_id"] if len(rows) > limit else None,
        "projection_position": int(rows[0]["projection_position"]) if rows else 0,
    }
