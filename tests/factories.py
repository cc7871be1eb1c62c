"""Small builders for test data with ids that never collide between tests."""

from __future__ import annotations

import uuid
from uuid import UUID

from domain.course import Module, Unit
from domain.enrollment import Enrollment
from ledger.application import ProgressLedger


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def four_unit_course() -> list[Unit]:
    """Four units; the first has two modules, the rest none."""
    return [
        Unit("u1", "Basics", modules=(Module("m1", "Intro"), Module("m2", "Practice"))),
        Unit("u2", "Middle"),
        Unit("u3", "Advanced", required=False, weight=2.0),
        Unit("u4", "Exam", weight=3.0),
    ]


def enrollment_id_of(ledger: ProgressLedger, course_id: str, learner_id: str) -> UUID:
    """The learner's enrollment id in the course, derived under their key; an id that names
    no enrollment when they have no key yet."""
    return ledger.enrollment_id(learner_id, course_id) or uuid.uuid4()


def keyed_enrollment(ledger: ProgressLedger, learner_id: str, course_id: str) -> Enrollment:
    """An Enrollment built in memory (not saved), under a key the ledger's store now holds,
    as the committer's Enroll makes one."""
    key = ledger.learner_keys().enroll([(learner_id, course_id)])[learner_id]
    return Enrollment(id=key.enrollment_id(course_id), learner_id=learner_id, course_id=course_id)
