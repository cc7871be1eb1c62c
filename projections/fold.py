"""The fold: applies events, in log order, to the progress state of courses and enrollments.

Pure: no SQL here. The engine loads the states a batch touches, folds the batch in memory,
and writes back only what the fold marked as changed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from domain.course import Course, Module, Unit
from domain.enrollment import Enrollment
from domain.identifiers import course_aggregate_id
from projections.rules import Progress, Rule, percentage


@dataclass
class CourseState:
    course_id: str
    units: list[Unit]
    updated_at: datetime
    position: int


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


@dataclass(frozen=True)
class UnitProgress:
    unit_id: str
    required: bool
    completed: bool
    completed_modules: int
    total_modules: int
    percentage: float
    completed_at: datetime | None


def unit_progress(unit: Unit, enrollment: EnrollmentState) -> UnitProgress:
    done_modules = sum(1 for m in unit.module_ids if m in enrollment.completed_modules)
    completed_at = enrollment.completed_units.get(unit.unit_id)
    completed = completed_at is not None
    return UnitProgress(
        unit_id=unit.unit_id,
        required=unit.required,
        completed=completed,
        completed_modules=done_modules,
        total_modules=len(unit.module_ids),
        percentage=100.0
        if completed
        else percentage(Decimal(done_modules), Decimal(len(unit.module_ids))),
        completed_at=completed_at,
    )


@dataclass
class Changes:
    """What a batch changed, so the store writes those rows and no others."""

    courses: set[str] = field(default_factory=set)
    enrollments: set[str] = field(default_factory=set)
    # enrollment → unit → recorded time of the last event that changed that unit's row
    units: dict[str, dict[str, datetime]] = field(default_factory=dict)
    removed_units: list[tuple[str, str]] = field(default_factory=list)

    def touch_unit(self, enrollment_id: str, unit_id: str, at: datetime) -> None:
        self.enrollments.add(enrollment_id)
        self.units.setdefault(enrollment_id, {})[unit_id] = at


COURSE_STRUCTURE_EVENTS = (
    Course.UnitAdded,
    Course.UnitRemoved,
    Course.ModuleAdded,
    Course.ModuleRemoved,
)


class Fold:
    def __init__(
        self,
        rule: Rule,
        courses: dict[str, CourseState],
        enrollments: dict[str, EnrollmentState],
    ) -> None:
        self.rule = rule
        self.courses = courses
        self.enrollments = enrollments
        self.changes = Changes()
        self._course_by_aggregate = {course_aggregate_id(c.course_id): c for c in courses.values()}
        self._by_course: dict[str, list[EnrollmentState]] = {}
        for enrollment in enrollments.values():
            self._by_course.setdefault(enrollment.course_id, []).append(enrollment)
        self._handlers: dict[type[Any], Callable[[Any, int], None]] = {
            Course.Created: self._course_created,
            Course.UnitAdded: self._structure_changed,
            Course.UnitRemoved: self._structure_changed,
            Course.ModuleAdded: self._structure_changed,
            Course.ModuleRemoved: self._structure_changed,
            Enrollment.Enrolled: self._enrolled,
            Enrollment.ModuleCompleted: self._module_completed,
            Enrollment.UnitCompleted: self._unit_completed,
            Enrollment.Withdrawn: self._withdrawn,
            Enrollment.Reenrolled: self._reenrolled,
        }

    def apply_all(self, events: Iterable[tuple[int, Any]]) -> Changes:
        for position, domain_event in events:
            handler = self._handlers.get(type(domain_event))
            if handler is not None:
                handler(domain_event, position)
        return self.changes

    def progress(self, enrollment: EnrollmentState) -> Progress:
        return self.rule(self.courses[enrollment.course_id].units, enrollment.completed_units)

    # Course events -----------------------------------------------------------

    def _course_created(self, created: Course.Created, position: int) -> None:
        course = CourseState(
            course_id=created.course_id,
            units=[Unit.from_spec(spec) for spec in created.units],
            updated_at=created.timestamp,
            position=position,
        )
        self.courses[course.course_id] = course
        self._course_by_aggregate[created.originator_id] = course
        self.changes.courses.add(created.course_id)

    def _structure_changed(self, change: Any, position: int) -> None:
        course = self._course_by_aggregate[change.originator_id]
        touched_unit = apply_structure_change(course, change)
        course.updated_at = change.timestamp
        course.position = position
        self.changes.courses.add(course.course_id)
        if isinstance(change, Course.UnitRemoved):
            self.changes.removed_units.append((course.course_id, change.unit_id))
        for enrollment in self._by_course.get(course.course_id, []):
            if touched_unit is not None:
                self.changes.touch_unit(enrollment.enrollment_id, touched_unit, change.timestamp)
            self.changes.enrollments.add(enrollment.enrollment_id)
            self._after_change(enrollment, change.timestamp, position)

    # Enrollment events -------------------------------------------------------

    def _enrolled(self, enrolled: Enrollment.Enrolled, position: int) -> None:
        enrollment = EnrollmentState(
            enrollment_id=str(enrolled.originator_id),
            learner_id=enrolled.learner_id,
            course_id=enrolled.course_id,
            enrolled_at=enrolled.timestamp,
            updated_at=enrolled.timestamp,
            position=position,
        )
        self.enrollments[enrollment.enrollment_id] = enrollment
        self._by_course.setdefault(enrollment.course_id, []).append(enrollment)
        for unit in self.courses[enrollment.course_id].units:
            self.changes.touch_unit(enrollment.enrollment_id, unit.unit_id, enrolled.timestamp)
        self._after_change(enrollment, enrolled.timestamp, position)

    def _module_completed(self, completed: Enrollment.ModuleCompleted, position: int) -> None:
        enrollment = self.enrollments[str(completed.originator_id)]
        enrollment.completed_modules.add(completed.module_id)
        self.changes.touch_unit(enrollment.enrollment_id, completed.unit_id, completed.timestamp)
        self._after_change(enrollment, completed.timestamp, position, rule_inputs_changed=False)

    def _unit_completed(self, completed: Enrollment.UnitCompleted, position: int) -> None:
        enrollment = self.enrollments[str(completed.originator_id)]
        enrollment.completed_units.setdefault(completed.unit_id, completed.occurred_at)
        self.changes.touch_unit(enrollment.enrollment_id, completed.unit_id, completed.timestamp)
        self._after_change(enrollment, completed.timestamp, position, completed.occurred_at)

    def _withdrawn(self, withdrawn: Enrollment.Withdrawn, position: int) -> None:
        enrollment = self.enrollments[str(withdrawn.originator_id)]
        enrollment.withdrawn = True
        self._after_change(enrollment, withdrawn.timestamp, position, rule_inputs_changed=False)

    def _reenrolled(self, reenrolled: Enrollment.Reenrolled, position: int) -> None:
        enrollment = self.enrollments[str(reenrolled.originator_id)]
        enrollment.withdrawn = False
        self._after_change(enrollment, reenrolled.timestamp, position, rule_inputs_changed=False)

    def _after_change(
        self,
        enrollment: EnrollmentState,
        recorded_at: datetime,
        position: int,
        occurred_at: datetime | None = None,
        *,
        rule_inputs_changed: bool = True,
    ) -> None:
        """completed_at is when the learner reached 100 %: the completion's own time, kept
        through rebuilds; a structure change that completes or reopens a course uses its
        recorded time. Rules read only the structure and the completed units, so events
        that change neither skip the rule (most events in a rebuild)."""
        self.changes.enrollments.add(enrollment.enrollment_id)
        enrollment.updated_at = recorded_at
        enrollment.position = position
        if not rule_inputs_changed:
            return
        if self.progress(enrollment).is_complete:
            if enrollment.completed_at is None:
                enrollment.completed_at = occurred_at or recorded_at
        else:
            enrollment.completed_at = None


def apply_structure_change(course: CourseState, change: Any) -> str | None:
    """Applies a structure event to the course; returns the unit whose rows it changes."""
    if isinstance(change, Course.UnitAdded):
        course.units.insert(change.index, Unit.from_spec(change.unit))
        return str(change.unit["unit_id"])
    if isinstance(change, Course.UnitRemoved):
        course.units = [u for u in course.units if u.unit_id != change.unit_id]
        return None
    if isinstance(change, Course.ModuleAdded):
        module = Module(**change.module)
        course.units = [
            _with_modules(u, [*u.modules[: change.index], module, *u.modules[change.index :]])
            if u.unit_id == change.unit_id
            else u
            for u in course.units
        ]
        return str(change.unit_id)
    if isinstance(change, Course.ModuleRemoved):
        course.units = [
            _with_modules(u, [m for m in u.modules if m.module_id != change.module_id])
            if u.unit_id == change.unit_id
            else u
            for u in course.units
        ]
        return str(change.unit_id)
    raise TypeError(f"not a course structure event: {type(change).__name__}")


def _with_modules(unit: Unit, modules: list[Module]) -> Unit:
    return Unit(unit.unit_id, unit.title, unit.required, unit.weight, tuple(modules))
