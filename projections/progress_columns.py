"""The columns every progress statement selects, written once for both databases, and the
row as the documents read it (projections/progress_documents.py)."""

from __future__ import annotations

from eventstore.database import Database, Row
from projections.parking import PARKED_EVENTS
from projections.progress_documents import ENROLLMENT_ID, ProgressRow

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


def as_read(db: Database, row: Row) -> ProgressRow:
    """The row's values as the asyncio pool gives them on PostgreSQL."""
    values = list(row.values())
    if not db.is_postgres and values[ENROLLMENT_ID] is not None:
        values[COMPLETED_AT] = db.read_timestamp(values[COMPLETED_AT])
        values[UPDATED_AT] = db.read_timestamp(values[UPDATED_AT])
        values[WITHDRAWN] = bool(values[WITHDRAWN])
        values[HELD] = bool(values[HELD])
    return values
