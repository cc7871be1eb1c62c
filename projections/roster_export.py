"""A roster's rows as CSV or NDJSON text, a chunk of lines at a time: what `Accept: text/csv`
on the roster and `progress-ledger export` write, whatever the course's size."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any

import orjson

from projections.progress_documents import CourseProgress

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
