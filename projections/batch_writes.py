"""Writing a batch: the rows a fold changed and the generation's new tracking position, in
one transaction (or one statement), so a crash leaves the previous batch's state whole.

The write first claims the position: it moves the generation's position on only if it is
still where the batch was read from, and the generation is neither retired nor cancelled.
Otherwise it raises PositionConflict and writes nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

import orjson

from eventstore.database import (
    COPY_THRESHOLD,
    Cursor,
    Database,
    PostgresDatabase,
    upsert_statement,
)
from projections.batch_rows import BatchRows
from projections.generations import Generation
from projections.outbox import (
    OUTBOX,
    SUBSCRIBED_TYPES,
    outbox_insert,
    signals_json,
    write_signals,
)
from projections.progress_tables import (
    COURSE_PROGRESS_COLUMNS,
    COURSE_STRUCTURE_COLUMNS,
    GENERATIONS,
    UNIT_PROGRESS_COLUMNS,
    GenerationTables,
    delete_enrollments,
)


class PositionConflict(Exception):
    """Another projector advanced this generation first; the batch is discarded."""


def json_source(table: str, columns: tuple[str, ...]) -> str:
    return f"SELECT {', '.join(columns)} FROM json_populate_recordset(NULL::{table}, %s::json)"


cached_upsert = lru_cache(maxsize=64)(upsert_statement)


@lru_cache(maxsize=64)
def json_insert(table: str, columns: tuple[str, ...]) -> str:
    return f"INSERT INTO {table} ({', '.join(columns)}) {json_source(table, columns)}"


# The kinds of rows of a one-statement batch, in BatchRows' order: progress, units, new
# progress, new units.
BATCH_COLUMNS = (
    COURSE_PROGRESS_COLUMNS,
    UNIT_PROGRESS_COLUMNS,
    COURSE_PROGRESS_COLUMNS,
    UNIT_PROGRESS_COLUMNS,
)


@lru_cache(maxsize=64)
def batch_statement(
    generations_table: str,
    course_progress: str,
    unit_progress: str,
    present: tuple[bool, ...],
    outbox: tuple[str, str] | None = None,
) -> str:
    """Claim, then upserts of existing enrollments' rows and inserts of new ones, for the
    kinds of rows `present` (progress, units, new progress, new units), one JSON each; then,
    given `outbox` (its table and the subscribed types'), the webhook outbox's rows."""
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
    if outbox is not None:
        insert = outbox_insert(True, *outbox, guard="EXISTS (SELECT FROM claim)")
        ctes.append(f"outbox AS ({insert})")
    return f"WITH {', '.join(ctes)} SELECT generation FROM claim"


def json_rows(columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> str:
    """Rows as a JSON array of objects; orjson writes datetimes as RFC 3339, and NUMERIC
    percentages (Decimals with two places) as numbers."""
    return orjson.dumps(
        [dict(zip(columns, row, strict=True)) for row in rows], default=float
    ).decode()


class BatchWrites:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.generations_table = db.table(GENERATIONS)
        self.outbox_tables = (db.table(OUTBOX), db.table(SUBSCRIBED_TYPES))

    @contextmanager
    def connection(self) -> Iterator[Any]:
        """A PostgreSQL connection from the pool for several reads and writes in a row (their
        errors surface as the library's, when they leave this block); None on SQLite."""
        if isinstance(self.db, PostgresDatabase):
            with self.db.datastore.get_connection() as connection:
                yield connection
        else:
            yield None

    def write(
        self, generation: Generation, rows: BatchRows, position: int, connection: Any = None
    ) -> None:
        """Writes the rows and moves the generation's position to `position`; on
        `connection` (see `connection`) if given, when one statement can write it."""
        tables = GenerationTables(self.db, generation.number)
        if self._in_one_statement(rows):
            self._write_in_one_statement(tables, generation, rows, position, connection)
            return
        with self.db.transaction() as cursor:
            self._claim(cursor, generation, position)
            self._write_rows(cursor, tables, rows)
            write_signals(cursor, self.db, rows.signals)

    def write_rows(self, generation: Generation, rows: BatchRows) -> None:
        """Writes rows without moving the position: a retried parked event, behind it."""
        with self.db.transaction() as cursor:
            self._write_rows(cursor, GenerationTables(self.db, generation.number), rows)
            write_signals(cursor, self.db, rows.signals)

    def _in_one_statement(self, rows: BatchRows) -> bool:
        kinds = (rows.progress, rows.units, rows.new_progress, rows.new_units)
        return (
            self.db.is_postgres
            and not rows.removed_units
            and not rows.erased
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
            self.generations_table,
            tables.course_progress,
            tables.unit_progress,
            present,
            self.outbox_tables if rows.signals else None,
        )
        params: list[Any] = [position, generation.number, generation.position]
        for columns, kind in zip(BATCH_COLUMNS, kinds, strict=True):
            if kind:
                params.append(json_rows(columns, kind))
        if rows.signals:
            params.append(signals_json(rows.signals))
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
        if rows.erased:
            delete_enrollments(cursor, t, rows.erased)
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
