"""A deliberately naive model of progress, to hold the projection engine (and the ledger's
decisions) to.

It shares no code with projections/ (fold, rules, store) nor with the domain's aggregates:
each course's units and each enrollment's facts are plain dicts, events are applied one at
a time, and after every event every number is recomputed from scratch with exact fractions.
It is slow and obvious on purpose; the engine is fast and clever, and where they disagree
the engine is wrong or the semantics below are.

The semantics, as the model states them:
- a course is an ordered list of units, a unit an ordered list of modules; unit and module
  ids are unique within the course;
- completions are facts: a unit is done once a UnitCompleted names it (whatever later
  happens to its modules), and a module once a ModuleCompleted names it; a unit that is
  removed leaves both counts, and one that comes back under its old id counts as before;
- `units-v1` counts every unit, `required-units-v2` only the required ones, `weighted-v1`
  every unit but measures the percentage by weight; percentages have two decimals, halves
  rounded up, and nothing out of nothing is 0 %;
- an enrollment is complete when it has at least one counted unit and has done them all,
  or, under a course's completion threshold below 100, when its percentage (as shown, two
  decimals) reaches the threshold; `completed_at` is when it got there (a completion's own
  `occurred_at`, or the recorded time of the course change or revocation that got it
  there), kept while it stays complete;
- a revocation takes a completion back (a module's takes its unit's too); a reset empties
  both and counts one more attempt;
- `updated_at`/`position` are the recorded time and position of the last event that touched
  the enrollment (its own, or a change to its course's structure); a unit row's `updated_at`
  is that of the last event that touched that unit's row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from fractions import Fraction
from math import floor
from typing import Any

RULES = ("units-v1", "required-units-v2", "weighted-v1")

Row = dict[str, Any]


@dataclass(frozen=True)
class LoggedEvent:
    """One event as the log holds it: its class ("Enrollment.UnitCompleted"), the id of its
    stream, its position, and its fields (with `timestamp`, the recorded time)."""

    kind: str
    stream: str
    position: int
    fields: dict[str, Any]


# What a command should append: an event's kind and the fields the model can foresee.
Expected = tuple[str, dict[str, Any]]


class Refused(Exception):
    """The model's verdict that a command is refused, with the ledger error's class name."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


@dataclass
class OracleUnit:
    unit_id: str
    required: bool
    weight: Fraction
    modules: list[str]


@dataclass
class OracleEnrollment:
    enrollment_id: str
    learner_id: str
    course_id: str
    enrolled_at: datetime
    updated_at: datetime
    position: int
    units_done: dict[str, datetime] = field(default_factory=dict)
    modules_done: set[str] = field(default_factory=set)
    withdrawn: bool = False
    completed_at: dict[str, datetime | None] = field(default_factory=dict)  # by rule
    unit_updated_at: dict[str, datetime] = field(default_factory=dict)
    attempt: int = 1


def unit_of(spec: dict[str, Any]) -> OracleUnit:
    return OracleUnit(
        unit_id=spec["unit_id"],
        required=spec.get("required", True),
        weight=Fraction(str(spec.get("weight", 1.0))),  # the weight as written, not binary
        modules=[module["module_id"] for module in spec["modules"]],
    )


def hundredths(part: Fraction | int, whole: Fraction | int) -> float:
    """part / whole in percent, two decimals, halves rounded up; nothing of nothing is 0."""
    if whole == 0:
        return 0.0
    return floor(Fraction(part) * 10_000 / whole + Fraction(1, 2)) / 100


def numbers(
    rule: str, units: list[OracleUnit], done: dict[str, datetime]
) -> tuple[int, int, float]:
    """(completed units, total units, percentage) under a rule."""
    counted = [u for u in units if u.required or rule != "required-units-v2"]
    finished = [u for u in counted if u.unit_id in done]
    if rule == "weighted-v1":
        percentage = hundredths(sum(u.weight for u in finished), sum(u.weight for u in counted))
    else:
        percentage = hundredths(len(finished), len(counted))
    return len(finished), len(counted), percentage


def is_complete(
    rule: str, units: list[OracleUnit], done: dict[str, datetime], threshold: float = 100.0
) -> bool:
    counted = [u for u in units if u.required or rule != "required-units-v2"]
    if not counted:
        return False
    if all(u.unit_id in done for u in counted):
        return True
    return threshold < 100 and numbers(rule, units, done)[2] >= threshold


class Oracle:
    def __init__(self) -> None:
        self.courses: dict[str, list[OracleUnit]] = {}
        self.thresholds: dict[str, float] = {}
        self.course_of_stream: dict[str, str] = {}
        self.enrollments: dict[tuple[str, str], OracleEnrollment] = {}  # (course, learner)
        self.enrollment_of_stream: dict[str, tuple[str, str]] = {}

    # Events ------------------------------------------------------------------

    def apply_all(self, events: list[LoggedEvent]) -> Oracle:
        for event in events:
            self.apply(event)
        return self

    def apply(self, event: LoggedEvent) -> None:
        kind, fields, at = event.kind, event.fields, event.fields["timestamp"]
        if kind == "Course.Created":
            self.course_of_stream[event.stream] = fields["course_id"]
            self.courses[fields["course_id"]] = [unit_of(spec) for spec in fields["units"]]
            self.thresholds[fields["course_id"]] = fields["completion_threshold"]
            return
        if kind.startswith("Course."):
            course_id = self.course_of_stream[event.stream]
            if kind == "Course.ThresholdChanged":
                self.thresholds[course_id] = fields["completion_threshold"]
                touched_unit = None
            else:
                touched_unit = self._change_structure(self.courses[course_id], kind, fields)
            for enrollment in self.enrollments.values():
                if enrollment.course_id == course_id:
                    if touched_unit is not None:
                        enrollment.unit_updated_at[touched_unit] = at
                    self._touched(enrollment, event, reached_at=at)
            return
        if kind == "Enrollment.Enrolled":
            key = (fields["course_id"], fields["learner_id"])
            self.enrollment_of_stream[event.stream] = key
            self.enrollments[key] = OracleEnrollment(
                enrollment_id=event.stream,
                learner_id=fields["learner_id"],
                course_id=fields["course_id"],
                enrolled_at=at,
                updated_at=at,
                position=event.position,
                completed_at=dict.fromkeys(RULES),
                unit_updated_at={u.unit_id: at for u in self.courses[fields["course_id"]]},
            )
        enrollment = self.enrollments[self.enrollment_of_stream[event.stream]]
        reached_at = at
        if kind == "Enrollment.ModuleCompleted":
            enrollment.modules_done.add(fields["module_id"])
            for unit in self.courses[enrollment.course_id]:
                if fields["module_id"] in unit.modules:
                    enrollment.unit_updated_at[unit.unit_id] = at
        elif kind == "Enrollment.UnitCompleted":
            enrollment.units_done.setdefault(fields["unit_id"], fields["occurred_at"])
            enrollment.unit_updated_at[fields["unit_id"]] = at
            reached_at = fields["occurred_at"]
        elif kind == "Enrollment.ModuleCompletionRevoked":
            enrollment.modules_done.discard(fields["module_id"])
            enrollment.unit_updated_at[fields["unit_id"]] = at
        elif kind == "Enrollment.UnitCompletionRevoked":
            enrollment.units_done.pop(fields["unit_id"], None)
            enrollment.unit_updated_at[fields["unit_id"]] = at
        elif kind == "Enrollment.Reset":
            enrollment.attempt = fields["attempt"]
            enrollment.units_done, enrollment.modules_done = {}, set()
            for unit in self.courses[enrollment.course_id]:
                enrollment.unit_updated_at[unit.unit_id] = at
        elif kind == "Enrollment.Withdrawn":
            enrollment.withdrawn = True
        elif kind == "Enrollment.Reenrolled":
            enrollment.withdrawn = False
        self._touched(enrollment, event, reached_at)

    def _change_structure(
        self, units: list[OracleUnit], kind: str, fields: dict[str, Any]
    ) -> str | None:
        """Changes the course's units in place; returns the unit whose rows change."""
        if kind == "Course.UnitAdded":
            units.insert(fields["index"], unit_of(fields["unit"]))
            return str(fields["unit"]["unit_id"])
        by_id = {unit.unit_id: unit for unit in units}
        if kind == "Course.UnitRemoved":
            units.remove(by_id[fields["unit_id"]])
            return None
        if kind == "Course.UnitChanged":
            unit = by_id[fields["unit"]["unit_id"]]
            changed = unit_of(fields["unit"])
            unit.required, unit.weight = changed.required, changed.weight
            return unit.unit_id
        modules = by_id[fields["unit_id"]].modules
        if kind == "Course.ModuleAdded":
            modules.insert(fields["index"], fields["module"]["module_id"])
        elif kind == "Course.ModuleRemoved":
            modules.remove(fields["module_id"])
        else:
            raise ValueError(f"unknown course event {kind}")
        return str(fields["unit_id"])

    def _touched(self, enrollment: OracleEnrollment, event: LoggedEvent, reached_at: Any) -> None:
        enrollment.updated_at = event.fields["timestamp"]
        enrollment.position = event.position
        units = self.courses[enrollment.course_id]
        threshold = self.thresholds[enrollment.course_id]
        for rule in RULES:
            if not is_complete(rule, units, enrollment.units_done, threshold):
                enrollment.completed_at[rule] = None
            elif enrollment.completed_at[rule] is None:
                enrollment.completed_at[rule] = reached_at

    # Rows ----------------------------------------------------------------------

    def course_progress(self, rule: str) -> dict[str, Row]:
        """The course_progress rows under a rule, by enrollment id."""
        return {e.enrollment_id: self._course_row(e, rule) for e in self.enrollments.values()}

    def unit_progress(self) -> dict[tuple[str, str], Row]:
        """The unit_progress rows (the same under every rule), by (enrollment id, unit id)."""
        return {
            (e.enrollment_id, row["unit_id"]): row
            for e in self.enrollments.values()
            for row in self._unit_rows(e)
        }

    def learner_progress(self, course_id: str, learner_id: str, rule: str) -> tuple[Row, list[Row]]:
        """One learner's course_progress row under a rule, and its unit rows in course order."""
        enrollment = self.enrollments[course_id, learner_id]
        return self._course_row(enrollment, rule), self._unit_rows(enrollment)

    def _course_row(self, e: OracleEnrollment, rule: str) -> Row:
        completed, total, percentage = numbers(rule, self.courses[e.course_id], e.units_done)
        return {
            "enrollment_id": e.enrollment_id,
            "learner_id": e.learner_id,
            "course_id": e.course_id,
            "completed_units": completed,
            "total_units": total,
            "percentage": percentage,
            "completed_at": e.completed_at[rule],
            "updated_at": e.updated_at,
            "position": e.position,
            "rules": rule,
            "withdrawn": e.withdrawn,
            "enrolled_at": e.enrolled_at,
            "completed_unit_ids": dict(e.units_done),
            "completed_module_ids": sorted(e.modules_done),
            "attempt": e.attempt,
        }

    def _unit_rows(self, e: OracleEnrollment) -> list[Row]:
        rows = []
        for unit in self.courses[e.course_id]:
            done = unit.unit_id in e.units_done
            modules_done = len([m for m in unit.modules if m in e.modules_done])
            rows.append(
                {
                    "enrollment_id": e.enrollment_id,
                    "unit_id": unit.unit_id,
                    "learner_id": e.learner_id,
                    "course_id": e.course_id,
                    "required": unit.required,
                    "completed": done,
                    "completed_modules": modules_done,
                    "total_modules": len(unit.modules),
                    "percentage": 100.0 if done else hundredths(modules_done, len(unit.modules)),
                    "completed_at": e.units_done.get(unit.unit_id),
                    "updated_at": e.unit_updated_at[unit.unit_id],
                }
            )
        return rows

    # Commands: what the ledger should append, or why it refuses ------------------

    def create_course(self, course_id: str, units: list[dict[str, Any]]) -> list[Expected]:
        if course_id in self.courses:
            raise Refused("AlreadyExistsError")
        self._check_unique([], units)
        return [("Course.Created", {"course_id": course_id, "units": units})]

    def add_unit(self, course_id: str, unit: dict[str, Any], index: int | None) -> list[Expected]:
        units = self._course(course_id)
        self._check_unique(units, [unit])
        at = len(units) if index is None else max(0, min(index, len(units)))
        return [("Course.UnitAdded", {"unit": unit, "index": at})]

    def remove_unit(self, course_id: str, unit_id: str) -> list[Expected]:
        self._unit(course_id, unit_id)
        return [("Course.UnitRemoved", {"unit_id": unit_id})]

    def add_module(
        self, course_id: str, unit_id: str, module: dict[str, Any], index: int | None
    ) -> list[Expected]:
        modules = self._unit(course_id, unit_id).modules
        if any(module["module_id"] in u.modules for u in self.courses[course_id]):
            raise Refused("InvalidStructureError")
        at = len(modules) if index is None else max(0, min(index, len(modules)))
        return [("Course.ModuleAdded", {"unit_id": unit_id, "module": module, "index": at})]

    def remove_module(self, course_id: str, unit_id: str, module_id: str) -> list[Expected]:
        if module_id not in self._unit(course_id, unit_id).modules:
            raise Refused("NotFoundError")
        return [("Course.ModuleRemoved", {"unit_id": unit_id, "module_id": module_id})]

    def enroll(self, learner_id: str, course_id: str) -> list[Expected]:
        self._course(course_id)
        enrollment = self.enrollments.get((course_id, learner_id))
        if enrollment is None:
            return [("Enrollment.Enrolled", {"learner_id": learner_id, "course_id": course_id})]
        return [("Enrollment.Reenrolled", {})] if enrollment.withdrawn else []

    def complete_module(
        self, learner_id: str, course_id: str, module_id: str, occurred_at: datetime
    ) -> list[Expected]:
        enrollment = self._enrollment(course_id, learner_id)
        units = [u for u in self.courses[course_id] if module_id in u.modules]
        if not units:
            raise Refused("NotFoundError")
        if enrollment.withdrawn:
            raise Refused("EnrollmentWithdrawnError")
        unit, appended = units[0], []
        if module_id not in enrollment.modules_done:
            fields = {"module_id": module_id, "unit_id": unit.unit_id, "occurred_at": occurred_at}
            appended.append(("Enrollment.ModuleCompleted", fields))
        done = enrollment.modules_done | {module_id}
        if unit.unit_id not in enrollment.units_done and all(m in done for m in unit.modules):
            fields = {"unit_id": unit.unit_id, "occurred_at": occurred_at}
            appended.append(("Enrollment.UnitCompleted", fields))
        return appended

    def complete_unit(
        self, learner_id: str, course_id: str, unit_id: str, occurred_at: datetime
    ) -> list[Expected]:
        enrollment = self._enrollment(course_id, learner_id)
        self._unit(course_id, unit_id)
        if enrollment.withdrawn:
            raise Refused("EnrollmentWithdrawnError")
        if unit_id in enrollment.units_done:
            return []
        return [("Enrollment.UnitCompleted", {"unit_id": unit_id, "occurred_at": occurred_at})]

    def revoke_unit(self, learner_id: str, course_id: str, unit_id: str) -> list[Expected]:
        enrollment = self._enrollment(course_id, learner_id)
        self._unit(course_id, unit_id)
        if enrollment.withdrawn:
            raise Refused("EnrollmentWithdrawnError")
        if unit_id not in enrollment.units_done:
            return []
        return [("Enrollment.UnitCompletionRevoked", {"unit_id": unit_id})]

    def revoke_module(self, learner_id: str, course_id: str, module_id: str) -> list[Expected]:
        enrollment = self._enrollment(course_id, learner_id)
        units = [u for u in self.courses[course_id] if module_id in u.modules]
        if not units:
            raise Refused("NotFoundError")
        if enrollment.withdrawn:
            raise Refused("EnrollmentWithdrawnError")
        if module_id not in enrollment.modules_done:
            return []
        unit_id = units[0].unit_id
        revoked = [("Enrollment.ModuleCompletionRevoked", {"module_id": module_id})]
        if unit_id in enrollment.units_done:
            revoked.append(("Enrollment.UnitCompletionRevoked", {"unit_id": unit_id}))
        return revoked

    def reset(self, learner_id: str, course_id: str) -> list[Expected]:
        enrollment = self._enrollment(course_id, learner_id)
        if enrollment.withdrawn:
            raise Refused("EnrollmentWithdrawnError")
        return [("Enrollment.Reset", {"attempt": enrollment.attempt + 1})]

    def change_threshold(self, course_id: str, threshold: float) -> list[Expected]:
        self._course(course_id)
        if threshold == self.thresholds[course_id]:
            return []
        return [("Course.ThresholdChanged", {"completion_threshold": threshold})]

    def change_unit(
        self, course_id: str, unit_id: str, required: bool | None, weight: float | None
    ) -> list[Expected]:
        unit = self._unit(course_id, unit_id)
        same_required = required is None or required == unit.required
        same_weight = weight is None or Fraction(str(weight)) == unit.weight
        return [] if same_required and same_weight else [("Course.UnitChanged", {})]

    def withdraw(self, learner_id: str, course_id: str, occurred_at: datetime) -> list[Expected]:
        if self._enrollment(course_id, learner_id).withdrawn:
            return []
        return [("Enrollment.Withdrawn", {"occurred_at": occurred_at})]

    def _course(self, course_id: str) -> list[OracleUnit]:
        if course_id not in self.courses:
            raise Refused("NotFoundError")
        return self.courses[course_id]

    def _unit(self, course_id: str, unit_id: str) -> OracleUnit:
        for unit in self._course(course_id):
            if unit.unit_id == unit_id:
                return unit
        raise Refused("NotFoundError")

    def _enrollment(self, course_id: str, learner_id: str) -> OracleEnrollment:
        enrollment = self.enrollments.get((course_id, learner_id))
        if enrollment is None:
            raise Refused("NotFoundError")
        return enrollment

    def _check_unique(self, existing: list[OracleUnit], added: list[dict[str, Any]]) -> None:
        unit_ids = [u.unit_id for u in existing] + [spec["unit_id"] for spec in added]
        module_ids = [m for u in existing for m in u.modules] + [
            module["module_id"] for spec in added for module in spec["modules"]
        ]
        if len(set(unit_ids)) < len(unit_ids) or len(set(module_ids)) < len(module_ids):
            raise Refused("InvalidStructureError")
