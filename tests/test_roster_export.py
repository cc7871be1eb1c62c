"""The roster's CSV through a real server, of a course bigger than one chunk of the export:
it comes in pieces, and clients that hang up mid-download leave no connection behind."""

from __future__ import annotations

from pathlib import Path

import httpx
import psycopg

from bootstrap import LedgerServices, Settings
from domain.course import Course, Unit
from domain.enrollment import Enrollment
from projections.roster_export import CSV_CHUNK, roster_csv
from projections.roster_queries import RosterQuery
from tests.conftest import POSTGRES_URL, Server
from tests.deadlines import DEADLINE, wait_until
from tests.test_projection import project

LEARNERS = 2 * CSV_CHUNK + 500
# More downloads than the server's pool has connections (8 and 8 more by default).
ABANDONED = 20


def enroll_many(services: LedgerServices, course_id: str, learners: int) -> None:
    ledger = services.ledger
    ledger.save(Course.create(course_id, "Big", [Unit("u1")]))
    for start in range(0, learners, 1000):
        pairs = [(f"learner-{n:06d}", course_id) for n in range(start, min(start + 1000, learners))]
        keys = ledger.learner_keys().enroll(pairs)
        ledger.save(
            *(
                Enrollment(
                    id=keys[learner].enrollment_id(course), learner_id=learner, course_id=course
                )
                for learner, course in pairs
            )
        )
    project(services)


def copies_running(schema: str) -> int:
    """Statements of this schema's export still running or stuck in the database."""
    with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
        row = connection.execute(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE state <> 'idle' "
            "AND query LIKE 'COPY%%' AND query LIKE %s",
            (f'%"{schema}".%',),
        ).fetchone()
    return int(row[0]) if row else 0


def test_a_big_roster_comes_in_chunks_and_hanging_up_frees_the_connection(
    settings: Settings, services: LedgerServices, tmp_path: Path
) -> None:
    enroll_many(services, "big", LEARNERS)
    chunks = [part.rows for part in roster_csv(services.db, "big", RosterQuery())]
    assert chunks == [0, CSV_CHUNK, CSV_CHUNK, 500]  # the header, then bounded pieces

    with Server(settings, tmp_path / "server.log") as server:
        url = f"{server.url}/v1/courses/big/progress"
        for _ in range(ABANDONED):
            with (
                httpx.Client(timeout=DEADLINE) as client,
                client.stream("GET", url, headers={"Accept": "text/csv"}) as answer,
            ):
                assert answer.status_code == 200
                first = next(answer.iter_raw(65536))
                assert first.startswith(b"learner_id,course_id,")
            # Leaving the blocks closes the socket with most of the body unread.
        if POSTGRES_URL:
            # A chunk being read when the client left ends; none waits on the gone client.
            wait_until(lambda: copies_running(settings.database_schema) == 0, "no COPY left")
        with httpx.Client(timeout=DEADLINE) as client:
            whole = client.get(url, headers={"Accept": "text/csv"})
            assert whole.status_code == 200
            assert whole.text.count("\n") == LEARNERS + 1
            assert whole.text.splitlines()[-1].startswith(f"learner-{LEARNERS - 1:06d},big,")
            page = client.get(url, params={"limit": 1})
            assert page.json()["summary"]["enrolled"] == LEARNERS
