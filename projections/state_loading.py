"""Loading the fold's states for a batch from a generation's tables: the courses and the
enrollments the batch's events touch, and nothing else."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

import orjson

from domain.course import DEFAULT_THRESHOLD, Unit, UnitSpec
from eventstore.database import Database, Row, chunks, placeholders
from projections.fold import CourseState, EnrollmentState
from projections.progress_tables import GenerationTables


def load_courses(
    db: Database,
    tables: GenerationTables,
    course_ids: Collection[str],
    aggregate_ids: Collection[str],
) -> dict[str, CourseState]:
    """The courses named, by course id or by their aggregate's id."""
    rows = rows_where_in(
        db, tables.course_structure, {"course_id": course_ids, "aggregate_id": aggregate_ids}
    )
    return {row["course_id"]: course_state(db, row) for row in rows}


def load_enrollments(
    db: Database,
    tables: GenerationTables,
    enrollment_ids: Collection[str],
    course_ids: Collection[str],
) -> dict[str, EnrollmentState]:
    """The enrollments named, and every enrollment of the courses named."""
    rows = rows_where_in(
        db, tables.course_progress, {"enrollment_id": enrollment_ids, "course_id": course_ids}
    )
    return {row["enrollment_id"]: enrollment_state(db, row) for row in rows}


def rows_where_in(
    db: Database, table: str, keys_by_column: dict[str, Collection[str]]
) -> list[Row]:
    """Every row whose column holds one of its keys, a chunk of keys per statement."""
    rows: list[Row] = []
    if not any(keys_by_column.values()):
        return rows
    with db.transaction(commit=False) as cursor:
        for column, keys in keys_by_column.items():
            for chunk in chunks(sorted(set(keys))):
                cursor.execute(
                    f"SELECT * FROM {table} WHERE {column} IN ({placeholders(chunk)})", chunk
                )
                rows.extend(cursor.fetchall())
    return rows


def course_state(db: Database, row: Row) -> CourseState:
    specs: list[UnitSpec] = orjson.loads(row["units"])
    return CourseState(
        course_id=row["course_id"],
        units=[Unit.from_spec(spec) for spec in specs],
        updated_at=required_timestamp(db, row["updated_at"]),
        position=int(row["position"]),
        completion_threshold=float(row["completion_threshold"] or DEFAULT_THRESHOLD),
    )


def enrollment_state(db: Database, row: Row) -> EnrollmentState:
    completed_units: dict[str, str] = orjson.loads(row["completed_unit_ids"])
    return EnrollmentState(
        enrollment_id=row["enrollment_id"],
        learner_id=row["learner_id"],
        course_id=row["course_id"],
        enrolled_at=required_timestamp(db, row["enrolled_at"]),
        updated_at=required_timestamp(db, row["updated_at"]),
        position=int(row["position"]),
        completed_units={
            unit_id: datetime.fromisoformat(at) for unit_id, at in completed_units.items()
        },
        completed_modules=set(orjson.loads(row["completed_module_ids"])),
        withdrawn=bool(row["withdrawn"]),
        completed_at=db.read_timestamp(row["completed_at"]),
        attempt=int(row["attempt"] or 1),
        percentage=float(row["percentage"]),
    )


def required_timestamp(db: Database, value: Any) -> datetime:
    timestamp = db.read_timestamp(value)
    if timestamp is None:
        raise ValueError("a required timestamp column is empty")
    return timestamp
