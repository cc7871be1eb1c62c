"""A course's roster, filtered, sorted and paged by keyset: the one read behind the JSON
roster, its CSV, the roster page and `progress-ledger export`.

Paging never counts rows it skips (no OFFSET): a page starts after the cursor's (sort value,
learner id) on an index of (course_id, sort column, learner_id), so the thousandth page of a
course of 100,000 learners costs what the first does. A learner is enrolled in a course once,
so (sort value, learner id) orders the roster totally. The cursor is opaque to callers: it
carries the sort it was made under, and a cursor of another sort is refused.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from domain.errors import LedgerError
from eventstore.database import Database
from projections.progress_columns import as_read, held, progress_columns
from projections.progress_documents import (
    ENROLLMENT_ID,
    PROGRESS_COLUMN_COUNT,
    CourseProgress,
    ProgressRow,
    Roster,
    course_progress,
    rounded_average,
)
from projections.progress_tables import GENERATIONS

ROSTER_SORTS = ("learner_id", "percentage", "updated_at")
ROSTER_STATUSES = ("in_progress", "completed", "withdrawn")
MAX_PAGE = 1000
# Rows fetched a statement when every matching row is streamed as documents (NDJSON export).
STREAM_CHUNK = 2000

STATUS_CONDITIONS = {
    "in_progress": "p.withdrawn = %s AND p.completed_at IS NULL",
    "completed": "p.withdrawn = %s AND p.completed_at IS NOT NULL",
    "withdrawn": "p.withdrawn = %s",
}
STATUS_FLAGS = {"in_progress": False, "completed": False, "withdrawn": True}


class InvalidRosterQuery(LedgerError):
    """A roster query the API refuses with 400, naming the parameter at fault."""


@dataclass(frozen=True)
class RosterQuery:
    """Which of a course's learners, in which order, from where. `after` is the `next` of
    the page before, made under the same sort; `learner_search` matches any part of a
    learner id, ignoring case."""

    status: str | None = None
    min_percentage: float | None = None
    max_percentage: float | None = None
    sort: str = "learner_id"
    descending: bool = False
    learner_search: str | None = None
    after: str | None = None
    limit: int = 100

    def __post_init__(self) -> None:
        if self.status is not None and self.status not in ROSTER_STATUSES:
            raise InvalidRosterQuery(
                f"status must be one of {', '.join(ROSTER_STATUSES)}", field="status"
            )
        if self.sort not in ROSTER_SORTS:
            raise InvalidRosterQuery(f"sort must be one of {', '.join(ROSTER_SORTS)}", field="sort")
        for name in ("min_percentage", "max_percentage"):
            value = getattr(self, name)
            if value is not None and not 0 <= value <= 100:
                raise InvalidRosterQuery(f"{name} must be between 0 and 100", field=name)
        if (
            self.min_percentage is not None
            and self.max_percentage is not None
            and self.min_percentage > self.max_percentage
        ):
            raise InvalidRosterQuery(
                "min_percentage is above max_percentage", field="min_percentage"
            )
        if not 1 <= self.limit <= MAX_PAGE:
            raise InvalidRosterQuery(f"limit must be between 1 and {MAX_PAGE}", field="limit")
        if self.after is not None:
            cursor_key(self.after, self.sort, self.descending)  # refused now, not when read

    def starting_after(self, after: str | None) -> RosterQuery:
        return RosterQuery(
            self.status,
            self.min_percentage,
            self.max_percentage,
            self.sort,
            self.descending,
            self.learner_search,
            after,
            self.limit,
        )


def cursor_of(item: CourseProgress, sort: str, descending: bool) -> str:
    """The opaque cursor of the page that starts after `item`."""
    value: Any = item["learner_id"]
    if sort == "percentage":
        value = item["percentage"]
    elif sort == "updated_at":
        value = item["updated_at"]
    return cursor_at(sort, descending, value, item["learner_id"])


def cursor_at(sort: str, descending: bool, value: Any, learner_id: str) -> str:
    """The opaque cursor of the page that starts after (sort value, learner id)."""
    if isinstance(value, datetime):
        value = value.isoformat()
    key = [sort, descending, value, learner_id]
    return base64.urlsafe_b64encode(orjson.dumps(key)).decode().rstrip("=")


def cursor_key(cursor: str, sort: str, descending: bool) -> tuple[Any, str]:
    """(sort value, learner id) of a cursor made under this sort and direction."""
    refused = InvalidRosterQuery(
        "after is not a cursor of this roster's sort; pass the `next` of the page before",
        field="after",
    )
    try:
        key = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, orjson.JSONDecodeError) as error:
        raise refused from error
    if not (isinstance(key, list) and len(key) == 4 and key[:2] == [sort, descending]):
        raise refused
    value, learner_id = key[2], key[3]
    if not isinstance(learner_id, str):
        raise refused
    if sort == "percentage" and not (
        isinstance(value, int | float) and not isinstance(value, bool)
    ):
        raise refused
    if sort == "updated_at":
        try:
            value = datetime.fromisoformat(value)
        except (TypeError, ValueError) as error:
            raise refused from error
    return value, learner_id


def filters(db: Database, course_id: str, query: RosterQuery) -> tuple[list[str], list[Any]]:
    """The conditions (ANDed) of the query's rows, cursor included, with their parameters."""
    conditions: list[str] = ["p.course_id = %s"]
    params: list[Any] = [course_id]
    if query.status is not None:
        conditions.append(STATUS_CONDITIONS[query.status])
        params.append(STATUS_FLAGS[query.status])
    if query.min_percentage is not None:
        conditions.append("p.percentage >= %s")
        params.append(db.percentage(query.min_percentage))
    if query.max_percentage is not None:
        conditions.append("p.percentage <= %s")
        params.append(db.percentage(query.max_percentage))
    if query.learner_search:
        escaped = query.learner_search.lower()
        for special in ("\\", "%", "_"):
            escaped = escaped.replace(special, "\\" + special)
        conditions.append("LOWER(p.learner_id) LIKE %s ESCAPE '\\'")
        params.append(f"%{escaped}%")
    if query.after is not None:
        condition, keys = keyset(db, query, query.after, "<" if query.descending else ">")
        conditions.append(condition)
        params += keys
    return conditions, params


def keyset(db: Database, query: RosterQuery, cursor: str, compared: str) -> tuple[str, list[Any]]:
    """The condition that the row's (sort value, learner id) is `compared` (an operator)
    to the cursor's, with its parameters."""
    value, learner_id = cursor_key(cursor, query.sort, query.descending)
    if query.sort == "learner_id":
        return f"p.learner_id {compared} %s", [learner_id]
    sort_value = db.percentage(value) if query.sort == "percentage" else db.timestamp(value)
    return f"(p.{query.sort}, p.learner_id) {compared} (%s, %s)", [sort_value, learner_id]


def order_by(query: RosterQuery) -> str:
    direction = " DESC" if query.descending else ""
    columns = ["learner_id"] if query.sort == "learner_id" else [query.sort, "learner_id"]
    return ", ".join(f"p.{column}{direction}" for column in columns)


def roster_statement(db: Database, conditions: list[str], query: RosterQuery, summary: bool) -> str:
    """The live generation's position, the page of rows (one of NULLs when it is empty) and,
    when asked, the course's enrolled, completed and average over the learners not
    withdrawn; the average of the unrounded percentages, rounded once, after."""
    generations, progress, structure = (
        db.table(GENERATIONS),
        db.table("course_progress"),
        db.table("course_structure"),
    )
    course_aggregate = f"(SELECT aggregate_id FROM {structure} WHERE course_id = p.course_id)"
    listed = progress_columns(db, "NULL", "NULL", held(db, course_aggregate))
    page = (
        f"page AS (SELECT * FROM {progress} p WHERE {' AND '.join(conditions)} "
        f"ORDER BY {order_by(query)} LIMIT %s)"
    )
    if not summary:
        return (
            f"WITH {page} SELECT {listed} FROM {generations} g LEFT JOIN page p ON TRUE "
            f"WHERE g.status = 'live' ORDER BY {order_by(query)}"
        )
    exact = "COALESCE(exact_percentage, percentage)"
    return (
        f"WITH summary AS (SELECT COUNT(*) AS enrolled, "
        "COALESCE(SUM(CASE WHEN completed_at IS NULL THEN 0 ELSE 1 END), 0) AS completed, "
        f"COALESCE(AVG({exact}), 0) AS average FROM {progress} "
        f"WHERE course_id = %s AND withdrawn = %s), {page} "
        f"SELECT {listed}, summary.enrolled, summary.completed, summary.average "
        f"FROM {generations} g CROSS JOIN summary LEFT JOIN page p ON TRUE "
        f"WHERE g.status = 'live' ORDER BY {order_by(query)}"
    )


def fetch(db: Database, statement: str, params: list[Any]) -> list[ProgressRow]:
    with db.one_statement() as cursor:
        cursor.execute(statement, params)
        return [as_read(db, row) for row in cursor.fetchall()]


def roster_page(db: Database, course_id: str, query: RosterQuery) -> Roster:
    """One page of the query's learners, its `next` cursor (None on the last page), the
    course's summary and the live projection's position, from one statement."""
    conditions, params = filters(db, course_id, query)
    statement = roster_statement(db, conditions, query, summary=True)
    # One row more than the page says whether there is a next one.
    rows = fetch(db, statement, [course_id, False, *params, query.limit + 1])
    items = [
        course_progress(row[:PROGRESS_COLUMN_COUNT])
        for row in rows[: query.limit]
        if row[ENROLLMENT_ID] is not None
    ]
    enrolled, completed, average = rows[0][PROGRESS_COLUMN_COUNT:] if rows else (0, 0, 0)
    more = len(rows) > query.limit
    return {
        "items": items,
        "next": cursor_of(items[-1], query.sort, query.descending) if more else None,
        "summary": {
            "enrolled": int(enrolled),
            "completed": int(completed),
            "average_percentage": rounded_average(average),
        },
        "projection_position": int(rows[0][0]) if rows else 0,
    }


def roster_rows(
    db: Database, course_id: str, query: RosterQuery, chunk: int = STREAM_CHUNK
) -> Iterator[CourseProgress]:
    """Every row the query matches from its cursor on, in its order, `chunk` rows a
    statement: memory holds one chunk whatever the course's size. Each chunk is its own
    snapshot; a learner whose sort value changes between chunks may be met twice or not
    at all, as in paging by hand."""
    after = query.after
    while True:
        conditions, params = filters(db, course_id, query.starting_after(after))
        statement = roster_statement(db, conditions, query, summary=False)
        rows = fetch(db, statement, [*params, chunk])
        items = [course_progress(row) for row in rows if row[ENROLLMENT_ID] is not None]
        yield from items
        if len(items) < chunk:
            return
        after = cursor_of(items[-1], query.sort, query.descending)


def chunk_ends(db: Database, course_id: str, query: RosterQuery, rows: int) -> list[str]:
    """The cursors of the query's `rows`-th, 2×`rows`-th … row from its cursor on, in
    order, from one statement: the keyset bounds that cut an export into chunks."""
    conditions, params = filters(db, course_id, query)
    value = "p.learner_id"
    if query.sort == "percentage" and db.is_postgres:
        value = "p.percentage::float8"  # as the roster's rows read it, hence as cursors hold it
    elif query.sort != "learner_id":
        value = f"p.{query.sort}"
    with db.one_statement() as cursor:
        cursor.execute(
            f"SELECT learner_id, value FROM (SELECT p.learner_id, {value} AS value, "
            f"ROW_NUMBER() OVER (ORDER BY {order_by(query)}) AS n "
            f"FROM {db.table('course_progress')} p WHERE {' AND '.join(conditions)}) ranked "
            "WHERE n = n / %s * %s ORDER BY n",  # every `rows`-th (integer division)
            [*params, rows, rows],
        )
        ends = cursor.fetchall()
    return [
        cursor_at(
            query.sort,
            query.descending,
            db.read_timestamp(end["value"]) if query.sort == "updated_at" else end["value"],
            end["learner_id"],
        )
        for end in ends
    ]
