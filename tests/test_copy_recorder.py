"""Big saves go through COPY on PostgreSQL: same ids, same order, same conflicts as before;
a big batch from the committer too, in one insert."""

from __future__ import annotations

import pytest
from eventsourcing.persistence import IntegrityError

from api.batch_items import CompletionItem
from bootstrap import LedgerServices
from domain.course import Unit
from domain.enrollment import Enrollment
from eventstore.postgres_recorder import COPY_FROM, PIPELINED_UP_TO, PostgresIdempotentRecorder
from ledger.importer import CompletionImporter
from tests.factories import new_id


def copies(services: LedgerServices) -> int:
    """COPYs the recorder ran (SQLite has no COPY: always 0)."""
    recorder = services.ledger.recorder
    return recorder.copies if isinstance(recorder, PostgresIdempotentRecorder) else 0


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
    small = Enrollment(learner_id=new_id("l"), course_id=course_id)
    before = copies(services)

    ledger.save(small)
    assert copies(services) == before  # below COPY_FROM: one INSERT statement
    recordings = ledger.save(*enrollments)

    assert copies(services) == before + (1 if services.db.is_postgres else 0)
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


def test_a_big_batch_is_one_insert_by_copy(services: LedgerServices) -> None:
    """Bulk ingest keeps the COPY path: a batch bigger than one round trip carries is
    decided by the committer and written by COPY, in one insert, in order."""
    ledger = services.ledger
    course_id = new_id("course")
    ledger.create_course(course_id, "Course", [Unit("u1")])
    items = [  # two events each
        CompletionItem(learner_id=new_id("l"), course_id=course_id, unit_id="u1")
        for _ in range(PIPELINED_UP_TO)
    ]
    inserts, copied, head = ledger.committer.inserts, copies(services), ledger.head_position()

    outcome = CompletionImporter(ledger).run(items, enroll=True)

    assert outcome.count("appended") == len(items)
    assert ledger.committer.inserts == inserts + 1
    assert copies(services) == copied + (1 if services.db.is_postgres else 0)
    assert outcome.position == head + 2 * len(items) == ledger.head_position()
    logged = ledger.recorder.select_notifications(start=head + 1, limit=2 * len(items))
    assert [n.id for n in logged] == list(range(head + 1, outcome.position + 1))
