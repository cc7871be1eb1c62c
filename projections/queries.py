"""The read side: progress as people ask for it, read from the live generation's views."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

import orjson

from eventstore.database import Cursor, Database, Row

T = TypeVar("T")


@dataclass(frozen=True)
class UnitProgressView:
    unit_id: str
    required: bool
    completed: bool
    completed_modules: int
    total_modules: int
    percentage: float
    completed_at: datetime | None


@dataclass(frozen=True)
class CourseProgressView:
    learner_id: str
    course_id: str
    enrollment_id: str
    completed_units: int
    total_units: int
    percentage: float
    completed_at: datetime | None
    updated_at: datetime | None
    position: int
    rules: str
    withdrawn: bool
    units: list[UnitProgressView]


@dataclass(frozen=True)
class RosterSummary:
    enrolled: int
    completed: int
    average_percentage: float


@dataclass(frozen=True)
class RosterPage:
    items: list[CourseProgressView]
    next: str | None
    summary: RosterSummary


@dataclass(frozen=True)
class Answer(Generic[T]):
    """A read, and the live projection position it reflects (at least)."""

    value: T
    projection_position: int


class ProgressQueries:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.generations = db.table("projection_generations")
        self.course_progress = db.table("course_progress")
        self.unit_progress = db.table("unit_progress")
        self.course_structure = db.table("course_structure")

    def live_position(self) -> int:
        with self.db.transaction(commit=False) as cursor:
            return self._live_position(cursor)

    def learner_course(self, learner_id: str, course_id: str) -> Answer[CourseProgressView | None]:
        if self.db.is_postgres:
            return self._learner_course_at_once(learner_id, course_id)
        with self.db.transaction(commit=False) as cursor:
            position = self._live_position(cursor)
            views = self._progress(
                cursor, "learner_id = %s AND course_id = %s", (learner_id, course_id)
            )
        return Answer(views[0] if views else None, position)

    def learner_courses(self, learner_id: str) -> Answer[list[CourseProgressView]]:
        with self.db.transaction(commit=False) as cursor:
            position = self._live_position(cursor)
            views = self._progress(cursor, "learner_id = %s", (learner_id,), "course_id")
        return Answer(views, position)

    def roster(self, course_id: str, limit: int, after: str | None) -> Answer[RosterPage]:
        with self.db.transaction(commit=False) as cursor:
            position = self._live_position(cursor)
            where, params = "course_id = %s", [course_id]
            if after is not None:
                where += " AND learner_id > %s"
                params.append(after)
            rows = self._rows(cursor, where, params, "learner_id", limit + 1)
            items = [self._course_view(row, []) for row in rows[:limit]]
            cursor.execute(
                "SELECT COUNT(*) AS enrolled, "
                "COALESCE(SUM(CASE WHEN percentage >= 100 THEN 1 ELSE 0 END), 0) AS completed, "
                f"COALESCE(AVG(percentage), 0) AS average FROM {self.course_progress} "
                f"WHERE course_id = %s AND withdrawn = %s",
                (course_id, False),
            )
            summary_row = cursor.fetchone()
        assert summary_row is not None
        summary = RosterSummary(
            enrolled=int(summary_row["enrolled"]),
            completed=int(summary_row["completed"]),
            average_percentage=round(float(summary_row["average"]), 2),
        )
        next_cursor = items[-1].learner_id if len(rows) > limit else None
        return Answer(RosterPage(items, next_cursor, summary), position)

    def _learner_course_at_once(
        self, learner_id: str, course_id: str
    ) -> Answer[CourseProgressView | None]:
        """The hottest read in one statement and one round trip (PostgreSQL): one snapshot,
        so the position, the row and its units always agree."""
        with self.db.one_statement() as cursor:
            cursor.execute(
                "SELECT g.position AS projection_position, p.*, s.units AS structure, "
                "(SELECT json_agg(json_build_object("
                "'unit_id', u.unit_id, 'required', u.required, 'completed', u.completed, "
                "'completed_modules', u.completed_modules, 'total_modules', u.total_modules, "
                "'percentage', u.percentage, 'completed_at', u.completed_at)) "
                f"FROM {self.unit_progress} u WHERE u.enrollment_id = p.enrollment_id) "
                "AS unit_rows "
                f"FROM {self.generations} g "
                f"LEFT JOIN {self.course_progress} p ON p.learner_id = %s AND p.course_id = %s "
                f"LEFT JOIN {self.course_structure} s ON s.course_id = p.course_id "
                "WHERE g.status = 'live'",
                (learner_id, course_id),
            )
            row = cursor.fetchone()
        if row is None:
            return Answer(None, 0)
        position = int(row["projection_position"])
        if row["enrollment_id"] is None:
            return Answer(None, position)
        order = [spec["unit_id"] for spec in orjson.loads(row["structure"] or "[]")]
        by_unit = {unit["unit_id"]: unit for unit in row["unit_rows"] or []}
        units = [
            UnitProgressView(
                unit_id=unit["unit_id"],
                required=bool(unit["required"]),
                completed=bool(unit["completed"]),
                completed_modules=int(unit["completed_modules"]),
                total_modules=int(unit["total_modules"]),
                percentage=float(unit["percentage"]),
                completed_at=None
                if unit["completed_at"] is None
                else datetime.fromisoformat(unit["completed_at"]),
            )
            for unit in (by_unit[unit_id] for unit_id in order if unit_id in by_unit)
        ]
        return Answer(self._course_view(row, units), position)

    def _live_position(self, cursor: Cursor) -> int:
        if self.db.is_postgres:
            # One snapshot for the whole read, so a generation switch is never seen half-way.
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        cursor.execute(f"SELECT position FROM {self.generations} WHERE status = 'live'")
        row = cursor.fetchone()
        return int(row["position"]) if row else 0

    def _rows(
        self, cursor: Cursor, where: str, params: Sequence[object], order: str, limit: int = 1000
    ) -> list[Row]:
        cursor.execute(
            f"SELECT * FROM {self.course_progress} WHERE {where} ORDER BY {order} LIMIT %s",
            (*params, limit),
        )
        return cursor.fetchall()

    def _progress(
        self, cursor: Cursor, where: str, params: Sequence[object], order: str = "course_id"
    ) -> list[CourseProgressView]:
        views = []
        for row in self._rows(cursor, where, params, order):
            views.append(self._course_view(row, self._units(cursor, row)))
        return views

    def _units(self, cursor: Cursor, course_row: Row) -> list[UnitProgressView]:
        cursor.execute(
            f"SELECT units FROM {self.course_structure} WHERE course_id = %s",
            (course_row["course_id"],),
        )
        structure = cursor.fetchone()
        order = [spec["unit_id"] for spec in orjson.loads(structure["units"])] if structure else []
        cursor.execute(
            f"SELECT * FROM {self.unit_progress} WHERE enrollment_id = %s",
            (course_row["enrollment_id"],),
        )
        by_unit = {row["unit_id"]: row for row in cursor.fetchall()}
        return [
            UnitProgressView(
                unit_id=row["unit_id"],
                required=bool(row["required"]),
                completed=bool(row["completed"]),
                completed_modules=int(row["completed_modules"]),
                total_modules=int(row["total_modules"]),
                percentage=float(row["percentage"]),
                completed_at=self.db.read_timestamp(row["completed_at"]),
            )
            for row in (by_unit[unit_id] for unit_id in order if unit_id in by_unit)
        ]

    def _course_view(self, row: Row, units: list[UnitProgressView]) -> CourseProgressView:
        return CourseProgressView(
            learner_id=row["learner_id"],
            course_id=row["course_id"],
            enrollment_id=row["enrollment_id"],
            completed_units=int(row["completed_units"]),
            total_units=int(row["total_units"]),
            percentage=float(row["percentage"]),
            completed_at=self.db.read_timestamp(row["completed_at"]),
            updated_at=self.db.read_timestamp(row["updated_at"]),
            position=int(row["position"]),
            rules=row["rules"],
            withdrawn=bool(row["withdrawn"]),
            units=units,
        )
