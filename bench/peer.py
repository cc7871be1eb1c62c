"""The peer a user would otherwise write: the library's ProjectionRunner, one transaction per
event, keeping a per-enrollment progress row and its tracking position together."""

from __future__ import annotations

import time
from functools import singledispatchmethod
from typing import Any

from eventsourcing.persistence import Tracking
from eventsourcing.postgres import PostgresTrackingRecorder
from eventsourcing.projection import Projection, ProjectionRunner
from psycopg.sql import SQL, Identifier

from domain.enrollment import Enrollment
from ledger.application import ProgressLedger


class PeerView(PostgresTrackingRecorder):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.progress_table = SQL("{0}.{1}").format(
            Identifier(self.datastore.schema), Identifier("peer_progress")
        )
        self.sql_create_statements.append(
            SQL(
                "CREATE TABLE IF NOT EXISTS {0} (enrollment_id uuid PRIMARY KEY, "
                "learner_id text, course_id text, completed_units int, "
                "completed_modules int, updated_at timestamptz)"
            ).format(self.progress_table)
        )

    def apply(self, statement: SQL, params: tuple[Any, ...], tracking: Tracking) -> None:
        with self.datastore.transaction(commit=True) as cursor:
            cursor.execute(statement.format(self.progress_table), params)
            self._insert_tracking(cursor, tracking)


ENROLLED = SQL(
    "INSERT INTO {0} VALUES (%s, %s, %s, 0, 0, %s) ON CONFLICT (enrollment_id) DO NOTHING"
)
UNIT = SQL(
    "UPDATE {0} SET completed_units = completed_units + 1, updated_at = %s WHERE enrollment_id = %s"
)
MODULE = SQL(
    "UPDATE {0} SET completed_modules = completed_modules + 1, updated_at = %s "
    "WHERE enrollment_id = %s"
)
TRACK_ONLY = SQL("SELECT 1 FROM {0} LIMIT 0")


class PeerProjection(Projection[PeerView]):
    name = "peer"

    @singledispatchmethod
    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        self.view.apply(TRACK_ONLY, (), tracking)

    @process_event.register
    def _(self, domain_event: Enrollment.Enrolled, tracking: Tracking) -> None:
        params = (
            domain_event.originator_id,
            str(domain_event.learner_id),  # sealed (a dict) under the plain mapper
            domain_event.course_id,
            domain_event.timestamp,
        )
        self.view.apply(ENROLLED, params, tracking)

    @process_event.register
    def _(self, domain_event: Enrollment.UnitCompleted, tracking: Tracking) -> None:
        self.view.apply(UNIT, (domain_event.timestamp, domain_event.originator_id), tracking)

    @process_event.register
    def _(self, domain_event: Enrollment.ModuleCompleted, tracking: Tracking) -> None:
        self.view.apply(MODULE, (domain_event.timestamp, domain_event.originator_id), tracking)


def run_peer(env: dict[str, str], events: int, timeout: float) -> float:
    """Events per second the runner projects over the first `events` of the log (timed from
    its first few events, so start-up is not counted)."""
    warm_up = 10
    with ProjectionRunner(
        application_class=ProgressLedger,
        projection_class=PeerProjection,
        view_class=PeerView,
        env=env,
    ) as runner:
        runner.wait(warm_up, timeout=timeout)
        started = time.perf_counter()
        runner.wait(events, timeout=timeout)
        elapsed = time.perf_counter() - started
    return (events - warm_up) / elapsed
