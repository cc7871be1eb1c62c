"""ProgressLedger: the only way in. It checks commands against the course and saves the facts."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application, ProcessingEvent
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError, Recording

from domain.commands import Change, completing_module, completing_unit, withdrawing
from domain.commands import Recorded as Recorded
from domain.course import Course, Module, Unit
from domain.enrollment import Enrollment
from domain.errors import AlreadyExistsError, ConcurrencyError, NotFoundError
from domain.identifiers import course_aggregate_id, enrollment_aggregate_id

A = TypeVar("A", bound=Aggregate)


@dataclass(frozen=True)
class Enrolled:
    enrollment: Enrollment
    created: bool
    recorded: Recorded


def now() -> datetime:
    return datetime.now(UTC)


class ProgressLedger(Application[UUID]):
    name = "ProgressLedger"
    # Two commands on one enrollment at once conflict on its version; the loser reloads
    # and re-applies. Bounded so a pathological hot spot fails loudly instead of spinning.
    max_attempts = 32

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        super().__init__(env)
        # Called with the new head position after every save that appended events.
        self.on_recorded: list[Callable[[int], None]] = []
        # Commands on one aggregate take turns inside this process, so a crowd of them
        # does not burn its attempts on conflicts; other processes still meet the retry.
        self._turns = [threading.Lock() for _ in range(64)]

    def _turn(self, aggregate_id: object) -> threading.Lock:
        return self._turns[hash(aggregate_id) % len(self._turns)]

    def write_now(self, processing_event: ProcessingEvent[UUID]) -> list[Recording[UUID]]:
        """One insert, made at once: for a caller that batched the commands itself."""
        return Application._record(self, processing_event)

    def announce(self, position: int) -> None:
        """Tells the listeners that the log grew up to `position`."""
        for listener in self.on_recorded:
            listener(position)

    def _notify(self, recordings: list[Recording[UUID]]) -> None:
        if recordings:
            self.announce(max(r.notification.id for r in recordings))

    # Courses -----------------------------------------------------------------

    def create_course(self, course_id: str, title: str, units: Sequence[Unit]) -> Recorded:
        course = Course.create(course_id=course_id, title=title, units=list(units))
        try:
            return self._recorded(self.save(course), course)
        except IntegrityError:
            raise AlreadyExistsError(
                f"course {course_id!r} already exists", field="course_id"
            ) from None

    def get_course(self, course_id: str) -> Course:
        return self._get(
            course_aggregate_id(course_id), Course, f"course {course_id!r}", "course_id"
        )

    def _course_to_read(self, course_id: str) -> Course:
        """The course for a check that never changes it: the cached copy itself, not a deep
        copy of it (a copy of a course of many units costs more than the rest of a command).
        """
        return self._get(
            course_aggregate_id(course_id), Course, f"course {course_id!r}", "course_id", copy=False
        )

    def add_unit(self, course_id: str, unit: Unit, index: int | None = None) -> Recorded:
        return self._change_course(course_id, lambda course: course.add_unit(unit, index))

    def remove_unit(self, course_id: str, unit_id: str) -> Recorded:
        return self._change_course(course_id, lambda course: course.remove_unit(unit_id))

    def add_module(
        self, course_id: str, unit_id: str, module: Module, index: int | None = None
    ) -> Recorded:
        return self._change_course(
            course_id, lambda course: course.add_module(unit_id, module, index)
        )

    def remove_module(self, course_id: str, unit_id: str, module_id: str) -> Recorded:
        return self._change_course(
            course_id, lambda course: course.remove_module(unit_id, module_id)
        )

    # Enrollments -------------------------------------------------------------

    def enroll(self, learner_id: str, course_id: str) -> Enrolled:
        """Enrolling twice returns the same enrollment; its id is derived, so races cannot
        make two."""
        self._course_to_read(course_id)
        enrollment_id = enrollment_aggregate_id(course_id, learner_id)
        with self._turn(enrollment_id):
            return self._enroll(learner_id, course_id, enrollment_id)

    def _enroll(self, learner_id: str, course_id: str, enrollment_id: UUID) -> Enrolled:
        for _ in range(self.max_attempts):
            try:
                enrollment = self.get_enrollment(enrollment_id)
            except NotFoundError:
                enrollment = Enrollment(learner_id=learner_id, course_id=course_id)
                created = True
            else:
                enrollment.reenroll(now())
                created = False
            try:
                recorded = self._recorded(self.save(enrollment), enrollment)
            except IntegrityError:
                continue
            return Enrolled(enrollment=enrollment, created=created, recorded=recorded)
        raise self._gave_up("enrollment_id")

    def get_enrollment(self, enrollment_id: UUID) -> Enrollment:
        return self._get(enrollment_id, Enrollment, f"enrollment {enrollment_id}", "enrollment_id")

    def complete_module(
        self, enrollment_id: UUID, module_id: str, occurred_at: datetime | None = None
    ) -> Recorded:
        return self.change_enrollment(
            enrollment_id, completing_module(module_id, occurred_at or now())
        )

    def complete_unit(
        self, enrollment_id: UUID, unit_id: str, occurred_at: datetime | None = None
    ) -> Recorded:
        return self.change_enrollment(enrollment_id, completing_unit(unit_id, occurred_at or now()))

    def withdraw(self, enrollment_id: UUID, occurred_at: datetime | None = None) -> Recorded:
        return self.change_enrollment(enrollment_id, withdrawing(occurred_at or now()))

    def change_enrollment(self, enrollment_id: UUID, change: Change) -> Recorded:
        return self._change_enrollment(
            enrollment_id, lambda enrollment: change(enrollment, self._course_to_read)
        )

    # The log -----------------------------------------------------------------

    def head_position(self) -> int:
        return self.recorder.max_notification_id() or 0

    # Mechanics ---------------------------------------------------------------

    def _get(
        self, aggregate_id: UUID, kind: type[A], label: str, field: str, *, copy: bool = True
    ) -> A:
        try:
            aggregate: object = self.repository.get(aggregate_id, deepcopy_from_cache=copy)
        except AggregateNotFoundError:
            raise NotFoundError(f"{label} does not exist", field=field) from None
        if not isinstance(aggregate, kind):
            raise NotFoundError(f"{label} does not exist", field=field)
        return aggregate

    def _change_course(self, course_id: str, change: Callable[[Course], None]) -> Recorded:
        with self._turn(course_id):
            return self._retry(lambda: self.get_course(course_id), change, "course_id")

    def _change_enrollment(
        self, enrollment_id: UUID, change: Callable[[Enrollment], None]
    ) -> Recorded:
        with self._turn(enrollment_id):
            return self._retry(lambda: self.get_enrollment(enrollment_id), change, "enrollment_id")

    def _retry(self, load: Callable[[], A], change: Callable[[A], None], field: str) -> Recorded:
        for _ in range(self.max_attempts):
            aggregate: A = load()
            change(aggregate)
            try:
                return self._recorded(self.save(aggregate), aggregate)
            except IntegrityError:
                continue
        raise self._gave_up(field)

    def _recorded(self, recordings: list[Recording[Any]], aggregate: Aggregate) -> Recorded:
        if not recordings:
            return Recorded(appended=[], position=self.head_position(), version=aggregate.version)
        return Recorded(
            appended=[type(r.domain_event).__name__ for r in recordings],
            position=max(r.notification.id for r in recordings),
            version=aggregate.version,
        )

    def _gave_up(self, field: str) -> ConcurrencyError:
        return ConcurrencyError(
            f"gave up after {self.max_attempts} attempts: the aggregate kept changing",
            field=field,
        )
