"""A roster's rows as CSV or NDJSON text, a chunk of lines at a time: what `Accept: text/csv`
on the roster and `progress-ledger export` write, whatever the course's size.

The CSV is written by the database (`roster_csv`): one statement a chunk selects each field
as the text the CSV holds, and eventstore/csv_select.py turns its rows into CSV with no
Python object per row on PostgreSQL. `csv_chunks` writes the same text from the roster's
documents; the tests hold the two to each other."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any

import orjson

from eventstore.csv_select import CsvText, select_csv
from eventstore.database import Database
from projections.parking import PARKED_EVENTS
from projections.progress_documents import CourseProgress
from projections.progress_tables import GENERATIONS
from projections.roster_queries import RosterQuery, chunk_ends, filters, keyset, order_by

EXPORT_FORMATS = ("csv", "ndjson")
EXPORT_COLUMNS = (
    "learner_id",
    "course_id",
    "enrollment_id",
    "completed_units",
    "total_units",
    "percentage",
    "completed_at",
    "updated_at",
    "withdrawn",
    "attempt",
    "held",
    "position",
)
# Rows a piece of text: big enough to amortise the writer, small enough to stream.
LINES_A_CHUNK = 1000
# Rows a statement of the CSV export, read whole (about 150 bytes each) before they are sent:
# a connection is held while the database writes them, never while a client reads them.
CSV_CHUNK = 10_000
CSV_HEADER = (",".join(EXPORT_COLUMNS) + "\n").encode()


def roster_csv(
    db: Database, course_id: str, query: RosterQuery, chunk: int = CSV_CHUNK
) -> Iterator[CsvText]:
    """The header, then every row the query matches from its cursor on, in its order, at
    most `chunk` rows a piece: the text of `csv_chunks`. The chunks' bounds are found
    first, by keyset, in one statement; each chunk is a snapshot of its own, and a learner
    whose sort value changes meanwhile may be met twice or not at all, as in paging by hand."""
    yield CsvText(CSV_HEADER, 0)
    ends: list[str | None] = [*chunk_ends(db, course_id, query, chunk), None]
    after = query.after
    for end in ends:
        conditions, params = filters(db, course_id, query.starting_after(after))
        if end is not None:
            condition, keys = keyset(db, query, end, ">=" if query.descending else "<=")
            conditions.append(condition)
            params += keys
        text = select_csv(db, export_statement(db, conditions, query), [course_id, *params])
        if text.rows:
            yield text
        after = end


def export_statement(db: Database, conditions: list[str], query: RosterQuery) -> str:
    """The query's rows on the live generation, each field the text `csv_value` makes of it;
    its first parameter is the course id, then the conditions'. `held` is progress_columns'
    own, but asked of the (almost always empty) set of parked streams once, not per row."""
    generations, progress, structure, parked = (
        db.table(GENERATIONS),
        db.table("course_progress"),
        db.table("course_structure"),
        db.table(PARKED_EVENTS),
    )
    fields = ", ".join(
        [
            "NULLIF(p.learner_id, '')",
            "NULLIF(p.course_id, '')",
            "NULLIF(p.enrollment_id, '')",
            "p.completed_units",
            "p.total_units",
            percentage_text(db, "p.percentage"),
            timestamp_text(db, "p.completed_at"),
            timestamp_text(db, "p.updated_at"),
            "CASE WHEN p.withdrawn THEN 'true' WHEN NOT p.withdrawn THEN 'false' END",
            "COALESCE(p.attempt, 1)",
            "CASE WHEN course.held OR p.enrollment_id IN (SELECT stream FROM parked) "
            "THEN 'true' ELSE 'false' END",
            "p.position",
        ]
    )
    return (
        f"WITH parked AS (SELECT x.stream FROM {parked} x JOIN {generations} g "
        "ON g.generation = x.generation AND g.status = 'live'), "
        "course AS (SELECT EXISTS (SELECT 1 FROM parked JOIN "
        f"{structure} s ON s.aggregate_id = parked.stream WHERE s.course_id = %s) AS held) "
        f"SELECT {fields} FROM {generations} g JOIN {progress} p ON g.status = 'live' "
        f"CROSS JOIN course WHERE {' AND '.join(conditions)} ORDER BY {order_by(query)}"
    )


def percentage_text(db: Database, column: str) -> str:
    """As Python writes the float the roster reads: `75.0`, `33.3`, `8.25`. PostgreSQL's
    NUMERIC(5, 2) has the digits; SQLite's REAL is written by Python itself."""
    if not db.is_postgres:
        return column
    return (
        f"CASE WHEN {column} = trunc({column}) THEN trunc({column})::text || '.0' "
        f"ELSE rtrim({column}::text, '0') END"
    )


def timestamp_text(db: Database, column: str) -> str:
    """ISO-8601 in UTC with `Z`, microseconds only when there are some, as `isoformat`
    writes them. SQLite holds the `isoformat` text already."""
    if not db.is_postgres:
        return f"REPLACE({column}, '+00:00', 'Z')"
    utc = f"({column} AT TIME ZONE 'UTC')"
    return (
        f"to_char({utc}, CASE WHEN {utc} = date_trunc('second', {utc}) "
        """THEN 'YYYY-MM-DD"T"HH24:MI:SS"Z"' ELSE 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"' END)"""
    )


def export_fields(item: CourseProgress) -> list[Any]:
    return [item[column] for column in EXPORT_COLUMNS]  # type: ignore[literal-required]


def csv_chunks(rows: Iterable[CourseProgress]) -> Iterator[str]:
    """A header line, then the rows; timestamps in ISO-8601, booleans as true/false."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(EXPORT_COLUMNS)
    iterator = iter(rows)
    while True:
        for item in islice(iterator, LINES_A_CHUNK):
            writer.writerow([csv_value(value) for value in export_fields(item)])
        text = buffer.getvalue()
        if not text:
            return
        yield text
        buffer.seek(0)
        buffer.truncate()


def csv_value(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if hasattr(value, "isoformat"):
        return value.isoformat().replace("+00:00", "Z")
    return value


def ndjson_chunks(rows: Iterable[CourseProgress]) -> Iterator[bytes]:
    """One JSON object a line, with the CSV's columns."""
    iterator = iter(rows)
    while True:
        lines = [
            orjson.dumps(
                dict(zip(EXPORT_COLUMNS, export_fields(item), strict=True)),
                option=orjson.OPT_UTC_Z | orjson.OPT_APPEND_NEWLINE,
            )
            for item in islice(iterator, LINES_A_CHUNK)
        ]
        if not lines:
            return
        yield b"".join(lines)
