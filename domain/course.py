"""The Course aggregate: an ordered tree Course → Unit → Module."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any, NotRequired, TypedDict
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.acting import ActedFields, upcast_acting
from domain.errors import InvalidStructureError, NotFoundError
from domain.identifiers import course_aggregate_id


class ModuleSpec(TypedDict):
    module_id: str
    title: str


class UnitSpec(TypedDict):
    unit_id: str
    title: str
    required: bool
    weight: float
    modules: list[ModuleSpec]


class CourseSpec(TypedDict):
    course_id: str
    title: str
    units: list[UnitSpec]
    completion_threshold: float
    version: NotRequired[int]


# A course is complete for a learner when their percentage reaches its threshold.
DEFAULT_THRESHOLD = 100.0


def check_threshold(threshold: float) -> float:
    if not 0 < threshold <= 100:
        raise InvalidStructureError(
            f"completion_threshold must be above 0 and at most 100, not {threshold}",
            field="completion_threshold",
        )
    return float(threshold)


@dataclass(frozen=True)
class Module:
    module_id: str
    title: str = ""

    def as_spec(self) -> ModuleSpec:
        return {"module_id": self.module_id, "title": self.title}

    def __deepcopy__(self, memo: dict[int, Any]) -> Module:
        return self  # immutable: a cached course is copied for each command, cheaply


@dataclass(frozen=True)
class Unit:
    unit_id: str
    title: str = ""
    required: bool = True
    weight: float = 1.0
    modules: tuple[Module, ...] = ()

    @classmethod
    def from_spec(cls, spec: UnitSpec) -> Unit:
        return cls(
            unit_id=spec["unit_id"],
            title=spec["title"],
            required=spec["required"],
            weight=spec["weight"],
            modules=tuple(Module(**module) for module in spec["modules"]),
        )

    def as_spec(self) -> UnitSpec:
        return {
            "unit_id": self.unit_id,
            "title": self.title,
            "required": self.required,
            "weight": self.weight,
            "modules": [module.as_spec() for module in self.modules],
        }

    def __deepcopy__(self, memo: dict[int, Any]) -> Unit:
        return self  # immutable, like Module

    @cached_property
    def module_ids(self) -> tuple[str, ...]:
        return tuple(module.module_id for module in self.modules)


def check_unique_ids(
    units: Sequence[Unit],
    *,
    existing: Sequence[Unit] = (),
    field_prefix: Callable[[int], str] = lambda index: f"units[{index}].",
) -> None:
    """Unit ids and module ids are unique within a course, so a module id names its unit.

    `units` are checked against each other and against the course's `existing` units; a
    duplicate is named by its place in the request (`field_prefix` of its index).
    """
    seen_units = {unit.unit_id for unit in existing}
    seen_modules = {module_id for unit in existing for module_id in unit.module_ids}
    for index, unit in enumerate(units):
        prefix = field_prefix(index)
        if unit.unit_id in seen_units:
            raise InvalidStructureError(
                f"unit_id {unit.unit_id!r} appears twice in the course",
                field=f"{prefix}unit_id",
            )
        seen_units.add(unit.unit_id)
        for module_index, module in enumerate(unit.modules):
            if module.module_id in seen_modules:
                raise InvalidStructureError(
                    f"module_id {module.module_id!r} appears twice in the course",
                    field=f"{prefix}modules[{module_index}].module_id",
                )
            seen_modules.add(module.module_id)


def upcast_unit_v1_v2(unit: dict[str, Any]) -> None:
    unit.setdefault("required", True)
    unit.setdefault("weight", 1.0)


def upcast_created_v2_v3(state: dict[str, Any]) -> None:
    state.setdefault("completion_threshold", DEFAULT_THRESHOLD)
    upcast_acting(state)


class Course(Aggregate):
    """A course's structure; every change to it is an event the projections replay."""

    # Version 2 unit specs carry `required` and `weight`; version 1 specs, stored before the
    # rules needed them, are upcast on load with the values every unit then had. Version 3
    # events carry who acted (domain/acting.py), and a course its completion threshold.
    class Created(ActedFields, Aggregate.Created):
        course_id: str
        title: str
        units: list[UnitSpec]
        completion_threshold: float

        class_version = 3
        upcast_v2_v3 = staticmethod(upcast_created_v2_v3)

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            for unit in state["units"]:
                upcast_unit_v1_v2(unit)

    class UnitAdded(ActedFields, Aggregate.Event):
        unit: UnitSpec
        index: int

        class_version = 3
        upcast_v2_v3 = staticmethod(upcast_acting)

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            upcast_unit_v1_v2(state["unit"])

    class UnitRemoved(ActedFields, Aggregate.Event):
        unit_id: str

        class_version = 2
        upcast_v1_v2 = staticmethod(upcast_acting)

    class ModuleAdded(ActedFields, Aggregate.Event):
        unit_id: str
        module: ModuleSpec
        index: int

        class_version = 2
        upcast_v1_v2 = staticmethod(upcast_acting)

    class ModuleRemoved(ActedFields, Aggregate.Event):
        unit_id: str
        module_id: str

        class_version = 2
        upcast_v1_v2 = staticmethod(upcast_acting)

    class UnitChanged(ActedFields, Aggregate.Event):
        """A unit's title, `required` or `weight` changed (its modules and place stay)."""

        unit: UnitSpec

    class ThresholdChanged(ActedFields, Aggregate.Event):
        completion_threshold: float

    @staticmethod
    def create_id(course_id: str, **_: Any) -> UUID:
        return course_aggregate_id(course_id)

    @event(Created)
    def __init__(
        self, course_id: str, title: str, units: list[UnitSpec], completion_threshold: float
    ) -> None:
        self.course_id = course_id
        self.title = title
        self.units: list[Unit] = [Unit.from_spec(spec) for spec in units]
        self.completion_threshold = completion_threshold

    @classmethod
    def create(
        cls,
        course_id: str,
        title: str,
        units: list[Unit],
        completion_threshold: float = DEFAULT_THRESHOLD,
    ) -> Course:
        check_unique_ids(units)
        return cls(
            course_id=course_id,
            title=title,
            units=[unit.as_spec() for unit in units],
            completion_threshold=check_threshold(completion_threshold),
        )

    def find_unit(self, unit_id: str) -> Unit:
        for unit in self.units:
            if unit.unit_id == unit_id:
                return unit
        raise NotFoundError(f"course {self.course_id!r} has no unit {unit_id!r}", field="unit_id")

    def unit_of_module(self, module_id: str) -> Unit:
        for unit in self.units:
            if module_id in unit.module_ids:
                return unit
        raise NotFoundError(
            f"course {self.course_id!r} has no module {module_id!r}", field="module_id"
        )

    def add_unit(self, unit: Unit, index: int | None = None) -> None:
        check_unique_ids([unit], existing=self.units, field_prefix=lambda _: "")
        position = len(self.units) if index is None else max(0, min(index, len(self.units)))
        self._add_unit(unit=unit.as_spec(), index=position)

    @event(UnitAdded)
    def _add_unit(self, unit: UnitSpec, index: int) -> None:
        self.units.insert(index, Unit.from_spec(unit))

    def remove_unit(self, unit_id: str) -> None:
        self.find_unit(unit_id)
        self._remove_unit(unit_id=unit_id)

    @event(UnitRemoved)
    def _remove_unit(self, unit_id: str) -> None:
        self.units = [unit for unit in self.units if unit.unit_id != unit_id]

    def add_module(self, unit_id: str, module: Module, index: int | None = None) -> None:
        unit = self.find_unit(unit_id)
        if module.module_id in {m for u in self.units for m in u.module_ids}:
            raise InvalidStructureError(
                f"module_id {module.module_id!r} appears twice in the course", field="module_id"
            )
        count = len(unit.modules)
        position = count if index is None else max(0, min(index, count))
        self._add_module(unit_id=unit_id, module=module.as_spec(), index=position)

    @event(ModuleAdded)
    def _add_module(self, unit_id: str, module: ModuleSpec, index: int) -> None:
        new_module = Module(**module)
        self._replace_modules(
            unit_id, lambda modules: [*modules[:index], new_module, *modules[index:]]
        )

    def remove_module(self, unit_id: str, module_id: str) -> None:
        if module_id not in self.find_unit(unit_id).module_ids:
            raise NotFoundError(f"unit {unit_id!r} has no module {module_id!r}", field="module_id")
        self._remove_module(unit_id=unit_id, module_id=module_id)

    @event(ModuleRemoved)
    def _remove_module(self, unit_id: str, module_id: str) -> None:
        self._replace_modules(
            unit_id, lambda modules: [m for m in modules if m.module_id != module_id]
        )

    def change_unit(
        self,
        unit_id: str,
        *,
        title: str | None = None,
        required: bool | None = None,
        weight: float | None = None,
    ) -> None:
        """Changes what is given; a change to nothing new appends nothing."""
        unit = self.find_unit(unit_id)
        changed = replace(
            unit,
            title=unit.title if title is None else title,
            required=unit.required if required is None else required,
            weight=unit.weight if weight is None else weight,
        )
        if changed != unit:
            self._change_unit(unit=changed.as_spec())

    @event(UnitChanged)
    def _change_unit(self, unit: UnitSpec) -> None:
        changed = Unit.from_spec(unit)
        self.units = [changed if u.unit_id == changed.unit_id else u for u in self.units]

    def change_threshold(self, completion_threshold: float) -> None:
        threshold = check_threshold(completion_threshold)
        if threshold != self.completion_threshold:
            self._change_threshold(completion_threshold=threshold)

    @event(ThresholdChanged)
    def _change_threshold(self, completion_threshold: float) -> None:
        self.completion_threshold = completion_threshold

    def _replace_modules(
        self, unit_id: str, change: Callable[[list[Module]], list[Module]]
    ) -> None:
        self.units = [
            replace(unit, modules=tuple(change(list(unit.modules))))
            if unit.unit_id == unit_id
            else unit
            for unit in self.units
        ]

    def as_spec(self) -> CourseSpec:
        return {
            "course_id": self.course_id,
            "title": self.title,
            "units": [unit.as_spec() for unit in self.units],
            "completion_threshold": self.completion_threshold,
            "version": self.version,
        }
