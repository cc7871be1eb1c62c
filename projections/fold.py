"""The fold: applies events, in log order, to the progress state of courses and enrollments.

Pure: no SQL here. The engine loads the states a batch touches, folds the batch in memory,
and writes back only what the fold marked as changed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from domain.course import DEFAULT_THRESHOLD, Course, Module, Unit
from domain.enrollment import Enrollment
from domain.erasure import is_erased
from domain.identifiers import course_aggregate_id

if TYPE_CHECKING:
    from eventstore.log_reader import Record

from projections.outbox import (
    COURSE_COMPLETED,
    COURSE_PROGRESSED,
    ENROLLMENT_WITHDRAWN,
    LEARNER_ERASED,
    UNIT_COMPLETED,
    UNIT_REVOKED,
    Signal,
)
from projections.rules import Progress, Rule, count_percentage


def course_key(course_id: str) -> str:
    """The course aggregate's id as text, as the log reader gives originator ids."""
    return str(course_aggregate_id(course_id))


# The fold's state, changed in place event by event and written back as rows; not a read
# shape (those are in progress_documents.py).


@dataclass
class CourseState:
    course_id: str
    units: list[Unit]
    updated_at: datetime
    position: int
    completion_threshold: float = DEFAULT_THRESHOLD


@dataclass
class EnrollmentState:
    enrollment_id: str
    learner_id: str
    course_id: str
    enrolled_at: datetime
    updated_at: datetime
    position: int
    completed_units: dict[str, datetime] = field(default_factory=dict)
    completed_modules: set[str] = field(default_factory=set)
    withdrawn: bool = False
    completed_at: datetime | None = None
    attempt: int = 1
    # The course percentage as last written (None: not known), so the live projection can
    # tell a change (course.progressed).
    percentage: float | None = None


def unit_numbers(
    unit: Unit, enrollment: EnrollmentState
) -> tuple[bool, int, int, float, datetime | None]:
    """completed, completed_modules, total_modules, percentage, completed_at: a unit's
    numbers as its unit_progress row holds them (the read document's shape is
    progress_documents.UnitProgress)."""
    module_ids = unit.module_ids
    completed_modules = enrollment.completed_modules
    done_modules = sum([m in completed_modules for m in module_ids])
    completed_at = enrollment.completed_units.get(unit.unit_id)
    if completed_at is not None:
        return True, done_modules, len(module_ids), 100.0, completed_at
    return (
        False,
        done_modules,
        len(module_ids),
        count_percentage(done_modules, len(module_ids)),
        None,
    )


@dataclass
class Changes:
    """What a batch changed, so the store writes those rows and no others."""

    courses: set[str] = field(default_factory=set)
    enrollments: set[str] = field(default_factory=set)
    # enrollment → unit → recorded time of the last event that changed that unit's row
    units: dict[str, dict[str, datetime]] = field(default_factory=dict)
    removed_units: list[tuple[str, str]] = field(default_factory=list)
    # enrollments created in this batch: none of their rows can exist yet
    enrolled: set[str] = field(default_factory=set)
    # enrollments of erased learners: their rows go, and nothing of them is written
    erased: set[str] = field(default_factory=set)

    def touch_unit(self, enrollment_id: str, unit_id: str, at: datetime) -> None:
        self.enrollments.add(enrollment_id)
        self.units.setdefault(enrollment_id, {})[unit_id] = at


# Course events after its creation: each may change every enrolled learner's numbers.
COURSE_STRUCTURE_EVENTS = (
    Course.UnitAdded,
    Course.UnitRemoved,
    Course.UnitChanged,
    Course.ModuleAdded,
    Course.ModuleRemoved,
    Course.ThresholdChanged,
)
ENROLLMENT_EVENTS = frozenset(
    {
        Enrollment.Enrolled,
        Enrollment.ModuleCompleted,
        Enrollment.UnitCompleted,
        Enrollment.ModuleCompletionRevoked,
        Enrollment.UnitCompletionRevoked,
        Enrollment.Reset,
        Enrollment.Withdrawn,
        Enrollment.Reenrolled,
        Enrollment.Erased,
    }
)


# An event as the fold reads it (eventstore/log_reader.py makes them straight from the
# stored JSON; `apply_all` makes them from domain event objects).


def record(position: int, domain_event: Any) -> Record:
    return (type(domain_event), position, str(domain_event.originator_id), domain_event.__dict__)


class Fold:
    def __init__(
        self,
        rule: Rule,
        courses: dict[str, CourseState],
        enrollments: dict[str, EnrollmentState],
        erased: set[str] | None = None,
        signals: list[Signal] | None = None,
    ) -> None:
        """`erased`: enrollments known to belong to erased learners (their events are
        passed over: the learner's key is gone, so no one is there to count). `signals`:
        where to note what webhooks tell (the live projection's only; None: nothing noted)."""
        self.signals = signals
        self.rule = rule
        self.courses = courses
        self.enrollments = enrollments
        self.changes = Changes()
        self.erased = set(erased or ())
        self._course_by_aggregate = {course_key(c.course_id): c for c in courses.values()}
        self._by_course: dict[str, list[EnrollmentState]] = {}
        for enrollment in enrollments.values():
            self._by_course.setdefault(enrollment.course_id, []).append(enrollment)
        self.handlers: dict[type[Any], Callable[[str, dict[str, Any], int], None]] = {
            Course.Created: self._course_created,
            **{kind: partial(self._structure_changed, kind) for kind in COURSE_STRUCTURE_EVENTS},
            Enrollment.Enrolled: self._enrolled,
            Enrollment.ModuleCompleted: self._module_completed,
            Enrollment.UnitCompleted: self._unit_completed,
            Enrollment.ModuleCompletionRevoked: self._module_revoked,
            Enrollment.UnitCompletionRevoked: self._unit_revoked,
            Enrollment.Reset: self._reset,
            Enrollment.Withdrawn: self._withdrawn,
            Enrollment.Reenrolled: self._reenrolled,
            Enrollment.Erased: self._erased,
        }

    def apply_all(self, events: Iterable[tuple[int, Any]]) -> Changes:
        """Applies (position, domain event) pairs."""
        return self.apply_records(record(position, event) for position, event in events)

    def apply_records(self, records: Iterable[Record]) -> Changes:
        handlers, erased = self.handlers, self.erased
        for kind, position, originator_id, fields in records:
            if erased and originator_id in erased:
                continue
            handler = handlers.get(kind)
            if handler is not None:
                handler(originator_id, fields, position)
        return self.changes

    def progress(self, enrollment: EnrollmentState) -> Progress:
        return self.rule(self.courses[enrollment.course_id].units, enrollment.completed_units)

    # Course events -----------------------------------------------------------

    def _course_created(self, originator_id: str, created: dict[str, Any], position: int) -> None:
        course = CourseState(
            course_id=created["course_id"],
            units=[Unit.from_spec(spec) for spec in created["units"]],
            updated_at=created["timestamp"],
            position=position,
            completion_threshold=created["completion_threshold"],
        )
        self.courses[course.course_id] = course
        self._course_by_aggregate[originator_id] = course
        self.changes.courses.add(course.course_id)

    def _structure_changed(
        self, kind: type[Any], originator_id: str, change: dict[str, Any], position: int
    ) -> None:
        course = self._course_by_aggregate[originator_id]
        touched_unit = apply_structure_change(course, kind, change)
        timestamp = change["timestamp"]
        course.updated_at = timestamp
        course.position = position
        self.changes.courses.add(course.course_id)
        if kind is Course.UnitRemoved:
            self.changes.removed_units.append((course.course_id, change["unit_id"]))
        for enrollment in self._by_course.get(course.course_id, []):
            if touched_unit is not None:
                self.changes.touch_unit(enrollment.enrollment_id, touched_unit, timestamp)
            self.changes.enrollments.add(enrollment.enrollment_id)
            self._after_change(enrollment, timestamp, position)

    # Enrollment events -------------------------------------------------------

    def _enrolled(self, originator_id: str, enrolled: dict[str, Any], position: int) -> None:
        if is_erased(enrolled["learner_id"]):  # the learner's key is gone
            self.erased.add(originator_id)
            self.changes.erased.add(originator_id)
            return
        timestamp = enrolled["timestamp"]
        enrollment = EnrollmentState(
            enrollment_id=originator_id,
            learner_id=enrolled["learner_id"],
            course_id=enrolled["course_id"],
            enrolled_at=timestamp,
            updated_at=timestamp,
            position=position,
            percentage=0.0,
        )
        self.enrollments[originator_id] = enrollment
        self.changes.enrolled.add(originator_id)
        self._by_course.setdefault(enrollment.course_id, []).append(enrollment)
        touched = self.changes.units.setdefault(originator_id, {})
        for unit in self.courses[enrollment.course_id].units:
            touched[unit.unit_id] = timestamp
        self._after_change(enrollment, timestamp, position)

    def _module_completed(
        self, originator_id: str, completed: dict[str, Any], position: int
    ) -> None:
        enrollment = self.enrollments[originator_id]
        enrollment.completed_modules.add(completed["module_id"])
        timestamp = completed["timestamp"]
        self.changes.touch_unit(originator_id, completed["unit_id"], timestamp)
        enrollment.updated_at = timestamp
        enrollment.position = position

    def _unit_completed(self, originator_id: str, completed: dict[str, Any], position: int) -> None:
        enrollment = self.enrollments[originator_id]
        occurred_at = completed["occurred_at"]
        if occurred_at.year in (1, 9999):
            # Stored before times were checked, it may lie outside the range a timestamp
            # holds once in UTC (which the database would refuse, or fail to read back):
            # raises OverflowError, and the engine parks the event.
            occurred_at.astimezone(UTC)
        unit_id = completed["unit_id"]
        timestamp = completed["timestamp"]
        if self.signals is not None and unit_id not in enrollment.completed_units:
            data = {"unit_id": unit_id, "occurred_at": occurred_at}
            self._signal(position, UNIT_COMPLETED, enrollment, timestamp, data)
        enrollment.completed_units.setdefault(unit_id, occurred_at)
        self.changes.touch_unit(originator_id, unit_id, timestamp)
        self._after_change(enrollment, timestamp, position, occurred_at)

    def _module_revoked(self, originator_id: str, revoked: dict[str, Any], position: int) -> None:
        enrollment = self.enrollments[originator_id]
        enrollment.completed_modules.discard(revoked["module_id"])
        timestamp = revoked["timestamp"]
        self.changes.touch_unit(originator_id, revoked["unit_id"], timestamp)
        enrollment.updated_at = timestamp
        enrollment.position = position

    def _unit_revoked(self, originator_id: str, revoked: dict[str, Any], position: int) -> None:
        enrollment = self.enrollments[originator_id]
        timestamp = revoked["timestamp"]
        was_completed = enrollment.completed_units.pop(revoked["unit_id"], None)
        if self.signals is not None and was_completed is not None:
            data = {"unit_id": revoked["unit_id"]}
            self._signal(position, UNIT_REVOKED, enrollment, timestamp, data)
        self.changes.touch_unit(originator_id, revoked["unit_id"], timestamp)
        self._after_change(enrollment, timestamp, position)

    def _reset(self, originator_id: str, reset: dict[str, Any], position: int) -> None:
        enrollment = self.enrollments[originator_id]
        enrollment.attempt = reset["attempt"]
        enrollment.completed_units = {}
        enrollment.completed_modules = set()
        timestamp = reset["timestamp"]
        touched = self.changes.units.setdefault(originator_id, {})
        for unit in self.courses[enrollment.course_id].units:
            touched[unit.unit_id] = timestamp
        self._after_change(enrollment, timestamp, position)

    def _withdrawn(self, originator_id: str, withdrawn: dict[str, Any], position: int) -> None:
        enrollment = self.enrollments[originator_id]
        enrollment.withdrawn = True
        if self.signals is not None:
            self._signal(position, ENROLLMENT_WITHDRAWN, enrollment, withdrawn["timestamp"], {})
        self._after_change(enrollment, withdrawn["timestamp"], position, rule_inputs_changed=False)

    def _reenrolled(self, originator_id: str, reenrolled: dict[str, Any], position: int) -> None:
        enrollment = self.enrollments[originator_id]
        enrollment.withdrawn = False
        self._after_change(enrollment, reenrolled["timestamp"], position, rule_inputs_changed=False)

    def _erased(self, originator_id: str, erased: dict[str, Any], position: int) -> None:
        """The learner was erased: their rows go (the erasure deleted them already, unless
        this projection had not reached the stream yet)."""
        self.erased.add(originator_id)
        changes = self.changes
        changes.erased.add(originator_id)
        changes.enrollments.discard(originator_id)
        changes.enrolled.discard(originator_id)
        changes.units.pop(originator_id, None)
        enrollment = self.enrollments.pop(originator_id, None)
        if enrollment is not None:
            if self.signals is not None:
                # Names only the enrollment and the course: the learner's id is theirs.
                self.signals.append(
                    (
                        position,
                        LEARNER_ERASED,
                        originator_id,
                        erased["timestamp"],
                        {"enrollment_id": originator_id, "course_id": enrollment.course_id},
                    )
                )
            in_course = self._by_course.get(enrollment.course_id, [])
            self._by_course[enrollment.course_id] = [e for e in in_course if e is not enrollment]

    def _after_change(
        self,
        enrollment: EnrollmentState,
        recorded_at: datetime,
        position: int,
        occurred_at: datetime | None = None,
        *,
        rule_inputs_changed: bool = True,
    ) -> None:
        """completed_at is when the learner reached the course's completion threshold: the
        completion's own time, kept through rebuilds; a course change (its structure, its
        threshold) or a revocation that completes or reopens a course uses its recorded
        time. Rules read only the structure and the completed units, so events that change
        neither skip the rule (most events in a rebuild)."""
        self.changes.enrollments.add(enrollment.enrollment_id)
        enrollment.updated_at = recorded_at
        enrollment.position = position
        if not rule_inputs_changed:
            return
        progress = self.progress(enrollment)
        threshold = self.courses[enrollment.course_id].completion_threshold
        was_completed = enrollment.completed_at is not None
        if progress.total_units > 0 and progress.percentage >= threshold:
            if enrollment.completed_at is None:
                enrollment.completed_at = occurred_at or recorded_at
        else:
            enrollment.completed_at = None
        if self.signals is not None:
            self._signal_progress(enrollment, progress, was_completed, recorded_at, position)
        enrollment.percentage = progress.percentage

    def _signal_progress(
        self,
        enrollment: EnrollmentState,
        progress: Progress,
        was_completed: bool,
        recorded_at: datetime,
        position: int,
    ) -> None:
        if enrollment.percentage is not None and progress.percentage != enrollment.percentage:
            progressed: dict[str, Any] = {
                "percentage": progress.percentage,
                "previous_percentage": enrollment.percentage,
                "completed_units": progress.completed_units,
                "total_units": progress.total_units,
            }
            self._signal(position, COURSE_PROGRESSED, enrollment, recorded_at, progressed)
        if not was_completed and enrollment.completed_at is not None:
            completed: dict[str, Any] = {
                "completed_at": enrollment.completed_at,
                "percentage": progress.percentage,
            }
            self._signal(position, COURSE_COMPLETED, enrollment, recorded_at, completed)

    def _signal(
        self,
        position: int,
        event_type: str,
        enrollment: EnrollmentState,
        recorded_at: datetime,
        data: dict[str, Any],
    ) -> None:
        """Notes what a webhook tells, with who and which course (the outbox's data)."""
        assert self.signals is not None
        data = {
            "enrollment_id": enrollment.enrollment_id,
            "learner_id": enrollment.learner_id,
            "course_id": enrollment.course_id,
            **data,
        }
        self.signals.append((position, event_type, enrollment.enrollment_id, recorded_at, data))


def apply_structure_change(
    course: CourseState, kind: type[Any], change: dict[str, Any]
) -> str | None:
    """Applies a structure event's fields to the course; returns the unit whose rows it changes."""
    if kind is Course.UnitAdded:
        course.units.insert(change["index"], Unit.from_spec(change["unit"]))
        return str(change["unit"]["unit_id"])
    if kind is Course.UnitRemoved:
        course.units = [u for u in course.units if u.unit_id != change["unit_id"]]
        return None
    if kind is Course.ThresholdChanged:
        course.completion_threshold = change["completion_threshold"]
        return None
    if kind is Course.UnitChanged:
        changed = Unit.from_spec(change["unit"])
        course.units = [changed if u.unit_id == changed.unit_id else u for u in course.units]
        return changed.unit_id
    unit_id = change["unit_id"]
    if kind is Course.ModuleAdded:
        module, index = Module(**change["module"]), change["index"]
        course.units = [
            _with_modules(u, [*u.modules[:index], module, *u.modules[index:]])
            if u.unit_id == unit_id
            else u
            for u in course.units
        ]
        return str(unit_id)
    if kind is Course.ModuleRemoved:
        module_id = change["module_id"]
        course.units = [
            _with_modules(u, [m for m in u.modules if m.module_id != module_id])
            if u.unit_id == unit_id
            else u
            for u in course.units
        ]
        return str(unit_id)
    raise TypeError(f"not a course structure event: {kind.__name__}")


def _with_modules(unit: Unit, modules: list[Module]) -> Unit:
    return Unit(unit.unit_id, unit.title, unit.required, unit.weight, tuple(modules))
