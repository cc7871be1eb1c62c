"""Big saves go through COPY on PostgreSQL: same ids, same order, same conflicts as before,
and the very rows the library's own insert writes; a big batch from the committer too, in
one insert.

That COPY ran is seen by PostgreSQL itself: a statement-level trigger on the events table
notes the text of every statement that inserts into it (`current_query()`), so the test
reads which statement wrote the events, not what the recorder says it did."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent

from api.batch_items import CompletionItem
from bootstrap import LedgerServices
from domain.acting import SYSTEM
from domain.course import Unit
from eventstore.personal_data import holds_personal_data
from eventstore.postgres_recorder import COPY_FROM, PIPELINED_UP_TO, PostgresIdempotentRecorder
from ledger.importer import CompletionImporter
from tests.factories import keyed_enrollment, new_id


def copies(services: LedgerServices) -> int:
    """COPYs the recorder ran (SQLite has no COPY: always 0)."""
    recorder = services.ledger.recorder
    return recorder.copies if isinstance(recorder, PostgresIdempotentRecorder) else 0


def note_inserting_statements(services: LedgerServices) -> Callable[[], list[str]]:
    """From now on, PostgreSQL notes every statement that inserts events; returns how to
    read (and forget) the statements noted so far."""
    db = services.db
    seen, note = db.table("inserting_statements"), db.table("note_inserting_statement")
    events = db.table(f"{services.ledger.name.lower()}_events")
    with db.transaction() as cursor:
        cursor.execute(f"CREATE TABLE {seen} (statement TEXT NOT NULL)")
        cursor.execute(
            f"CREATE FUNCTION {note}() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN INSERT INTO {seen} VALUES (current_query()); RETURN NULL; END $$"
        )
        cursor.execute(
            f"CREATE TRIGGER note_inserting_statement AFTER INSERT ON {events} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {note}()"
        )

    def statements() -> list[str]:
        with db.transaction() as cursor:
            cursor.execute(f"DELETE FROM {seen} RETURNING statement")
            return [" ".join(row["statement"].split()) for row in cursor.fetchall()]

    return statements


def test_a_big_save_is_recorded_in_order_with_its_positions(services: LedgerServices) -> None:
    ledger = services.ledger
    statements: Callable[[], list[str]] = list
    if services.db.is_postgres:
        assert isinstance(ledger.recorder, PostgresIdempotentRecorder)
        statements = note_inserting_statements(services)
    course_id = new_id("course")
    ledger.create_course(course_id, "Course", [Unit("u1")])
    small = statements()
    enrollments = [keyed_enrollment(ledger, new_id("l"), course_id) for _ in range(COPY_FROM)]
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
    # Byte for byte the rows the library's mapper makes of these events; sealed personal
    # fields differ by their random nonce, so those events are compared opened.
    for n, r in zip(logged, recordings, strict=True):
        if holds_personal_data(r.domain_event):
            assert vars(ledger.mapper.to_domain_event(n)) == vars(r.domain_event)
        else:
            assert stored_row(n) == stored_row(ledger.mapper.to_stored_event(r.domain_event))
    if services.db.is_postgres:
        # One statement wrote all the big save's events, and it was a COPY; a small save
        # went through the library's own INSERT.
        assert [statement.split()[0] for statement in small] == ["INSERT"], small
        copied = statements()
        assert len(copied) == 1 and copied[0].startswith("COPY "), copied
        assert copied[0].endswith(" FROM STDIN"), copied


def stored_row(stored: StoredEvent) -> tuple[object, ...]:
    return stored.originator_id, stored.originator_version, stored.topic, stored.state


def test_a_big_save_with_one_conflict_writes_nothing(services: LedgerServices) -> None:
    ledger = services.ledger
    course_id = new_id("course")
    ledger.create_course(course_id, "Course", [Unit("u1")])
    taken = ledger.enroll(new_id("l"), course_id).enrollment
    again = keyed_enrollment(ledger, taken.learner_id, course_id)  # same id, version 1
    fresh = [keyed_enrollment(ledger, new_id("l"), course_id) for _ in range(COPY_FROM)]
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

    outcome = CompletionImporter(ledger, SYSTEM).run(items, enroll=True)

    assert outcome.count("appended") == len(items)
    assert ledger.committer.inserts == inserts + 1
    assert copies(services) == copied + (1 if services.db.is_postgres else 0)
    assert outcome.position == head + 2 * len(items) == ledger.head_position()
    logged = ledger.recorder.select_notifications(start=head + 1, limit=2 * len(items))
    assert [n.id for n in logged] == list(range(head + 1, outcome.position + 1))
