"""Applies a batch of completions: each item is judged alone, the good ones are saved together.

The whole batch is one insert (`ledger.bulk_recording`): one fsync however many items.
Items that fail a check change nothing and report why; if another writer changed one of
the enrollments meanwhile, the save fails as a whole and the batch is worked out again
from the new state, so no item is ever half applied.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from domain.course import Course, Unit
from domain.enrollment import Enrollment
from domain.errors import ConcurrencyError, EnrollmentWithdrawnError, LedgerError, NotFoundError
from domain.identifiers import enrollment_aggregate_id
from eventstore.database import Database
from eventstore.streams import load_aggregates
from ledger.application import ProgressLedger, now
from ledger.bulk_recording import record

Status = Literal["appended", "already_complete", "error"]


class CompletionItem(Protocol):
    """One completion of a batch, as the entry points parsed it (api/batch_items.py)."""

    learner_id: str
    course_id: str
    unit_id: str | None
    module_id: str | None
    occurred_at: datetime | None


@dataclass(frozen=True)
class ItemError:
    """Why an item was refused, and the field at fault."""

    detail: str
    field: str | None


Pair = tuple[str, str]  # (course_id, learner_id)


@dataclass(frozen=True)
class ItemResult:
    index: int
    status: Status
    appended: list[str] = field(default_factory=list)
    error: ItemError | None = None


@dataclass(frozen=True)
class BatchResult:
    results: list[ItemResult]
    position: int

    def count(self, status: Status) -> int:
        return sum(1 for result in self.results if result.status == status)

    @property
    def events(self) -> int:
        return sum(len(result.appended) for result in self.results)


class CompletionImporter:
    max_attempts = 8

    def __init__(self, ledger: ProgressLedger, db: Database) -> None:
        self.ledger = ledger
        self.db = db

    def run(self, items: Sequence[CompletionItem | ItemError], *, enroll: bool) -> BatchResult:
        for _ in range(self.max_attempts):
            try:
                return self._attempt(items, enroll)
            except IntegrityError:
                continue
        raise ConcurrencyError(
            f"gave up after {self.max_attempts} attempts: other writers kept changing "
            "these enrollments",
            field="body",
        )

    def _attempt(self, items: Sequence[CompletionItem | ItemError], enroll: bool) -> BatchResult:
        # Enrollments are found by (course, learner): uuid5 costs a few µs, hashing a UUID
        # one more, and a batch names each enrollment several times.
        ids: dict[Pair, UUID] = {}
        for item in items:
            if not isinstance(item, ItemError):
                pair = (item.course_id, item.learner_id)
                if pair not in ids:
                    ids[pair] = enrollment_id(item)
        courses = self._courses({course_id for course_id, _ in ids})
        loaded: dict[UUID, Enrollment] = load_aggregates(
            self.db,
            self.ledger.recorder.events_table_name,  # type: ignore[attr-defined]
            self.ledger.mapper,
            ids.values(),
        )
        enrollments = {pair: loaded[key] for pair, key in ids.items() if key in loaded}
        touched: dict[Pair, Enrollment] = {}
        results: list[ItemResult] = []
        for index, item in enumerate(items):
            if isinstance(item, ItemError):
                results.append(ItemResult(index, "error", error=item))
                continue
            pair = (item.course_id, item.learner_id)
            try:
                enrollment, appended = self._apply(item, ids[pair], courses, enrollments, enroll)
            except LedgerError as error:
                results.append(
                    ItemResult(index, "error", error=ItemError(error.message, error.field))
                )
                continue
            touched[pair] = enrollment
            results.append(
                ItemResult(index, "appended" if appended else "already_complete", appended)
            )
        return BatchResult(results, record(self.ledger, touched.values()))

    def _courses(self, course_ids: set[str]) -> dict[str, Course | NotFoundError]:
        courses: dict[str, Course | NotFoundError] = {}
        for course_id in course_ids:
            try:
                courses[course_id] = self.ledger.get_course(course_id)
            except NotFoundError as error:
                courses[course_id] = error
        return courses

    def _apply(
        self,
        item: CompletionItem,
        key: UUID,
        courses: dict[str, Course | NotFoundError],
        enrollments: dict[Pair, Enrollment],
        enroll: bool,
    ) -> tuple[Enrollment, list[str]]:
        """Checks everything before changing anything, so a refused item leaves no trace."""
        course = courses[item.course_id]
        if isinstance(course, NotFoundError):
            raise course
        unit = course_unit(course, item)
        pair = (item.course_id, item.learner_id)
        enrollment = enrollments.get(pair)
        if enrollment is not None and enrollment.withdrawn and not enroll:
            raise EnrollmentWithdrawnError(
                f"enrollment {key} was withdrawn; send ?enroll=true to enroll again",
                field="learner_id",
            )
        if enrollment is None and not enroll:
            raise NotFoundError(
                f"learner {item.learner_id!r} is not enrolled in course {item.course_id!r}; "
                "send ?enroll=true to enroll as needed",
                field="learner_id",
            )
        before = 0 if enrollment is None else len(enrollment.pending_events)
        if enrollment is None:
            enrollment = Enrollment(learner_id=item.learner_id, course_id=item.course_id)
            enrollments[pair] = enrollment
        elif enrollment.withdrawn:
            enrollment.reenroll(now())
        when: datetime = item.occurred_at or now()
        if item.module_id is not None:
            enrollment.complete_module(item.module_id, unit, when)
        else:
            enrollment.complete_unit(unit, when)
        return enrollment, [type(e).__name__ for e in enrollment.pending_events[before:]]


def enrollment_id(item: CompletionItem) -> UUID:
    return enrollment_aggregate_id(item.course_id, item.learner_id)


def course_unit(course: Course, item: CompletionItem) -> Unit:
    if item.module_id is not None:
        return course.unit_of_module(item.module_id)
    assert item.unit_id is not None
    return course.find_unit(item.unit_id)
