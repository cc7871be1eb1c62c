"""The benchmark's data: courses of units with modules, learners who completed part of them.

Written through the library (one `save(*aggregates)` per chunk), so the events are exactly
what commands append and every insert keeps the event store's table lock.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

from domain.course import Course, Module, Unit
from domain.enrollment import Enrollment
from ledger.application import ProgressLedger

UNITS_PER_COURSE = 20
# Enrolled, then modules and units in course order until an enrollment has this many events.
EVENTS_PER_ENROLLMENT = 20
EPOCH = datetime(2024, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Shape:
    learners: int
    courses: int = 5

    @property
    def events(self) -> int:
        return self.courses + self.learners * self.courses * EVENTS_PER_ENROLLMENT


def course_units(course_id: str) -> list[Unit]:
    """Even units have two modules, odd units none."""
    return [
        Unit(
            f"{course_id}-u{index}",
            f"Unit {index}",
            modules=(Module(f"{course_id}-u{index}-a"), Module(f"{course_id}-u{index}-b"))
            if index % 2 == 0
            else (),
        )
        for index in range(UNITS_PER_COURSE)
    ]


def course_ids(shape: Shape) -> list[str]:
    return [f"course-{index}" for index in range(shape.courses)]


def learner_id(index: int) -> str:
    return f"learner-{index}"


def enrollment(course: Course, learner: str, index: int, enrollment_id: UUID) -> Enrollment:
    enrolled = Enrollment(id=enrollment_id, learner_id=learner, course_id=course.course_id)
    at = EPOCH + timedelta(minutes=index)
    for unit in course.units:
        for module in unit.modules:
            if len(enrolled.pending_events) >= EVENTS_PER_ENROLLMENT:
                return enrolled
            enrolled.complete_module(module.module_id, unit, at)
        if len(enrolled.pending_events) >= EVENTS_PER_ENROLLMENT:
            return enrolled
        enrolled.complete_unit(unit, at)
    return enrolled


def enrollments(
    ledger: ProgressLedger, courses: list[Course], shape: Shape
) -> Iterator[Enrollment]:
    """Each learner's enrollments, under keys the ledger's store makes for 500 learners at
    a time."""
    for start in range(0, shape.learners, 500):
        indexes = range(start, min(start + 500, shape.learners))
        pairs = [(learner_id(index), c.course_id) for index in indexes for c in courses]
        keys = ledger.learner_keys().enroll(pairs)
        for index in indexes:
            key = keys[learner_id(index)]
            for course in courses:
                yield enrollment(course, key.learner_id, index, key.enrollment_id(course.course_id))


def generate(ledger: ProgressLedger, shape: Shape, chunk: int = 1000) -> int:
    """Appends the whole data set; returns the head position."""
    courses = [
        Course.create(course_id, f"Course {course_id}", course_units(course_id))
        for course_id in course_ids(shape)
    ]
    ledger.save(*courses)
    pending: list[Enrollment] = []
    for enrolled in enrollments(ledger, courses, shape):
        pending.append(enrolled)
        if len(pending) == chunk:
            ledger.save(*pending)
            pending = []
    if pending:
        ledger.save(*pending)
    return ledger.head_position()
