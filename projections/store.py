"""Where projection rows live: one set of tables per generation, views onto the live one.

A generation is a full copy of the progress tables made under one set of rules. The live
generation is what `course_progress` and `unit_progress` (views) show; a rebuild fills a new
generation beside it and switches the views in one transaction.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import orjson

from domain.course import Unit, UnitSpec
from eventstore.database import (
    COPY_THRESHOLD,
    Cursor,
    Database,
    PostgresDatabase,
    Row,
    chunks,
    placeholders,
    upsert_statement,
)
from projections.fold import CourseState, EnrollmentState, Fold, course_key, unit_numbers


class PositionConflict(Exception):
    """Another projector advanced this generation first; the batch is discarded."""


class GenerationNotFound(Exception):
    pass


@dataclass(frozen=True)
class BatchRows:
    """Rows to upsert, and (`new_*`) rows of enrollments created in the batch, which cannot
    exist yet (an enrollment is created once, and its rows are written only with the
    position past its creation): those are plainly inserted, half the database's work."""

    removed_units: list[tuple[str, str]]
    courses: list[tuple[Any, ...]]
    progress: list[tuple[Any, ...]]
    units: list[tuple[Any, ...]]
    new_progress: list[tuple[Any, ...]] = field(default_factory=list)
    new_units: list[tuple[Any, ...]] = field(default_factory=list)


@dataclass(frozen=True)
class Generation:
    number: int
    rules: str
    status: str
    position: int
    created_at: datetime | None
    switched_at: datetime | None


class GenerationTables:
    def __init__(self, db: Database, number: int) -> None:
        self.course_progress = db.table(f"course_progress_g{number}")
        self.unit_progress = db.table(f"unit_progress_g{number}")
        self.course_structure = db.table(f"course_structure_g{number}")
        self.index_prefix = f"g{number}"


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
COURSE_STRUCTURE_COLUMNS = ("course_id", "aggregate_id", "units", "updated_at", "position")


def json_source(table: str, columns: tuple[str, ...]) -> str:
    return f"SELECT {', '.join(columns)} FROM json_populate_recordset(NULL::{table}, %s::json)"


cached_upsert = lru_cache(maxsize=64)(upsert_statement)


@lru_cache(maxsize=64)
def json_insert(table: str, columns: tuple[str, ...]) -> str:
    return f"INSERT INTO {table} ({', '.join(columns)}) {json_source(table, columns)}"


BATCH_COLUMNS = (
    COURSE_PROGRESS_COLUMNS,
    UNIT_PROGRESS_COLUMNS,
    COURSE_PROGRESS_COLUMNS,
    UNIT_PROGRESS_COLUMNS,
)


@lru_cache(maxsize=64)
def batch_statement(
    generations_table: str, course_progress: str, unit_progress: str, present: tuple[bool, ...]
) -> str:
    """Claim, then upserts of existing enrollments' rows and inserts of new ones, for the
    kinds of rows `present` (progress, units, new progress, new units), one JSON each."""
    ctes = [
        f"claim AS (UPDATE {generations_table} SET position = %s "
        "WHERE generation = %s AND position = %s "
        "AND status NOT IN ('retired', 'cancelled') RETURNING generation)"
    ]
    targets = (
        (course_progress, COURSE_PROGRESS_COLUMNS, ("enrollment_id",)),
        (unit_progress, UNIT_PROGRESS_COLUMNS, ("enrollment_id", "unit_id")),
        (course_progress, COURSE_PROGRESS_COLUMNS, None),
        (unit_progress, UNIT_PROGRESS_COLUMNS, None),
    )
    for index, ((table, columns, key), wanted) in enumerate(zip(targets, present, strict=True)):
        if not wanted:
            continue
        source = f"{json_source(table, columns)} WHERE EXISTS (SELECT FROM claim)"
        if key is None:
            statement = f"INSERT INTO {table} ({', '.join(columns)}) {source}"
        else:
            statement = upsert_statement(table, columns, key, source)
        ctes.append(f"rows_{index} AS ({statement})")
    return f"WITH {', '.join(ctes)} SELECT generation FROM claim"


def json_rows(columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> str:
    """Rows as a JSON array of objects; orjson writes datetimes as RFC 3339, and NUMERIC
    percentages (Decimals with two places) as numbers."""
    return orjson.dumps(
        [dict(zip(columns, row, strict=True)) for row in rows], default=float
    ).decode()


class ProgressStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.generations_table = db.table("projection_generations")

    # Generations -------------------------------------------------------------

    def create_schema(self, default_rules: str) -> None:
        """Creates the bookkeeping table and, on a new database, a live first generation."""
        with self.db.transaction() as cursor:
            cursor.execute(
                f"CREATE TABLE IF NOT EXISTS {self.generations_table} ("
                "generation INTEGER PRIMARY KEY, rules TEXT NOT NULL, status TEXT NOT NULL, "
                f"position BIGINT NOT NULL, created_at {self.db.timestamp_type}, "
                f"switched_at {self.db.timestamp_type})"
            )
        if not self.generations():
            generation = self.create_generation(default_rules)
            self.switch_live(generation.number)

    def generations(self) -> list[Generation]:
        with self.db.transaction(commit=False) as cursor:
            cursor.execute(f"SELECT * FROM {self.generations_table} ORDER BY generation")
            return [self.generation_of(row) for row in cursor.fetchall()]

    def generation(self, number: int) -> Generation:
        for generation in self.generations():
            if generation.number == number:
                return generation
        raise GenerationNotFound(f"projection generation {number} does not exist")

    def live_generation(self) -> Generation:
        with self.db.transaction(commit=False) as cursor:
            cursor.execute(f"SELECT * FROM {self.generations_table} WHERE status = 'live'")
            row = cursor.fetchone()
        if row is None:
            raise GenerationNotFound("no live projection generation; run create_schema")
        return self.generation_of(row)

    def create_generation(self, rules: str) -> Generation:
        with self.db.transaction() as cursor:
            cursor.execute(
                f"SELECT COALESCE(MAX(generation), 0) + 1 AS next FROM {self.generations_table}"
            )
            row = cursor.fetchone()
            number = int(row["next"]) if row else 1
            cursor.execute(
                f"INSERT INTO {self.generations_table} "
                "(generation, rules, status, position, created_at) "
                "VALUES (%s, %s, 'building', 0, %s)",
                (number, rules, self.db.timestamp(datetime.now(UTC))),
            )
            for statement in self._create_tables(GenerationTables(self.db, number)):
                cursor.execute(statement)
        return self.generation(number)

    def switch_live(self, number: int) -> None:
        """Points the views at this generation; readers see the old or the new, never a mix."""
        with self.db.transaction() as cursor:
            self._switch(cursor, number)

    def switch_when_caught_up(self, number: int) -> bool:
        """Switches a building generation only if it has reached the live one's position, so
        a read that waited for a position never lands on a generation behind it. Locks both
        rows, so the live projector cannot move on between the check and the switch."""
        with self.db.transaction() as cursor:
            cursor.execute(
                f"SELECT generation, status, position FROM {self.generations_table} "
                f"WHERE status = 'live' OR generation = %s ORDER BY generation{self.db.for_update}",
                (number,),
            )
            rows = cursor.fetchall()
            candidate = [r for r in rows if int(r["generation"]) == number]
            live = [int(r["position"]) for r in rows if r["status"] == "live"]
            if not candidate or candidate[0]["status"] != "building":
                return False
            if live and live[0] > int(candidate[0]["position"]):
                return False
            self._switch(cursor, number)
            return True

    def _switch(self, cursor: Cursor, number: int) -> None:
        tables = GenerationTables(self.db, number)
        cursor.execute(
            f"UPDATE {self.generations_table} SET status = 'retired' WHERE status = 'live'"
        )
        cursor.execute(
            f"UPDATE {self.generations_table} SET status = 'live', switched_at = %s "
            "WHERE generation = %s",
            (self.db.timestamp(datetime.now(UTC)), number),
        )
        for view, table in (
            ("course_progress", tables.course_progress),
            ("unit_progress", tables.unit_progress),
            ("course_structure", tables.course_structure),
        ):
            cursor.execute(f"DROP VIEW IF EXISTS {self.db.table(view)}")
            cursor.execute(f"CREATE VIEW {self.db.table(view)} AS SELECT * FROM {table}")

    def _create_tables(self, t: GenerationTables) -> list[str]:
        ts, pct, js = self.db.timestamp_type, self.db.percentage_type, self.db.json_type
        p = t.index_prefix
        return [
            f"CREATE TABLE IF NOT EXISTS {t.course_progress} ("
            "enrollment_id TEXT PRIMARY KEY, learner_id TEXT NOT NULL, "
            "course_id TEXT NOT NULL, completed_units INTEGER NOT NULL, "
            f"total_units INTEGER NOT NULL, percentage {pct} NOT NULL, completed_at {ts}, "
            f"updated_at {ts} NOT NULL, position BIGINT NOT NULL, rules TEXT NOT NULL, "
            f"withdrawn BOOLEAN NOT NULL, enrolled_at {ts} NOT NULL, "
            f"completed_unit_ids {js} NOT NULL, completed_module_ids {js} NOT NULL)",
            f"CREATE UNIQUE INDEX IF NOT EXISTS {p}_course_progress_learner "
            f"ON {t.course_progress} (learner_id, course_id)",
            f"CREATE INDEX IF NOT EXISTS {p}_course_progress_roster "
            f"ON {t.course_progress} (course_id, learner_id)",
            f"CREATE TABLE IF NOT EXISTS {t.unit_progress} ("
            "enrollment_id TEXT NOT NULL, unit_id TEXT NOT NULL, learner_id TEXT NOT NULL, "
            "course_id TEXT NOT NULL, required BOOLEAN NOT NULL, completed BOOLEAN NOT NULL, "
            "completed_modules INTEGER NOT NULL, total_modules INTEGER NOT NULL, "
            f"percentage {pct} NOT NULL, completed_at {ts}, updated_at {ts} NOT NULL, "
            "PRIMARY KEY (enrollment_id, unit_id))",
            f"CREATE INDEX IF NOT EXISTS {p}_unit_progress_course "
            f"ON {t.unit_progress} (course_id, unit_id)",
            f"CREATE TABLE IF NOT EXISTS {t.course_structure} ("
            "course_id TEXT PRIMARY KEY, aggregate_id TEXT NOT NULL UNIQUE, "
            f"units {js} NOT NULL, updated_at {ts} NOT NULL, position BIGINT NOT NULL)",
        ]

    def drop_generation(self, number: int) -> None:
        generation = self.generation(number)
        if generation.status == "live":
            raise ValueError(f"generation {number} is live; switch to another before dropping")
        tables = GenerationTables(self.db, number)
        with self.db.transaction() as cursor:
            for table in (tables.course_progress, tables.unit_progress, tables.course_structure):
                cursor.execute(f"DROP TABLE IF EXISTS {table}")
            cursor.execute(f"DELETE FROM {self.generations_table} WHERE generation = %s", (number,))

    def set_status(self, number: int, status: str) -> None:
        with self.db.transaction() as cursor:
            cursor.execute(
                f"UPDATE {self.generations_table} SET status = %s WHERE generation = %s",
                (status, number),
            )

    def cancel_building(self, number: int) -> bool:
        """Cancels the generation if it is still building (a switch may have just won)."""
        with self.db.transaction() as cursor:
            cursor.execute(
                f"SELECT status FROM {self.generations_table} "
                f"WHERE generation = %s{self.db.for_update}",
                (number,),
            )
            row = cursor.fetchone()
            if row is None or row["status"] != "building":
                return False
            cursor.execute(
                f"UPDATE {self.generations_table} SET status = 'cancelled' WHERE generation = %s",
                (number,),
            )
            return True

    def generation_of(self, row: Row) -> Generation:
        return Generation(
            number=int(row["generation"]),
            rules=row["rules"],
            status=row["status"],
            position=int(row["position"]),
            created_at=self.db.read_timestamp(row["created_at"]),
            switched_at=self.db.read_timestamp(row["switched_at"]),
        )

    # Loading state for a batch -----------------------------------------------

    def load_courses(
        self, tables: GenerationTables, course_ids: Collection[str], aggregate_ids: Collection[str]
    ) -> dict[str, CourseState]:
        rows = self._rows_where_in(
            tables.course_structure,
            {"course_id": course_ids, "aggregate_id": aggregate_ids},
        )
        return {row["course_id"]: self._course(row) for row in rows}

    def load_enrollments(
        self, tables: GenerationTables, enrollment_ids: Collection[str], course_ids: Collection[str]
    ) -> dict[str, EnrollmentState]:
        """The enrollments named, and every enrollment of the courses named."""
        rows = self._rows_where_in(
            tables.course_progress, {"enrollment_id": enrollment_ids, "course_id": course_ids}
        )
        return {row["enrollment_id"]: self._enrollment(row) for row in rows}

    def _rows_where_in(self, table: str, keys_by_column: dict[str, Collection[str]]) -> list[Row]:
        """Every row whose column holds one of its keys, a chunk of keys per statement."""
        rows: list[Row] = []
        if not any(keys_by_column.values()):
            return rows
        with self.db.transaction(commit=False) as cursor:
            for column, keys in keys_by_column.items():
                for chunk in chunks(sorted(set(keys))):
                    cursor.execute(
                        f"SELECT * FROM {table} WHERE {column} IN ({placeholders(chunk)})", chunk
                    )
                    rows.extend(cursor.fetchall())
        return rows

    def _course(self, row: Row) -> CourseState:
        specs: list[UnitSpec] = orjson.loads(row["units"])
        return CourseState(
            course_id=row["course_id"],
            units=[Unit.from_spec(spec) for spec in specs],
            updated_at=self._timestamp(row["updated_at"]),
            position=int(row["position"]),
        )

    def _enrollment(self, row: Row) -> EnrollmentState:
        completed_units: dict[str, str] = orjson.loads(row["completed_unit_ids"])
        return EnrollmentState(
            enrollment_id=row["enrollment_id"],
            learner_id=row["learner_id"],
            course_id=row["course_id"],
            enrolled_at=self._timestamp(row["enrolled_at"]),
            updated_at=self._timestamp(row["updated_at"]),
            position=int(row["position"]),
            completed_units={
                unit_id: datetime.fromisoformat(at) for unit_id, at in completed_units.items()
            },
            completed_modules=set(orjson.loads(row["completed_module_ids"])),
            withdrawn=bool(row["withdrawn"]),
            completed_at=self.db.read_timestamp(row["completed_at"]),
        )

    def _timestamp(self, value: Any) -> datetime:
        timestamp = self.db.read_timestamp(value)
        if timestamp is None:
            raise ValueError("a required timestamp column is empty")
        return timestamp

    # Writing a batch ---------------------------------------------------------

    def write(
        self,
        generation: Generation,
        fold: Fold,
        position: int,
    ) -> None:
        """Writes what the fold changed and the new tracking position in one transaction.

        Raises PositionConflict, writing nothing, if the generation is no longer at the
        position the batch was read from (another projector got there first).
        """
        self.write_rows(generation, self.rows(fold, generation.rules), position)

    @contextmanager
    def connection(self) -> Iterator[Any]:
        """A PostgreSQL connection from the pool for several reads and writes in a row (their
        errors surface as the library's, when they leave this block); None on SQLite."""
        if isinstance(self.db, PostgresDatabase):
            with self.db.datastore.get_connection() as connection:
                yield connection
        else:
            yield None

    def write_rows(
        self, generation: Generation, rows: BatchRows, position: int, connection: Any = None
    ) -> None:
        """`write`, for rows already taken from a fold (so the fold can move on meanwhile);
        on `connection` (see `connection`) if given, when one statement can write it."""
        tables = GenerationTables(self.db, generation.number)
        if self._in_one_statement(rows):
            self._write_in_one_statement(tables, generation, rows, position, connection)
            return
        with self.db.transaction() as cursor:
            self._claim(cursor, generation, position)
            self._write_rows(cursor, tables, rows)

    def _in_one_statement(self, rows: BatchRows) -> bool:
        kinds = (rows.progress, rows.units, rows.new_progress, rows.new_units)
        return (
            self.db.is_postgres
            and not rows.removed_units
            and not rows.courses
            and all(len(kind) < COPY_THRESHOLD for kind in kinds)
        )

    def _write_in_one_statement(
        self,
        tables: GenerationTables,
        generation: Generation,
        rows: BatchRows,
        position: int,
        connection: Any,
    ) -> None:
        """A live batch (a few enrollments' rows) as one statement: the claim and the rows
        are one implicit transaction, a single round trip. The rows are written only if
        the claim moved the position on, so a refused batch writes nothing."""
        kinds = (rows.progress, rows.units, rows.new_progress, rows.new_units)
        present = tuple(bool(kind) for kind in kinds)
        statement = batch_statement(
            self.generations_table, tables.course_progress, tables.unit_progress, present
        )
        params: list[Any] = [position, generation.number, generation.position]
        for columns, kind in zip(BATCH_COLUMNS, kinds, strict=True):
            if kind:
                params.append(json_rows(columns, kind))
        if connection is not None:
            claimed = connection.execute(statement, params).fetchone()
        else:
            with self.db.one_statement() as cursor:
                cursor.execute(statement, params)
                claimed = cursor.fetchone()
        if claimed is None:
            raise PositionConflict(f"generation {generation.number} moved on or was retired")

    def _claim(self, cursor: Cursor, generation: Generation, position: int) -> None:
        """Moves the tracking position on, if it is still where the batch was read from.
        The row stays locked until the batch commits, so no other writer can interleave."""
        cursor.execute(
            f"UPDATE {self.generations_table} SET position = %s "
            "WHERE generation = %s AND position = %s "
            "AND status NOT IN ('retired', 'cancelled') RETURNING generation",
            (position, generation.number, generation.position),
        )
        if cursor.fetchone() is None:
            raise PositionConflict(f"generation {generation.number} moved on or was retired")

    def _write_rows(self, cursor: Cursor, t: GenerationTables, rows: BatchRows) -> None:
        for course_id, unit_id in rows.removed_units:
            cursor.execute(
                f"DELETE FROM {t.unit_progress} WHERE course_id = %s AND unit_id = %s",
                (course_id, unit_id),
            )
        self._upsert(
            cursor, t.course_structure, COURSE_STRUCTURE_COLUMNS, ("course_id",), rows.courses
        )
        self._upsert(
            cursor, t.course_progress, COURSE_PROGRESS_COLUMNS, ("enrollment_id",), rows.progress
        )
        unit_key = ("enrollment_id", "unit_id")
        self._upsert(cursor, t.unit_progress, UNIT_PROGRESS_COLUMNS, unit_key, rows.units)
        self._insert(cursor, t.course_progress, COURSE_PROGRESS_COLUMNS, rows.new_progress)
        self._insert(cursor, t.unit_progress, UNIT_PROGRESS_COLUMNS, rows.new_units)

    def _upsert(
        self,
        cursor: Cursor,
        table: str,
        columns: tuple[str, ...],
        key: tuple[str, ...],
        rows: list[tuple[Any, ...]],
    ) -> None:
        if self._as_json(rows):
            cursor.execute(
                cached_upsert(table, columns, key, json_source(table, columns)),
                [json_rows(columns, rows)],
            )
        else:
            cursor.upsert(table, columns, key, rows)

    def _insert(
        self, cursor: Cursor, table: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]
    ) -> None:
        if self._as_json(rows):
            cursor.execute(json_insert(table, columns), [json_rows(columns, rows)])
        else:
            cursor.insert(table, columns, rows)

    def _as_json(self, rows: list[tuple[Any, ...]]) -> bool:
        """A live batch's few rows go to PostgreSQL as one JSON parameter of one statement
        that never changes (so psycopg parses and the server plans it once): executemany pays
        psycopg's pipeline bookkeeping per row, a multi-row VALUES a parse per batch."""
        return self.db.is_postgres and 0 < len(rows) < COPY_THRESHOLD

    def rows(self, fold: Fold, rules: str) -> BatchRows:
        """The rows a fold changed, as plain tuples: a snapshot the fold can no longer alter."""
        changes, ts, pct = fold.changes, self.db.timestamp, self.db.percentage
        course_rows = [
            (
                c.course_id,
                course_key(c.course_id),
                orjson.dumps([u.as_spec() for u in c.units]).decode(),
                ts(c.updated_at),
                c.position,
            )
            for c in (fold.courses[course_id] for course_id in sorted(changes.courses))
        ]
        rows = BatchRows(list(changes.removed_units), course_rows, [], [])
        enrolled = changes.enrolled
        for enrollment_id in sorted(changes.enrollments):
            e = fold.enrollments[enrollment_id]
            is_new = enrollment_id in enrolled
            progress = fold.progress(e)
            (rows.new_progress if is_new else rows.progress).append(
                (
                    e.enrollment_id,
                    e.learner_id,
                    e.course_id,
                    progress.completed_units,
                    progress.total_units,
                    pct(progress.percentage),
                    ts(e.completed_at),
                    ts(e.updated_at),
                    e.position,
                    rules,
                    e.withdrawn,
                    ts(e.enrolled_at),
                    # orjson writes a datetime as isoformat() does (offsets in minutes).
                    orjson.dumps(e.completed_units).decode(),
                    orjson.dumps(sorted(e.completed_modules)).decode(),
                )
            )
            changed_units = changes.units.get(enrollment_id)
            if not changed_units:
                continue
            unit_rows = rows.new_units if is_new else rows.units
            for unit in fold.courses[e.course_id].units:
                unit_id = unit.unit_id
                if unit_id in changed_units:
                    completed, done, total, percentage, completed_at = unit_numbers(unit, e)
                    unit_rows.append(
                        (
                            enrollment_id,
                            unit_id,
                            e.learner_id,
                            e.course_id,
                            unit.required,
                            completed,
                            done,
                            total,
                            pct(percentage),
                            ts(completed_at),
                            ts(changed_units[unit_id]),
                        )
                    )
        return rows
