"""Commands on one enrollment, as values: what to change, checked against its course.

A command is decided by whoever holds the enrollment (the ledger, or the batching
committer in ledger/committer.py); it refuses by raising a LedgerError before it
changes anything, so a refused command leaves the enrollment as it was.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from domain.course import Course
from domain.enrollment import Enrollment

# The course of an enrollment, by its course_id (raises NotFoundError when it is gone).
CourseOf = Callable[[str], Course]
Change = Callable[[Enrollment, CourseOf], None]


def completing_unit(unit_id: str, when: datetime) -> Change:
    def change(enrollment: Enrollment, course_of: CourseOf) -> None:
        enrollment.complete_unit(course_of(enrollment.course_id).find_unit(unit_id), when)

    return change


def completing_module(module_id: str, when: datetime) -> Change:
    def change(enrollment: Enrollment, course_of: CourseOf) -> None:
        unit = course_of(enrollment.course_id).unit_of_module(module_id)
        enrollment.complete_module(module_id, unit, when)

    return change


def withdrawing(when: datetime) -> Change:
    def change(enrollment: Enrollment, _: CourseOf) -> None:
        enrollment.withdraw(when)

    return change


@dataclass(frozen=True)
class Recorded:
    """What a command appended (event names, in order) and the log position that covers it."""

    appended: list[str]
    position: int
    version: int


@dataclass(eq=False)
class EnrollmentCommand:
    """A command waiting for the committer, and, once settled, its outcome.

    `settle` is called from the committer's thread with every settled command that shares
    it, once per batch (so an event loop is woken once, not once per request); `waiter` is
    whatever the caller needs to find its own answer again.
    """

    enrollment_id: UUID
    change: Change
    settle: Callable[[list[EnrollmentCommand]], None]
    save_kwargs: dict[str, list[Any]] = field(default_factory=dict)
    waiter: Any = None
    recorded: Recorded | None = None
    error: BaseException | None = None
    # Set while the committer decides it: the events it appended, and the version after.
    events: list[Any] = field(default_factory=list)
    version: int = 0

    def outcome(self) -> Recorded:
        if self.error is not None:
            raise self.error
        assert self.recorded is not None, "a command is settled with a result or an error"
        return self.recorded
