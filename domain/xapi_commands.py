"""The commands an xAPI statement becomes, decided by the one committer like every other.

A batch of statements is one submission that is written whole or not at all
(`Submission.whole`): `ReceiveStatement` refuses only a statement id already stored with
other content. What a statement does to progress (`CountStatement`) never refuses: a
learner who is not enrolled, a withdrawn enrollment or a unit removed since the link make
it change nothing, and the statement is kept all the same.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain.acting import Acting
from domain.commands import Aggregates, existing_course
from domain.course import Course
from domain.enrollment import Enrollment
from domain.errors import AlreadyExistsError, LedgerError, NotFoundError
from domain.identifiers import activity_aggregate_id, course_aggregate_id, statement_aggregate_id
from domain.xapi import Activity, Statement
from domain.xapi_statements import comparable_form


class StatementConflict(AlreadyExistsError):
    """A statement id already stored with other content (HTTP 409)."""


@dataclass
class ReceiveStatement:
    """Keeps a statement; one already kept with the same content is no new effect."""

    statement_id: str
    statement: str
    # The statement as sent, without what the LRS sets: what "the same content" compares.
    comparable: dict[str, Any]
    activity_id: str | None
    matched: bool
    # Set once decided: whether this command kept it now (its effects follow only then).
    new: bool = field(default=False, compare=False)
    # Asked several times a batch; a uuid5 costs more than deciding.
    aggregate_ids: tuple[UUID, ...] = field(init=False, compare=False)

    def __post_init__(self) -> None:
        self.aggregate_ids = (statement_aggregate_id(self.statement_id),)

    def decide(self, aggregates: Aggregates) -> Aggregate:
        kept = aggregates.get(self.aggregate_ids[0])
        if isinstance(kept, Statement):
            if (
                comparable_form(kept.statement, timestamp_given="timestamp" in self.comparable)
                != self.comparable
            ):
                raise StatementConflict(
                    f"statement {self.statement_id} was stored before with other content",
                    field="id",
                )
            self.new = False
            return kept
        self.new = True
        return Statement.receive(
            self.statement_id, self.statement, self.activity_id, self.matched, self.aggregate_ids[0]
        )


@dataclass
class VoidStatement:
    """Marks a stored statement voided by a voiding statement received in this batch."""

    target_id: str
    voided_by: ReceiveStatement
    aggregate_ids: tuple[UUID, ...] = field(init=False, compare=False)

    def __post_init__(self) -> None:
        self.aggregate_ids = (statement_aggregate_id(self.target_id),)

    def decide(self, aggregates: Aggregates) -> Aggregate:
        target = aggregates.get(self.aggregate_ids[0])
        if not isinstance(target, Statement):
            raise LedgerError(f"statement {self.target_id} is not stored", field="object.id")
        if self.voided_by.new:
            target.void(self.voided_by.statement_id)
        return target


@dataclass
class CountStatement:
    """Completes (or, for a voiding, revokes) a linked course, unit or module for the
    learner the statement names, once its statement was kept now. Its events record the
    statement in `acting` (history shows which statement did it)."""

    because: ReceiveStatement
    learner_id: str
    course_id: str
    unit_id: str | None
    module_id: str | None
    enrollment_id: UUID
    revoke: bool
    enroll: bool
    occurred_at: datetime
    at: datetime
    acting: Acting
    aggregate_ids: tuple[UUID, ...] = field(init=False, compare=False)

    def __post_init__(self) -> None:
        self.aggregate_ids = (self.enrollment_id, course_aggregate_id(self.course_id))

    def decide(self, aggregates: Aggregates) -> Aggregate:
        course = existing_course(aggregates, self.course_id)
        if not self.because.new:
            return course
        enrollment = aggregates.get(self.enrollment_id)
        if not isinstance(enrollment, Enrollment):
            if not self.enroll or self.revoke:
                return course
            enrollment = Enrollment(
                id=self.enrollment_id, learner_id=self.learner_id, course_id=self.course_id
            )
        elif self.enroll and not self.revoke:
            enrollment.reenroll(self.at)
        try:
            self._change(enrollment, course)
        except LedgerError:  # withdrawn, or the unit is gone: nothing to count
            return course
        return enrollment

    def _change(self, enrollment: Enrollment, course: Course) -> None:
        when = self.occurred_at
        if self.module_id is not None:
            unit = course.unit_of_module(self.module_id)
            if self.revoke:
                enrollment.revoke_module(self.module_id, unit, when)
            else:
                enrollment.complete_module(self.module_id, unit, when)
            return
        units = [course.find_unit(self.unit_id)] if self.unit_id is not None else course.units
        for unit in units:
            if self.revoke:
                enrollment.revoke_unit(unit, when)
            else:
                enrollment.complete_unit(unit, when)


@dataclass(frozen=True)
class LinkActivity:
    """Links an activity IRI to a course, a unit or a module of it (which must exist)."""

    activity_id: str
    course_id: str
    unit_id: str | None = None
    module_id: str | None = None

    @property
    def aggregate_ids(self) -> tuple[UUID, ...]:
        return (activity_aggregate_id(self.activity_id), course_aggregate_id(self.course_id))

    def decide(self, aggregates: Aggregates) -> Aggregate:
        course = existing_course(aggregates, self.course_id)
        if self.unit_id is not None:
            unit = course.find_unit(self.unit_id)
            if self.module_id is not None and self.module_id not in unit.module_ids:
                raise NotFoundError(
                    f"unit {self.unit_id!r} has no module {self.module_id!r}", field="module_id"
                )
        activity = aggregates.get(activity_aggregate_id(self.activity_id))
        if isinstance(activity, Activity):
            activity.move(self.course_id, self.unit_id, self.module_id)
            return activity
        return Activity(
            activity_id=self.activity_id,
            course_id=self.course_id,
            unit_id=self.unit_id,
            module_id=self.module_id,
        )
