"""Reading the progress documents from the live generation's views: one statement each, so
one snapshot (the position and the rows always agree) and one round trip.

Each statement is written once for both databases and its rows are turned into the
document by one function of projections/progress_documents.py. Only the fetch differs: on
PostgreSQL the hottest read (a learner in one course) runs on the event loop, on the seam's
asyncio pool as a prepared statement; every read also runs on the database's own pool, for
SQLite, for the other routes (in the threadpool), the CLI and the tests.
"""

from __future__ import annotations

from typing import Any

from eventstore.async_reads import AsyncReadPool
from eventstore.database import Database, Row
from projections.parking import PARKED_EVENTS
from projections.progress_documents import (
    ENROLLMENT_ID,
    CourseProgress,
    LearnerProgress,
    ProgressRow,
    Roster,
    learner_course_progress,
    learner_progress,
    roster,
)
from projections.progress_tables import GENERATIONS

# In the API's order. SQLite keeps booleans as 0/1, hence JSON literals there; PostgreSQL's
# NUMERIC(5,2) percentage, as JSON, loads as a float.
UNIT_FIELDS = (
    "unit_id",
    "required",
    "completed",
    "completed_modules",
    "total_modules",
    "percentage",
)
BOOLEAN_FIELDS = ("required", "completed")
# The columns of a progress row (progress_documents.ProgressRow) that SQLite stores in
# another form than the document's: timestamps as ISO text, `withdrawn` as 0/1.
COMPLETED_AT, UPDATED_AT, WITHDRAWN, HELD = 7, 8, 11, 14
# Courses listed at most for one learner.
LEARNER_COURSES_LIMIT = 1000


def unit_rows(db: Database, units: str, enrollment_id: str) -> str:
    """The enrollment's unit rows as a JSON array of the API's unit objects, as text."""
    if db.is_postgres:
        fields = ", ".join(f"'{name}', u.{name}" for name in UNIT_FIELDS)
        aggregate = f"json_agg(json_build_object({fields}))::text"
    else:
        fields = ", ".join(
            f"'{name}', json(CASE WHEN u.{name} THEN 'true' ELSE 'false' END)"
            if name in BOOLEAN_FIELDS
            else f"'{name}', u.{name}"
            for name in UNIT_FIELDS
        )
        aggregate = f"json_group_array(json_object({fields}))"
    return f"(SELECT {aggregate} FROM {units} u WHERE u.enrollment_id = {enrollment_id})"


def held(db: Database, course_aggregate: str) -> str:
    """Whether the enrollment `p`, or its course (aggregate id `course_aggregate`), has a
    parked event in the live generation `g`: one probe of an index of a table that is
    almost always empty (projections/parking.py)."""
    return (
        f"EXISTS (SELECT 1 FROM {db.table(PARKED_EVENTS)} x WHERE x.generation = g.generation "
        f"AND x.stream IN (p.enrollment_id, {course_aggregate}))"
    )


def progress_columns(db: Database, structure: str, units: str, is_held: str) -> str:
    """A progress row's columns from `g` (the live generation) and `p` (its course_progress
    row); `structure`, `units` and `is_held` are the expressions of three of them."""
    percentage = "p.percentage::float8" if db.is_postgres else "p.percentage"
    return (
        "g.position AS projection_position, p.learner_id, p.course_id, p.enrollment_id, "
        f"p.completed_units, p.total_units, {percentage} AS percentage, p.completed_at, "
        "p.updated_at, p.position, p.rules, p.withdrawn, "
        f"{structure} AS structure, {units} AS unit_rows, {is_held} AS held, "
        "COALESCE(p.attempt, 1) AS attempt"
    )


class ProgressStatements:
    def __init__(self, db: Database) -> None:
        generations, progress, units, structure = (
            db.table(GENERATIONS),
            db.table("course_progress"),
            db.table("unit_progress"),
            db.table("course_structure"),
        )
        with_units = progress_columns(
            db, "s.units", unit_rows(db, units, "p.enrollment_id"), held(db, "s.aggregate_id")
        )
        self.live_position = f"SELECT position FROM {generations} WHERE status = 'live'"
        # The LEFT JOINs from the live generation give its position even with no enrollment.
        self.learner_course = (
            f"SELECT {with_units} FROM {generations} g "
            f"LEFT JOIN {progress} p ON p.learner_id = %s AND p.course_id = %s "
            f"LEFT JOIN {structure} s ON s.course_id = p.course_id "
            "WHERE g.status = 'live'"
        )
        self.learner_courses = (
            f"SELECT {with_units} FROM {generations} g "
            f"LEFT JOIN {progress} p ON p.learner_id = %s "
            f"LEFT JOIN {structure} s ON s.course_id = p.course_id "
            f"WHERE g.status = 'live' ORDER BY p.course_id LIMIT {LEARNER_COURSES_LIMIT}"
        )
        # A roster lists no units. The page is cut by the (course_id, learner_id) index first.
        # Its average is of the unrounded percentages, rounded once, after (rows written
        # before they were stored count with their rounded percentage until a rebuild).
        exact = "COALESCE(exact_percentage, percentage)"
        course_aggregate = f"(SELECT aggregate_id FROM {structure} WHERE course_id = p.course_id)"
        listed = progress_columns(db, "NULL", "NULL", held(db, course_aggregate))
        self.roster_first_page, self.roster_page_after = (
            f"WITH summary AS (SELECT COUNT(*) AS enrolled, "
            "COALESCE(SUM(CASE WHEN completed_at IS NULL THEN 0 ELSE 1 END), 0) AS completed, "
            f"COALESCE(AVG({exact}), 0) AS average FROM {progress} "
            "WHERE course_id = %s AND withdrawn = %s), "
            f"page AS (SELECT * FROM {progress} WHERE course_id = %s{after} "
            "ORDER BY learner_id LIMIT %s) "
            f"SELECT {listed}, summary.enrolled, summary.completed, summary.average "
            f"FROM {generations} g CROSS JOIN summary LEFT JOIN page p ON TRUE "
            "WHERE g.status = 'live' ORDER BY p.learner_id"
            for after in ("", " AND learner_id > %s")
        )


class ProgressReads:
    def __init__(self, db: Database, pool: AsyncReadPool | None = None) -> None:
        """`pool`: PostgreSQL's asyncio pool, for the hottest read on the event loop."""
        self.db = db
        self.pool = pool
        self.statements = ProgressStatements(db)

    @property
    def on_event_loop(self) -> bool:
        return self.pool is not None

    async def open(self) -> None:
        if self.pool is not None:
            await self.pool.open()

    async def close(self) -> None:
        if self.pool is not None:
            await self.pool.close()

    def learner_course(self, learner_id: str, course_id: str) -> CourseProgress | None:
        """A learner's progress in one course; None when not enrolled in it."""
        rows = self._fetch(self.statements.learner_course, (learner_id, course_id))
        return learner_course_progress(rows[0] if rows else None)

    async def learner_course_on_loop(
        self, learner_id: str, course_id: str
    ) -> CourseProgress | None:
        """`learner_course` on the event loop: no threadpool hop (PostgreSQL)."""
        if self.pool is None:
            raise RuntimeError("reads on the event loop need PostgreSQL's asyncio pool")
        row = await self.pool.fetch_one(self.statements.learner_course, (learner_id, course_id))
        return learner_course_progress(row)

    def learner_courses(self, learner_id: str) -> LearnerProgress:
        """A learner's progress in each course they are enrolled in, by course id."""
        return learner_progress(
            learner_id, self._fetch(self.statements.learner_courses, (learner_id,))
        )

    def roster(self, course_id: str, limit: int, after: str | None) -> Roster:
        """A page of the course's learners after the cursor `after`, with the summary."""
        # One row more than the page says whether there is a next one.
        params: tuple[Any, ...]
        if after is None:
            statement, params = self.statements.roster_first_page, (course_id, limit + 1)
        else:
            statement, params = self.statements.roster_page_after, (course_id, after, limit + 1)
        return roster(self._fetch(statement, (course_id, False, *params)), limit)

    def live_position(self) -> int:
        with self.db.one_statement() as cursor:
            cursor.execute(self.statements.live_position)
            row = cursor.fetchone()
        return 0 if row is None else int(row["position"])

    async def live_position_on_loop(self) -> int:
        if self.pool is None:
            raise RuntimeError("reads on the event loop need PostgreSQL's asyncio pool")
        row = await self.pool.fetch_one(self.statements.live_position, ())
        return 0 if row is None else int(row[0])

    def _fetch(self, statement: str, params: tuple[Any, ...]) -> list[ProgressRow]:
        with self.db.one_statement() as cursor:
            cursor.execute(statement, params)
            return [self._as_read(row) for row in cursor.fetchall()]

    def _as_read(self, row: Row) -> ProgressRow:
        """The row's values as the asyncio pool gives them on PostgreSQL."""
        values = list(row.values())
        if not self.db.is_postgres and values[ENROLLMENT_ID] is not None:
            values[COMPLETED_AT] = self.db.read_timestamp(values[COMPLETED_AT])
            values[UPDATED_AT] = self.db.read_timestamp(values[UPDATED_AT])
            values[WITHDRAWN] = bool(values[WITHDRAWN])
            values[HELD] = bool(values[HELD])
        return values
