"""What the course page shows beside its roster: a histogram of percentages, and the share
of its learners who completed each unit, in course order (where learners get stuck). One
statement each, on the live generation's views, written once for both databases; like the
roster's summary, they count the learners not withdrawn.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from eventstore.database import Database

# Buckets of ten points (0-9.99 ... 90-99.99), then 100 on its own: finished learners are
# told apart from those one unit short.
BUCKET_BOUNDS = tuple(range(0, 100, 10))


@dataclass(frozen=True)
class HistogramBucket:
    low: int
    high: int  # inclusive for the last bucket (100), exclusive for the others
    learners: int

    @property
    def label(self) -> str:
        return "100%" if self.low == 100 else f"{self.low}–{self.high - 1}%"


@dataclass(frozen=True)
class UnitShare:
    unit_id: str
    title: str
    completed: int
    enrolled: int

    @property
    def share(self) -> float:
        return round(100 * self.completed / self.enrolled, 1) if self.enrolled else 0.0


@dataclass(frozen=True)
class CourseCharts:
    course_id: str
    histogram: list[HistogramBucket]
    units: list[UnitShare]


def _is_true(db: Database, column: str) -> str:
    return column if db.is_postgres else f"{column} = 1"


class CourseChartReads:
    def __init__(self, db: Database) -> None:
        self.db = db
        progress, units, structure = (
            db.table("course_progress"),
            db.table("unit_progress"),
            db.table("course_structure"),
        )
        buckets = ", ".join(
            f"COALESCE(SUM(CASE WHEN percentage >= {low} AND percentage < {low + 10} "
            f"THEN 1 ELSE 0 END), 0) AS b{low}"
            for low in BUCKET_BOUNDS
        )
        self.histogram = (
            f"SELECT {buckets}, "
            "COALESCE(SUM(CASE WHEN percentage >= 100 THEN 1 ELSE 0 END), 0) AS b100 "
            f"FROM {progress} WHERE course_id = %s AND withdrawn = %s"
        )
        completed = _is_true(db, "u.completed")
        self.unit_counts = (
            f"SELECT u.unit_id, SUM(CASE WHEN {completed} THEN 1 ELSE 0 END) AS completed, "
            f"COUNT(*) AS enrolled FROM {units} u JOIN {progress} p "
            "ON p.enrollment_id = u.enrollment_id AND p.withdrawn = %s "
            "WHERE u.course_id = %s GROUP BY u.unit_id"
        )
        self.structure = f"SELECT units FROM {structure} WHERE course_id = %s"

    def charts(self, course_id: str) -> CourseCharts | None:
        """The course's histogram and unit shares; None when there is no such course."""
        with self.db.transaction(commit=False) as cursor:
            cursor.execute(self.structure, (course_id,))
            found = cursor.fetchone()
            if found is None:
                return None
            cursor.execute(self.histogram, (course_id, False))
            counts = cursor.fetchone() or {}
            cursor.execute(self.unit_counts, (False, course_id))
            by_unit = {row["unit_id"]: row for row in cursor.fetchall()}
        specs = _loaded(found["units"])
        return CourseCharts(
            course_id=course_id,
            histogram=[
                HistogramBucket(low, low + 10, int(counts.get(f"b{low}") or 0))
                for low in BUCKET_BOUNDS
            ]
            + [HistogramBucket(100, 100, int(counts.get("b100") or 0))],
            units=[
                UnitShare(
                    unit_id=spec["unit_id"],
                    title=spec.get("title") or spec["unit_id"],
                    completed=int((by_unit.get(spec["unit_id"]) or {}).get("completed") or 0),
                    enrolled=int((by_unit.get(spec["unit_id"]) or {}).get("enrolled") or 0),
                )
                for spec in specs
            ],
        )


def _loaded(units: Any) -> list[dict[str, Any]]:
    """The structure's JSON column: text on SQLite, already decoded on PostgreSQL."""
    loaded: list[dict[str, Any]] = orjson.loads(units) if isinstance(units, str | bytes) else units
    return loaded
