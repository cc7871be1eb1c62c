"""An event the projection cannot apply is parked; it holds only its own stream."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic

from bootstrap import LedgerServices
from domain.enrollment import Enrollment
from tests.factories import four_unit_course, new_id
from tests.progress_reading import progress_of
from tests.test_projection import project


def store_unreadable_completion(services: LedgerServices, enrollment_id: Any) -> None:
    """A completion as data stored before times were validated would be: on PostgreSQL a
    time it refuses to store as a timestamp (year 1 with a positive offset), on SQLite a time
    that is not a time at all."""
    occurred_at: Any
    if services.db.is_postgres:
        occurred_at = datetime(1, 1, 1, tzinfo=timezone(timedelta(minutes=1)))
    else:
        occurred_at = "not a time"
    ledger = services.ledger
    version = len(ledger.recorder.select_events(enrollment_id)) + 1
    ledger.recorder.insert_events(
        [
            StoredEvent(
                originator_id=enrollment_id,
                originator_version=version,
                topic=get_topic(Enrollment.UnitCompleted),
                state=ledger.mapper.transcoder.encode(
                    {"timestamp": datetime.now(UTC), "unit_id": "u2", "occurred_at": occurred_at}
                ),
            )
        ]
    )


def test_an_unappliable_event_is_parked_and_holds_only_its_stream(
    services: LedgerServices,
) -> None:
    course = new_id("c")
    services.ledger.create_course(course, "Parking", four_unit_course())
    bad = services.ledger.enroll("bad", course).enrollment.id
    good = services.ledger.enroll("good", course).enrollment.id
    services.ledger.complete_unit(bad, "u1")
    project(services)
    store_unreadable_completion(services, bad)
    services.ledger.complete_unit(bad, "u4")  # held behind the parked event
    services.ledger.complete_unit(good, "u2")
    project(services)

    live = services.generations.live()
    assert live.position == services.ledger.head_position()
    parked = services.engine.parked.of_generation(live.number)
    assert [(p.stream, p.kind) for p in parked] == [(str(bad), "enrollment")] * 2
    assert "held behind" in parked[1].error and "held behind" not in parked[0].error
    assert progress_of(services, "good", course)["completed_units"] == 1
    assert progress_of(services, "bad", course)["completed_units"] == 1  # its last good numbers
