"""Personal fields sealed under the learner's key: stored unreadable, read back in clear, and
read as the erased marker once the key is gone, by every way of decoding, never an error."""

from __future__ import annotations

from uuid import UUID

import pytest

from bootstrap import LedgerServices
from domain.course import Unit
from domain.enrollment import Enrollment
from domain.erasure import ERASED
from domain.errors import NotFoundError
from eventstore.learner_keys import LearnerKey
from eventstore.log_reader import LogReader
from tests.factories import new_id


def enrolled(services: LedgerServices, learner: str) -> tuple[UUID, str, int]:
    course_id = new_id("course")
    services.ledger.create_course(course_id, "Course", [Unit("u1")])
    recorded = services.ledger.enroll(learner, course_id)
    return recorded.enrollment.id, course_id, recorded.recorded.position


def destroy(services: LedgerServices, key: LearnerKey, streams: list[UUID]) -> None:
    with services.db.transaction() as cursor:
        services.keys.destroy(cursor, key, streams)


def test_a_learner_id_is_stored_sealed_and_read_in_clear(services: LedgerServices) -> None:
    learner = f"{new_id('Ada')}@Example.org"
    enrollment_id, course_id, position = enrolled(services, learner)

    (stored,) = services.ledger.recorder.select_events(enrollment_id, limit=1)
    (record,), _ = LogReader(services.ledger.recorder, services.ledger.mapper).read(position, 1)

    assert learner.encode() not in stored.state and b"_sealed_" in stored.state
    assert services.ledger.get_enrollment(enrollment_id).learner_id == learner
    assert (record[0], record[3]["learner_id"]) == (Enrollment.Enrolled, learner)
    key = services.keys.key_of(learner)
    assert key is not None and enrollment_id == key.enrollment_id(course_id)


def test_once_the_key_is_gone_the_field_reads_erased(services: LedgerServices) -> None:
    learner = new_id("bob")
    enrollment_id, _, position = enrolled(services, learner)
    key = services.keys.key_of(learner)
    assert key is not None
    destroy(services, key, [enrollment_id])
    (stored,) = services.ledger.recorder.select_events(enrollment_id, limit=1)

    decoded = services.ledger.mapper.to_domain_event(stored)
    (record,), _ = LogReader(services.ledger.recorder, services.ledger.mapper).read(position, 1)

    assert getattr(decoded, "learner_id") == ERASED  # noqa: B009
    assert record[3]["learner_id"] == ERASED
    assert services.keys.key_of(learner) is None


def test_a_sealed_field_moved_to_another_stream_does_not_open(services: LedgerServices) -> None:
    """The ciphertext is bound to its stream: copied into another, it reads as no one."""
    learner = new_id("cy")
    first, _, _ = enrolled(services, learner)
    second, _, _ = enrolled(services, learner)
    stored = services.ledger.recorder.select_events(first, limit=1)[0]
    moved = type(stored)(
        originator_id=second,
        originator_version=stored.originator_version,
        topic=stored.topic,
        state=stored.state,
    )

    assert getattr(services.ledger.mapper.to_domain_event(moved), "learner_id") == ERASED  # noqa: B009


def test_an_enrollment_whose_key_went_meanwhile_writes_nothing(services: LedgerServices) -> None:
    """Erased between finding the key and writing: the enrollment is refused (404), alone."""
    course_id = new_id("course")
    services.ledger.create_course(course_id, "Course", [Unit("u1")])
    learner = new_id("dee")
    command = services.ledger.enroll_command(learner, course_id)
    key = services.keys.key_of(learner)
    assert key is not None
    destroy(services, key, [command.enrollment_id])
    head = services.ledger.head_position()

    with pytest.raises(NotFoundError, match="no learner key"):
        services.ledger.run(command)

    assert services.ledger.head_position() == head
    assert services.ledger.enroll(new_id("eve"), course_id).created


def test_a_key_destroyed_after_it_sealed_seals_nothing_more(services: LedgerServices) -> None:
    """The write side keeps a cipher for each key it sealed under: once the key is
    destroyed, the stream's personal fields are refused all the same."""
    learner = new_id("fay")
    enrollment_id, course_id, _ = enrolled(services, learner)
    key = services.keys.key_of(learner)
    assert key is not None
    destroy(services, key, [enrollment_id])
    again = Enrollment(id=enrollment_id, learner_id=learner, course_id=course_id)
    (enrolled_again,) = again.collect_events()

    with pytest.raises(NotFoundError, match="no learner key"):
        services.ledger.mapper.to_stored_event(enrolled_again)
