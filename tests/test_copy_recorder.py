"""Big saves go through COPY on PostgreSQL: same ids, same order, same conflicts as before."""

from __future__ import annotations

import pytest
from eventsourcing.persistence import IntegrityError

from bootstrap import LedgerServices
from domain.course import Unit
from domain.enrollment import Enrollment
from eventstore.postgres_recorder import COPY_FROM, PostgresIdempotentRecorder
from tests.factories import new_id


def test_a_big_save_is_recorded_in_order_with_its_positions(services: LedgerServices) -> None:
    ledger = services.ledger
    if services.db.is_postgres:
        assert isinstance(ledger.recorder, PostgresIdempotentRecorder)
    course_id = new_id("course")
    ledger.create_course(course_id, "Course", [Unit("u1")])
    enrollments = [
        Enrollment(learner_id=new_id("l"), course_id=course_id) for _ in range(COPY_FROM)
    ]
    for enrollment in enrollments:
        enrollment.complete_unit(Unit("u1"), enrollment.modified_on)
    recordings = ledger.save(*enrollments)

    positions = [r.notification.id for r in recordings]
    assert len(positions) == 2 * COPY_FROM
    assert positions == sorted(positions)
    logged = ledger.recorder.select_notifications(start=positions[0], limit=len(positions))
    assert [n.id for n in logged] == positions
    assert [(n.originator_id, n.originator_version) for n in logged] == [
        (r.domain_event.originator_id, r.domain_event.originator_version) for r in recordings
    ]


def test_a_big_save_with_one_conflict_writes_nothing(services: LedgerServices) -> None:
    ledger = services.ledger
    course_id = new_id("course")
    ledger.create_course(course_id, "Course", [Unit("u1")])
    taken = ledger.enroll(new_id("l"), course_id).enrollment
    again = Enrollment(learner_id=taken.learner_id, course_id=course_id)  # same id, version 1
    fresh = [Enrollment(learner_id=new_id("l"), course_id=course_id) for _ in range(COPY_FROM)]
    head = ledger.head_position()
    with pytest.raises(IntegrityError):
        ledger.save(*fresh, again)
    assert ledger.head_position() == head
