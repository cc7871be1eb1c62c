"""The progress tables: their names, columns and DDL, one set per generation, and the views
that show the live one.

A generation is a full copy of the tables made under one set of rules. Readers query the
views (`course_progress`, `unit_progress`, `course_structure`); pointing them at another
generation is a switch.
"""

from __future__ import annotations

from collections.abc import Sequence

from eventstore.database import Cursor, Database, chunks, placeholders

GENERATIONS = "projection_generations"
VIEWS = ("course_progress", "unit_progress", "course_structure")

COURSE_PROGRESS_COLUMNS = (
    "enrollment_id",
    "learner_id",
    "course_id",
    "completed_units",
    "total_units",
    "percentage",
    "completed_at",
    "updated_at",
    "position",
    "rules",
    "withdrawn",
    "enrolled_at",
    "completed_unit_ids",
    "completed_module_ids",
    "exact_percentage",
    "attempt",
)
# Columns added after a generation's tables may have been made: (table's view, column, type).
# Rows written before hold NULL: read as the value every row then had (see state_loading).
ADDED_COLUMNS = (
    ("course_progress", "exact_percentage", "DOUBLE PRECISION"),
    ("course_progress", "attempt", "INTEGER"),
    ("course_structure", "completion_threshold", "DOUBLE PRECISION"),
)
UNIT_PROGRESS_COLUMNS = (
    "enrollment_id",
    "unit_id",
    "learner_id",
    "course_id",
    "required",
    "completed",
    "completed_modules",
    "total_modules",
    "percentage",
    "completed_at",
    "updated_at",
)
COURSE_STRUCTURE_COLUMNS = (
    "course_id",
    "aggregate_id",
    "units",
    "updated_at",
    "position",
    "completion_threshold",
)


class GenerationTables:
    """The tables of one generation, by the names SQL uses."""

    def __init__(self, db: Database, number: int) -> None:
        self.course_progress = db.table(f"course_progress_g{number}")
        self.unit_progress = db.table(f"unit_progress_g{number}")
        self.course_structure = db.table(f"course_structure_g{number}")
        self.index_prefix = f"g{number}"

    def all(self) -> tuple[str, str, str]:
        """In the order of VIEWS."""
        return (self.course_progress, self.unit_progress, self.course_structure)


def create_tables(
    cursor: Cursor, db: Database, tables: GenerationTables, *, for_reads: bool = True
) -> None:
    """The generation's tables; without `for_reads`, not yet the indexes only readers use
    (a rebuild writes faster without them, and makes them before it switches)."""
    ts, pct, js = db.timestamp_type, db.percentage_type, db.json_type
    p = tables.index_prefix
    for statement in (
        f"CREATE TABLE IF NOT EXISTS {tables.course_progress} ("
        "enrollment_id TEXT PRIMARY KEY, learner_id TEXT NOT NULL, "
        "course_id TEXT NOT NULL, completed_units INTEGER NOT NULL, "
        f"total_units INTEGER NOT NULL, percentage {pct} NOT NULL, completed_at {ts}, "
        f"updated_at {ts} NOT NULL, position BIGINT NOT NULL, rules TEXT NOT NULL, "
        f"withdrawn BOOLEAN NOT NULL, enrolled_at {ts} NOT NULL, "
        f"completed_unit_ids {js} NOT NULL, completed_module_ids {js} NOT NULL, "
        "exact_percentage DOUBLE PRECISION, attempt INTEGER)",
        f"CREATE UNIQUE INDEX IF NOT EXISTS {p}_course_progress_learner "
        f"ON {tables.course_progress} (learner_id, course_id)",
        *(sorted_roster_indexes(tables) if for_reads else ()),
        f"CREATE TABLE IF NOT EXISTS {tables.unit_progress} ("
        "enrollment_id TEXT NOT NULL, unit_id TEXT NOT NULL, learner_id TEXT NOT NULL, "
        "course_id TEXT NOT NULL, required BOOLEAN NOT NULL, completed BOOLEAN NOT NULL, "
        "completed_modules INTEGER NOT NULL, total_modules INTEGER NOT NULL, "
        f"percentage {pct} NOT NULL, completed_at {ts}, updated_at {ts} NOT NULL, "
        "PRIMARY KEY (enrollment_id, unit_id))",
        f"CREATE INDEX IF NOT EXISTS {p}_unit_progress_course "
        f"ON {tables.unit_progress} (course_id, unit_id)",
        f"CREATE TABLE IF NOT EXISTS {tables.course_structure} ("
        "course_id TEXT PRIMARY KEY, aggregate_id TEXT NOT NULL UNIQUE, "
        f"units {js} NOT NULL, updated_at {ts} NOT NULL, position BIGINT NOT NULL, "
        "completion_threshold DOUBLE PRECISION)",
    ):
        cursor.execute(statement)


def sorted_roster_indexes(tables: GenerationTables) -> list[str]:
    """One index per roster sort (projections/roster_queries.py): a page is a range of one,
    whatever the course's size."""
    return [
        f"CREATE INDEX IF NOT EXISTS {tables.index_prefix}_course_progress_{name} "
        f"ON {tables.course_progress} (course_id, {columns})"
        for name, columns in (
            ("roster", "learner_id"),
            ("by_percentage", "percentage, learner_id"),
            ("by_updated_at", "updated_at, learner_id"),
        )
    ]


def add_missing_columns(cursor: Cursor, db: Database, tables: GenerationTables) -> None:
    """Brings tables made by an earlier version up to today's columns (NULL in old rows)
    and indexes."""
    by_view = dict(zip(VIEWS, tables.all(), strict=True))
    for view, column, sql_type in ADDED_COLUMNS:
        db.add_column_if_missing(cursor, by_view[view], column, sql_type)
    for statement in sorted_roster_indexes(tables):
        cursor.execute(statement)


def point_views_at(cursor: Cursor, db: Database, tables: GenerationTables) -> None:
    """Inside the switch's transaction: readers see the old tables or the new, never a mix."""
    for view, table in zip(VIEWS, tables.all(), strict=True):
        cursor.execute(f"DROP VIEW IF EXISTS {db.table(view)}")
        cursor.execute(f"CREATE VIEW {db.table(view)} AS SELECT * FROM {table}")


def drop_tables(cursor: Cursor, tables: GenerationTables) -> None:
    for table in tables.all():
        cursor.execute(f"DROP TABLE IF EXISTS {table}")


def delete_enrollments(
    cursor: Cursor, tables: GenerationTables, enrollment_ids: Sequence[str]
) -> None:
    """Every row of these enrollments, in one generation (an erased learner's)."""
    for chunk in chunks(enrollment_ids):
        for table in (tables.unit_progress, tables.course_progress):
            cursor.execute(
                f"DELETE FROM {table} WHERE enrollment_id IN ({placeholders(chunk)})", chunk
            )
