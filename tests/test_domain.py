"""The domain on the library's in-memory event store: what each command appends."""

from __future__ import annotations

from pathlib import Path

import pytest
from eventsourcing.sqlite import SQLiteDatastore

from domain.course import Module, Unit
from domain.errors import (
    AlreadyExistsError,
    EnrollmentWithdrawnError,
    InvalidStructureError,
    NotFoundError,
)
from eventstore.database import database_for
from eventstore.learner_keys import LearnerKeys
from ledger.application import ProgressLedger
from tests.factories import four_unit_course


@pytest.fixture
def ledger(tmp_path: Path) -> ProgressLedger:
    app = ProgressLedger(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    # Enrollment ids are derived under learners' keys, which live in a database.
    keys = LearnerKeys(database_for(SQLiteDatastore(str(tmp_path / "keys.sqlite3"))))
    keys.create_schema()
    app.use_keys(keys)
    app.create_course("c1", "Course", four_unit_course())
    return app


def test_completing_last_module_completes_the_unit_in_the_same_save(
    ledger: ProgressLedger,
) -> None:
    enrollment = ledger.enroll("ada", "c1").enrollment
    assert ledger.complete_module(enrollment.id, "m1").appended == ["ModuleCompleted"]
    recorded = ledger.complete_module(enrollment.id, "m2")
    assert recorded.appended == ["ModuleCompleted", "UnitCompleted"]
    assert ledger.get_enrollment(enrollment.id).completed_units == {"u1"}


def test_completing_twice_appends_nothing(ledger: ProgressLedger) -> None:
    enrollment = ledger.enroll("ada", "c1").enrollment
    first = ledger.complete_unit(enrollment.id, "u2")
    again = ledger.complete_unit(enrollment.id, "u2")
    assert first.appended == ["UnitCompleted"]
    assert again.appended == []
    assert again.position == first.position


def test_enrolling_twice_returns_the_same_enrollment(ledger: ProgressLedger) -> None:
    first = ledger.enroll("ada", "c1")
    second = ledger.enroll("ada", "c1")
    assert (first.created, second.created) == (True, False)
    assert first.enrollment.id == second.enrollment.id
    assert second.recorded.appended == []


def test_unknown_things_are_rejected_and_nothing_is_appended(ledger: ProgressLedger) -> None:
    enrollment = ledger.enroll("ada", "c1").enrollment
    head = ledger.head_position()
    with pytest.raises(NotFoundError) as unknown_module:
        ledger.complete_module(enrollment.id, "nope")
    with pytest.raises(NotFoundError) as unknown_unit:
        ledger.complete_unit(enrollment.id, "nope")
    with pytest.raises(NotFoundError) as unknown_course:
        ledger.enroll("ada", "no-such-course")
    assert (unknown_module.value.field, unknown_unit.value.field) == ("module_id", "unit_id")
    assert unknown_course.value.field == "course_id"
    assert ledger.head_position() == head


def test_duplicate_ids_in_a_course_are_refused(ledger: ProgressLedger) -> None:
    with pytest.raises(InvalidStructureError) as duplicate_unit:
        ledger.create_course("c2", "", [Unit("a"), Unit("a")])
    with pytest.raises(InvalidStructureError) as duplicate_module:
        ledger.add_module("c1", "u2", Module("m1"))
    with pytest.raises(AlreadyExistsError):
        ledger.create_course("c1", "", [])
    with pytest.raises(InvalidStructureError) as added_twice:
        ledger.add_unit("c1", Unit("u2"))
    with pytest.raises(InvalidStructureError) as module_of_another_unit:
        ledger.add_unit("c1", Unit("u9", modules=(Module("m9"), Module("m2"))))
    assert duplicate_unit.value.field == "units[1].unit_id"
    # Added to an existing course, the field is named as it appears in that request's body.
    assert duplicate_module.value.field == "module_id"
    assert added_twice.value.field == "unit_id"
    assert module_of_another_unit.value.field == "modules[1].module_id"
    assert "m1" in duplicate_module.value.message


def test_structure_changes_keep_order(ledger: ProgressLedger) -> None:
    ledger.add_unit("c1", Unit("u0"), index=0)
    ledger.add_module("c1", "u1", Module("m0"), index=0)
    ledger.remove_unit("c1", "u3")
    course = ledger.get_course("c1")
    assert [u.unit_id for u in course.units] == ["u0", "u1", "u2", "u4"]
    assert course.find_unit("u1").module_ids == ("m0", "m1", "m2")


def test_withdrawn_enrollment_refuses_completions_until_enrolled_again(
    ledger: ProgressLedger,
) -> None:
    enrollment = ledger.enroll("ada", "c1").enrollment
    assert ledger.withdraw(enrollment.id).appended == ["Withdrawn"]
    with pytest.raises(EnrollmentWithdrawnError):
        ledger.complete_unit(enrollment.id, "u2")
    assert ledger.enroll("ada", "c1").recorded.appended == ["Reenrolled"]
    assert ledger.complete_unit(enrollment.id, "u2").appended == ["UnitCompleted"]
