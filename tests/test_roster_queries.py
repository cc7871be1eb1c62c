"""The roster, filtered, sorted and paged by keyset, on both databases: every combination of
filter and sort, paged through, lists exactly the rows a Python filter and sort of the whole
course gives, in that order, each once."""

from __future__ import annotations

import csv
import io
import itertools
from datetime import UTC, datetime
from typing import Any

import pytest

from bootstrap import LedgerServices
from domain.course import Unit
from projections.progress_documents import CourseProgress
from projections.roster_export import csv_chunks, roster_csv
from projections.roster_queries import (
    InvalidRosterQuery,
    RosterQuery,
    cursor_of,
    roster_page,
    roster_rows,
)
from tests.test_parking import store_unappliable_completion
from tests.test_projection import project

UNITS = [f"u{n}" for n in range(4)]


def course_of_learners(services: LedgerServices) -> None:
    """25 learners of c1 (ids in mixed case) at 0, 25, 50, 75 or 100 %, three withdrawn; one
    learner of another course."""
    ledger = services.ledger
    ledger.create_course("c1", "Course", [Unit(unit) for unit in UNITS])
    ledger.create_course("c2", "Other", [Unit("only")])
    for n in range(25):
        learner = f"{'Learner' if n % 2 else 'learner'}-{n:02d}"
        enrollment = ledger.enroll(learner, "c1").enrollment.id
        for unit in UNITS[: n % 5]:
            ledger.complete_unit(enrollment, unit)
        if n in (3, 10, 21):
            ledger.withdraw(enrollment)
    ledger.enroll("learner-00", "c2")
    project(services)


def status_of(item: CourseProgress) -> str:
    if item["withdrawn"]:
        return "withdrawn"
    return "in_progress" if item["completed_at"] is None else "completed"


def expected(everyone: list[CourseProgress], query: RosterQuery) -> list[str]:
    """`everyone` in the database's own order of learner ids (its collation's)."""
    rank = {item["learner_id"]: n for n, item in enumerate(everyone)}
    kept = [
        item
        for item in everyone
        if (query.status is None or status_of(item) == query.status)
        and (query.min_percentage is None or item["percentage"] >= query.min_percentage)
        and (query.max_percentage is None or item["percentage"] <= query.max_percentage)
        and (
            query.learner_search is None
            or query.learner_search.lower() in item["learner_id"].lower()
        )
    ]

    def key(item: CourseProgress) -> tuple[object, int]:
        if query.sort == "learner_id":
            return ("", rank[item["learner_id"]])
        return (item[query.sort], rank[item["learner_id"]])  # type: ignore[literal-required]

    return [item["learner_id"] for item in sorted(kept, key=key, reverse=query.descending)]


def paged(services: LedgerServices, query: RosterQuery) -> list[str]:
    listed: list[str] = []
    while True:
        page = roster_page(services.db, "c1", query)
        assert len(page["items"]) <= query.limit
        listed += [item["learner_id"] for item in page["items"]]
        if page["next"] is None:
            return listed
        query = query.starting_after(page["next"])


def test_every_filter_and_sort_pages_through_the_matching_learners_once(
    services: LedgerServices,
) -> None:
    course_of_learners(services)
    everyone = list(roster_rows(services.db, "c1", RosterQuery(), chunk=7))
    assert len(everyone) == 25
    for status, (low, high), sort, descending, search in itertools.product(
        (None, "in_progress", "completed", "withdrawn"),
        ((None, None), (25.0, 75.0), (50.0, None)),
        ("learner_id", "percentage", "updated_at"),
        (False, True),
        (None, "LEARNER-1"),
    ):
        query = RosterQuery(
            status=status,
            min_percentage=low,
            max_percentage=high,
            sort=sort,
            descending=descending,
            learner_search=search,
            limit=4,
        )
        wanted = expected(everyone, query)
        assert paged(services, query) == wanted, query
        assert [row["learner_id"] for row in roster_rows(services.db, "c1", query, 3)] == wanted


def test_the_summary_counts_the_whole_course_whatever_the_filter(
    services: LedgerServices,
) -> None:
    course_of_learners(services)
    page = roster_page(services.db, "c1", RosterQuery(status="withdrawn", limit=2))
    assert {item["learner_id"] for item in page["items"]} < {
        "Learner-03",
        "learner-10",
        "Learner-21",
    }
    assert page["summary"] == {"enrolled": 22, "completed": 5, "average_percentage": 52.27}
    assert page["projection_position"] == services.generations.live().position


def test_a_cursor_of_another_sort_or_made_up_is_refused(services: LedgerServices) -> None:
    course_of_learners(services)
    page = roster_page(services.db, "c1", RosterQuery(sort="percentage", limit=2))
    assert page["next"] is not None
    refused_cursors: list[dict[str, Any]] = [
        {"sort": "updated_at", "after": page["next"]},
        {"sort": "percentage", "descending": True, "after": page["next"]},
        {"after": "not-a-cursor"},
        {"after": "bGVhcm5lci0wMQ"},
    ]
    for query in refused_cursors:
        with pytest.raises(InvalidRosterQuery) as refused:
            RosterQuery(**query)
        assert refused.value.field == "after"
    refused_queries: list[tuple[dict[str, Any], str]] = [
        ({"status": "asleep"}, "status"),
        ({"sort": "email"}, "sort"),
        ({"min_percentage": 101.0}, "min_percentage"),
        ({"min_percentage": 60.0, "max_percentage": 50.0}, "min_percentage"),
        ({"limit": 0}, "limit"),
    ]
    for query, field in refused_queries:
        with pytest.raises(InvalidRosterQuery) as refused:
            RosterQuery(**query)
        assert refused.value.field == field


def test_a_cursor_is_the_last_rows_key(services: LedgerServices) -> None:
    course_of_learners(services)
    first = roster_page(services.db, "c1", RosterQuery(sort="updated_at", limit=3))
    assert first["next"] == cursor_of(first["items"][-1], "updated_at", False)


# Learner ids as an LRS may send them (an xAPI account's name is any string).
AWKWARD_IDS = [
    "plain",
    "comma,inside",
    'quote"inside"',
    "line\nbreak",
    "crlf\r\nend",
    "Ünïcødé-学习者",
    " spaced ",
    "back\\slash",
    "tab\there",
    "\\.",
]


def test_the_csv_the_database_writes_is_the_documents_csv_byte_for_byte(
    services: LedgerServices,
) -> None:
    ledger = services.ledger
    units = ["u1", "u2", "u3"]
    ledger.create_course("c1", "Course", [Unit(unit) for unit in units])
    on_the_second = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)
    for n, learner in enumerate(AWKWARD_IDS):
        enrollment = ledger.enroll(learner, "c1").enrollment.id
        for unit in units[: n % 4]:  # 0, 33.33, 66.67 and 100 %
            ledger.complete_unit(enrollment, unit, on_the_second if n % 8 == 3 else None)
        if n == 5:
            ledger.withdraw(enrollment)
        if n == 4:
            store_unappliable_completion(services, enrollment)  # parked: held
    project(services)
    first = roster_page(services.db, "c1", RosterQuery(sort="percentage", limit=3))
    queries = [
        RosterQuery(),
        RosterQuery(sort="percentage", descending=True),
        RosterQuery(sort="updated_at"),
        RosterQuery(sort="updated_at", descending=True, status="in_progress"),
        RosterQuery(status="completed"),
        RosterQuery(status="withdrawn"),
        RosterQuery(min_percentage=33.33, max_percentage=66.67, sort="percentage"),
        RosterQuery(learner_search="INSIDE"),
        RosterQuery(learner_search="\\"),
        RosterQuery(sort="percentage", after=first["next"]),
    ]
    for query in queries:
        for chunk in (1, 3, 1000):
            written = b"".join(part.text for part in roster_csv(services.db, "c1", query, chunk))
            built = "".join(csv_chunks(roster_rows(services.db, "c1", query))).encode()
            assert written == built, (query, chunk)
    everyone = b"".join(part.text for part in roster_csv(services.db, "c1", RosterQuery(), 4))
    read = list(csv.DictReader(io.StringIO(everyone.decode(), newline="")))
    assert sorted(row["learner_id"] for row in read) == sorted(AWKWARD_IDS)
    assert {row["percentage"] for row in read} == {"0.0", "33.33", "66.67", "100.0"}
    assert {row["withdrawn"] for row in read} == {"true", "false"}
    assert [row["learner_id"] for row in read if row["held"] == "true"] == [AWKWARD_IDS[4]]
    assert {"", "2024-05-01T12:30:00Z"} < {row["completed_at"] for row in read}
    assert sum(part.rows for part in roster_csv(services.db, "c1", RosterQuery(), 4)) == len(
        AWKWARD_IDS
    )
