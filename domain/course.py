"""The Course aggregate: an ordered tree Course → Unit → Module."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any, NotRequired, TypedDict
from uuid import UUID

from eventsourcing.domain import Aggregate, event

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
    version: NotRequired[int]


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


class Course(Aggregate):
    """A course's structure; every change to it is an event the projections replay."""

    # Version 2 unit specs carry `required` and `weight`; version 1 specs, stored before the
    # rules needed them, are upcast on load with the values every unit then had.
    class Created(Aggregate.Created):
        course_id: str
        title: str
        units: list[UnitSpec]

        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            for unit in state["units"]:
                upcast_unit_v1_v2(unit)

    class UnitAdded(Aggregate.Event):
        unit: UnitSpec
        index: int

        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            upcast_unit_v1_v2(state["unit"])

    class UnitRemoved(Aggregate.Event):
        unit_id: str

    class ModuleAdded(Aggregate.Event):
        unit_id: str
        module: ModuleSpec
        index: int

    class ModuleRemoved(Aggregate.Event):
        unit_id: str
        module_id: str

    @staticmethod
    def create_id(course_id: str, **_: Any) -> UUID:
        return course_aggregate_id(course_id)

    @event(Created)
    def __init__(self, course_id: str, title: str, units: list[UnitSpec]) -> None:
        self.course_id = course_id
        self.title = title
        self.units: list[Unit] = [Unit.from_spec(spec) for spec in units]

    @classmethod
    def create(cls, course_id: str, title: str, units: list[Unit]) -> Course:
        check_unique_ids(units)
        return cls(course_id=course_id, title=title, units=[unit.as_spec() for unit in units])

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
            "version": self.version,
        }
