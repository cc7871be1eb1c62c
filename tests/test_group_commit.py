"""Group commit: concurrent commands saved together, and a conflict fails only its command."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from uuid import UUID

from eventsourcing.application import ProcessingEvent
from eventsourcing.persistence import IntegrityError

from bootstrap import LedgerServices
from domain.course import Unit
from domain.enrollment import Enrollment
from ledger.group_commit import GroupCommitLedger, PendingSave
from tests.factories import new_id


def course_of(units: int) -> list[Unit]:
    return [Unit(f"u{index}") for index in range(units)]


def pending(*enrollments: Enrollment) -> PendingSave:
    processing_event: ProcessingEvent[UUID] = ProcessingEvent()
    processing_event.collect_events(*enrollments)
    return PendingSave(processing_event)


def test_the_composition_root_builds_a_group_committing_ledger(services: LedgerServices) -> None:
    assert isinstance(services.ledger, GroupCommitLedger)
    # Same application name, so the same event store as a plain ProgressLedger.
    assert services.ledger.name == "ProgressLedger"


def test_concurrent_completions_are_all_recorded(services: LedgerServices) -> None:
    ledger = services.ledger
    course_id = new_id("course")
    ledger.create_course(course_id, "Course", course_of(8))
    enrollments = [ledger.enroll(new_id("learner"), course_id).enrollment.id for _ in range(6)]
    # Every learner completes every unit, all at once: many commands share an enrollment.
    commands = [(e, f"u{unit}") for e in enrollments for unit in range(8)]
    with ThreadPoolExecutor(max_workers=16) as pool:
        recorded = list(pool.map(lambda c: ledger.complete_unit(*c), commands))
    assert all(r.appended == ["UnitCompleted"] for r in recorded)
    for enrollment_id in enrollments:
        assert ledger.get_enrollment(enrollment_id).completed_units == {f"u{i}" for i in range(8)}


def test_a_conflict_in_a_batch_fails_only_its_own_command(services: LedgerServices) -> None:
    ledger = services.ledger
    assert isinstance(ledger, GroupCommitLedger)
    course_id = new_id("course")
    ledger.create_course(course_id, "Course", course_of(3))
    first, second, stale = (
        ledger.enroll(new_id("learner"), course_id).enrollment.id for _ in range(3)
    )
    unit = ledger.get_course(course_id).find_unit("u0")
    # Two copies of one enrollment in one batch, and one copy already out of date.
    twin_a, twin_b = ledger.get_enrollment(first), ledger.get_enrollment(first)
    outdated = ledger.get_enrollment(stale)
    ledger.complete_unit(stale, "u1")
    fresh = ledger.get_enrollment(second)
    for enrollment in (twin_a, twin_b, outdated, fresh):
        enrollment.complete_unit(unit, enrollment.modified_on)

    batch = [pending(twin_a), pending(twin_b), pending(outdated), pending(fresh)]
    ledger._commit(batch)

    assert [p.outcome.exception() is None for p in batch] == [True, False, False, True]
    assert isinstance(batch[1].outcome.exception(), IntegrityError)
    assert isinstance(batch[2].outcome.exception(), IntegrityError)
    assert ledger.get_enrollment(first).completed_units == {"u0"}
    assert ledger.get_enrollment(second).completed_units == {"u0"}
    assert ledger.get_enrollment(stale).completed_units == {"u1"}


def test_a_command_that_appends_nothing_answers_at_once(services: LedgerServices) -> None:
    ledger = services.ledger
    course_id = new_id("course")
    ledger.create_course(course_id, "Course", course_of(1))
    enrollment_id = ledger.enroll(new_id("learner"), course_id).enrollment.id
    first = ledger.complete_unit(enrollment_id, "u0")
    again = ledger.complete_unit(enrollment_id, "u0")
    assert again.appended == []
    assert again.position >= first.position
