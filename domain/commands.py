"""Commands as values: each names the aggregates it needs and decides against them.

Every command, whichever way it came in (an HTTP route, a batch item, an import line), is
decided by the one committer (ledger/committer.py): it loads the aggregates a command names,
calls `decide`, and writes what the changed aggregate appended. A command refuses by raising
a LedgerError before it changes anything, so a refused command leaves every aggregate as it
was; the rules themselves stay in the aggregates (domain/course.py, domain/enrollment.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from copy import deepcopy
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import NamedTuple, Protocol
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain.course import DEFAULT_THRESHOLD, Course, Module, Unit
from domain.enrollment import Enrollment
from domain.errors import AlreadyExistsError, EnrollmentWithdrawnError, NotFoundError
from domain.identifiers import course_aggregate_id

# The aggregates the committer holds, by id: each command's own, as they are now (absent:
# none exists yet).
Aggregates = Mapping[UUID, Aggregate]
# The course of an enrollment, by its course_id (raises NotFoundError when it is gone).
CourseOf = Callable[[str], Course]
Change = Callable[[Enrollment, CourseOf], None]


class Command(Protocol):
    @property
    def aggregate_ids(self) -> tuple[UUID, ...]:
        """The aggregates to load before deciding (an enrollment's course comes with it)."""

    def decide(self, aggregates: Aggregates) -> Aggregate:
        """Changes one aggregate (or none: then it is returned with nothing pending), or
        raises a LedgerError having changed nothing."""


class Recorded(NamedTuple):
    """What a command appended (event names, in order) and the log position that covers it.
    (A named tuple: a batch makes ten thousand, and a frozen dataclass costs four times as
    much to build.)"""

    appended: list[str]
    position: int
    version: int


def existing_course(aggregates: Aggregates, course_id: str) -> Course:
    course = aggregates.get(course_aggregate_id(course_id))
    if not isinstance(course, Course):
        raise NotFoundError(f"course {course_id!r} does not exist", field="course_id")
    return course


# Enrollments -----------------------------------------------------------------


def completing_unit(unit_id: str, when: datetime) -> Change:
    def change(enrollment: Enrollment, course_of: CourseOf) -> None:
        enrollment.complete_unit(course_of(enrollment.course_id).find_unit(unit_id), when)

    return change


def completing_module(module_id: str, when: datetime) -> Change:
    def change(enrollment: Enrollment, course_of: CourseOf) -> None:
        unit = course_of(enrollment.course_id).unit_of_module(module_id)
        enrollment.complete_module(module_id, unit, when)

    return change


def revoking_unit(unit_id: str, when: datetime) -> Change:
    def change(enrollment: Enrollment, course_of: CourseOf) -> None:
        enrollment.revoke_unit(course_of(enrollment.course_id).find_unit(unit_id), when)

    return change


def revoking_module(module_id: str, when: datetime) -> Change:
    def change(enrollment: Enrollment, course_of: CourseOf) -> None:
        unit = course_of(enrollment.course_id).unit_of_module(module_id)
        enrollment.revoke_module(module_id, unit, when)

    return change


def resetting(when: datetime) -> Change:
    def change(enrollment: Enrollment, _: CourseOf) -> None:
        enrollment.reset(when)

    return change


def withdrawing(when: datetime) -> Change:
    def change(enrollment: Enrollment, _: CourseOf) -> None:
        enrollment.withdraw(when)

    return change


def erasing(when: datetime) -> Change:
    def change(enrollment: Enrollment, _: CourseOf) -> None:
        enrollment.erase(when)

    return change


@dataclass(frozen=True)
class ChangeEnrollment:
    """A change to an enrollment named by its id: a completion, a revocation, a reset, a
    withdrawal."""

    enrollment_id: UUID
    change: Change

    @property
    def aggregate_ids(self) -> tuple[UUID, ...]:
        return (self.enrollment_id,)

    def decide(self, aggregates: Aggregates) -> Aggregate:
        enrollment = aggregates.get(self.enrollment_id)
        if not isinstance(enrollment, Enrollment):
            raise NotFoundError(
                f"enrollment {self.enrollment_id} does not exist", field="enrollment_id"
            )
        self.change(enrollment, lambda course_id: existing_course(aggregates, course_id))
        return enrollment


@dataclass
class Enroll:
    """Enrolls a learner, or enrolls them again after a withdrawal; enrolling twice changes
    nothing. The enrollment's id is derived from the pair under the learner's key (by the
    caller: eventstore/learner_keys.py), so no race can make two."""

    learner_id: str
    course_id: str
    at: datetime
    enrollment_id: UUID
    # The enrollment as this command left it (a copy, for the caller).
    enrollment: Enrollment | None = field(default=None, compare=False)

    @cached_property
    def aggregate_ids(self) -> tuple[UUID, ...]:
        return (self.enrollment_id, course_aggregate_id(self.course_id))

    def decide(self, aggregates: Aggregates) -> Aggregate:
        existing_course(aggregates, self.course_id)
        enrollment = aggregates.get(self.enrollment_id)
        if isinstance(enrollment, Enrollment):
            enrollment.reenroll(self.at)
        else:
            enrollment = Enrollment(
                id=self.enrollment_id, learner_id=self.learner_id, course_id=self.course_id
            )
        self.enrollment = deepcopy(enrollment)
        return enrollment


# Not frozen (a batch makes ten thousand, and a frozen dataclass costs five times as much
# to build); treated as a value all the same.
@dataclass(slots=True)
class RecordCompletion:
    """A completion named by learner and course (a batch item, an import line). With
    `enroll`, a learner who is not enrolled, or withdrew, is enrolled first (`at`)."""

    learner_id: str
    course_id: str
    unit_id: str | None
    module_id: str | None
    occurred_at: datetime
    enroll: bool
    at: datetime
    # The learner's enrollment id in the course, derived under their key by the caller
    # (eventstore/learner_keys.py); any id that names no enrollment when they have none.
    enrollment_id: UUID

    @property
    def aggregate_ids(self) -> tuple[UUID, ...]:
        return (self.enrollment_id, course_aggregate_id(self.course_id))

    def decide(self, aggregates: Aggregates) -> Aggregate:
        unit = self._unit(existing_course(aggregates, self.course_id))
        enrollment = aggregates.get(self.enrollment_id)
        if not isinstance(enrollment, Enrollment):
            if not self.enroll:
                raise NotFoundError(
                    f"learner {self.learner_id!r} is not enrolled in course {self.course_id!r}",
                    field="learner_id",
                    enrolling="to enroll as needed",
                )
            enrollment = Enrollment(
                id=self.enrollment_id, learner_id=self.learner_id, course_id=self.course_id
            )
        elif self.enroll:
            enrollment.reenroll(self.at)
        try:
            if self.module_id is not None:
                enrollment.complete_module(self.module_id, unit, self.occurred_at)
            else:
                enrollment.complete_unit(unit, self.occurred_at)
        except EnrollmentWithdrawnError:
            raise EnrollmentWithdrawnError(
                f"enrollment {enrollment.id} was withdrawn",
                field="learner_id",
                enrolling="to enroll again",
            ) from None
        return enrollment

    def _unit(self, course: Course) -> Unit:
        if self.module_id is not None:
            return course.unit_of_module(self.module_id)
        assert self.unit_id is not None
        return course.find_unit(self.unit_id)


# Courses -----------------------------------------------------------------------


@dataclass(frozen=True)
class CreateCourse:
    course_id: str
    title: str
    units: Sequence[Unit]
    completion_threshold: float = DEFAULT_THRESHOLD

    @property
    def aggregate_ids(self) -> tuple[UUID, ...]:
        return (course_aggregate_id(self.course_id),)

    def decide(self, aggregates: Aggregates) -> Aggregate:
        course = Course.create(
            self.course_id, self.title, list(self.units), self.completion_threshold
        )
        if course.id in aggregates:
            raise AlreadyExistsError(f"course {self.course_id!r} already exists", field="course_id")
        return course


CourseChange = Callable[[Course], None]


def adding_unit(unit: Unit, index: int | None) -> CourseChange:
    return lambda course: course.add_unit(unit, index)


def removing_unit(unit_id: str) -> CourseChange:
    return lambda course: course.remove_unit(unit_id)


def adding_module(unit_id: str, module: Module, index: int | None) -> CourseChange:
    return lambda course: course.add_module(unit_id, module, index)


def removing_module(unit_id: str, module_id: str) -> CourseChange:
    return lambda course: course.remove_module(unit_id, module_id)


def changing_unit(
    unit_id: str, title: str | None, required: bool | None, weight: float | None
) -> CourseChange:
    return lambda course: course.change_unit(unit_id, title=title, required=required, weight=weight)


def changing_threshold(completion_threshold: float) -> CourseChange:
    return lambda course: course.change_threshold(completion_threshold)


@dataclass(frozen=True)
class ChangeCourse:
    """A change to an existing course: its structure (a unit or a module added, removed or
    changed) or its completion threshold."""

    course_id: str
    change: CourseChange

    @property
    def aggregate_ids(self) -> tuple[UUID, ...]:
        return (course_aggregate_id(self.course_id),)

    def decide(self, aggregates: Aggregates) -> Aggregate:
        course = existing_course(aggregates, self.course_id)
        self.change(course)
        return course
