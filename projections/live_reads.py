"""The hottest read on PostgreSQL, on the event loop: a learner's progress in one course.

On the seam's asyncio pool (eventstore/async_reads.py): one prepared statement, one round
trip, one snapshot. The answer comes back as the document the API sends, built with as
little Python as possible.
"""

from __future__ import annotations

from typing import Any

import orjson

from eventstore.async_reads import AsyncReadPool
from projections.queries import Answer

ProgressDocument = dict[str, Any]

# The units' keys in the order the API writes them; the JSON of NUMERIC(5,2) loads as float.
UNIT_FIELDS = (
    "'unit_id', u.unit_id, 'required', u.required, 'completed', u.completed, "
    "'completed_modules', u.completed_modules, 'total_modules', u.total_modules, "
    "'percentage', u.percentage"
)


def learner_course_statement(
    generations: str, course_progress: str, unit_progress: str, course_structure: str
) -> str:
    return (
        "SELECT g.position, p.learner_id, p.course_id, p.enrollment_id, p.completed_units, "
        "p.total_units, p.percentage::float8, p.completed_at, p.updated_at, p.position, "
        "p.rules, p.withdrawn, s.units, "
        f"(SELECT json_agg(json_build_object({UNIT_FIELDS}))::text "
        f"FROM {unit_progress} u WHERE u.enrollment_id = p.enrollment_id) "
        f"FROM {generations} g "
        f"LEFT JOIN {course_progress} p ON p.learner_id = %s AND p.course_id = %s "
        f"LEFT JOIN {course_structure} s ON s.course_id = p.course_id "
        "WHERE g.status = 'live'"
    )


def progress_document(row: tuple[Any, ...]) -> ProgressDocument:
    """The API's progress document (without `projection_position`) from the statement's row."""
    (
        _,
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
    }


class LiveProgressReads:
    def __init__(self, pool: AsyncReadPool, generations: str, statement: str) -> None:
        self.pool = pool
        self.statement = statement
        self.position_statement = f"SELECT position FROM {generations} WHERE status = 'live'"

    async def open(self) -> None:
        await self.pool.open()

    async def close(self) -> None:
        await self.pool.close()

    async def live_position(self) -> int:
        row = await self.pool.fetch_one(self.position_statement, ())
        return 0 if row is None else int(row[0])

    async def learner_course(
        self, learner_id: str, course_id: str
    ) -> Answer[ProgressDocument | None]:
        row = await self.pool.fetch_one(self.statement, (learner_id, course_id))
        if row is None:
            return Answer(None, 0)
        position = int(row[0])
        if row[3] is None:
            return Answer(None, position)
        return Answer(progress_document(row), position)
