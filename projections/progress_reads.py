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
from eventstore.database import Database
from projections.progress_columns import as_read, held, progress_columns, unit_rows
from projections.progress_documents import (
    CourseProgress,
    LearnerProgress,
    ProgressRow,
    Roster,
    learner_course_progress,
    learner_progress,
)
from projections.progress_tables import GENERATIONS
from projections.roster_queries import RosterQuery, roster_page

# A learner's courses listed a page, unless asked otherwise.
LEARNER_COURSES_LIMIT = 1000


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
        # A page of a learner's courses after a course id ('' for the first), one row more
        # than the page to say whether there is a next; with units, or without (enrollments).
        without_units = progress_columns(db, "NULL", "NULL", held(db, "s.aggregate_id"))
        self.learner_courses, self.learner_enrollments = (
            f"SELECT {columns} FROM {generations} g "
            f"LEFT JOIN {progress} p ON p.learner_id = %s AND p.course_id > %s "
            f"LEFT JOIN {structure} s ON s.course_id = p.course_id "
            "WHERE g.status = 'live' ORDER BY p.course_id LIMIT %s"
            for columns in (with_units, without_units)
        )
        self.enrollment = (
            f"SELECT {with_units} FROM {generations} g "
            f"LEFT JOIN {progress} p ON p.enrollment_id = %s "
            f"LEFT JOIN {structure} s ON s.course_id = p.course_id "
            "WHERE g.status = 'live'"
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

    def learner_courses(
        self,
        learner_id: str,
        after: str | None = None,
        limit: int = LEARNER_COURSES_LIMIT,
        *,
        units: bool = True,
    ) -> LearnerProgress:
        """A page of a learner's progress in each course they are enrolled in, by course id,
        after the course `after`; `next` names the last course when there are more. Without
        `units`, each course's numbers alone (their enrollments)."""
        statement = (
            self.statements.learner_courses if units else self.statements.learner_enrollments
        )
        rows = self._fetch(statement, (learner_id, after or "", limit + 1))
        return learner_progress(learner_id, rows, limit)

    def enrollment(self, enrollment_id: str) -> CourseProgress | None:
        """One enrollment's progress, unit by unit; None when there is none (or erased)."""
        rows = self._fetch(self.statements.enrollment, (enrollment_id,))
        return learner_course_progress(rows[0] if rows else None)

    def roster(self, course_id: str, query: RosterQuery) -> Roster:
        """A page of the course's learners as `query` asks, with the course's summary."""
        return roster_page(self.db, course_id, query)

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
            return [as_read(self.db, row) for row in cursor.fetchall()]
