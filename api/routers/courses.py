"""Course structure: Course → Unit → Module."""

from __future__ import annotations

from fastapi import APIRouter, status

from api.dependencies import CourseId, ModuleId, Services, UnitId
from api.schemas import CourseChanged, CourseIn, CourseOut, ModuleAddIn, UnitAddIn, UnitIn
from domain.commands import (
    ChangeCourse,
    CreateCourse,
    adding_module,
    adding_unit,
    removing_module,
    removing_unit,
)
from domain.course import Course, Module, Unit
from ledger.application import Recorded

router = APIRouter(prefix="/v1/courses", tags=["courses"])


def to_unit(unit: UnitIn) -> Unit:
    return Unit(
        unit_id=unit.unit_id,
        title=unit.title,
        required=unit.required,
        weight=unit.weight,
        modules=tuple(Module(m.module_id, m.title) for m in unit.modules),
    )


def changed(course_id: str, recorded: Recorded) -> CourseChanged:
    return CourseChanged(course_id=course_id, version=recorded.version, position=recorded.position)


def course_out(course: Course) -> CourseOut:
    return CourseOut.model_validate(course.as_spec())


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_course(body: CourseIn, services: Services) -> CourseChanged:
    """Create a course with its units and modules."""
    units = [to_unit(unit) for unit in body.units]
    recorded = await services.ledger.decide(CreateCourse(body.course_id, body.title, units))
    return changed(body.course_id, recorded)


@router.get("/{course_id}")
def get_course(course_id: CourseId, services: Services) -> CourseOut:
    """The course's current structure."""
    return course_out(services.ledger.get_course(course_id))


@router.post("/{course_id}/units", status_code=status.HTTP_201_CREATED)
async def add_unit(course_id: CourseId, body: UnitAddIn, services: Services) -> CourseChanged:
    """Add a unit, at the end or at `position`; every enrolled learner's total changes."""
    change = adding_unit(to_unit(body), body.position)
    return changed(course_id, await services.ledger.decide(ChangeCourse(course_id, change)))


@router.delete("/{course_id}/units/{unit_id}")
async def remove_unit(course_id: CourseId, unit_id: UnitId, services: Services) -> CourseChanged:
    """Remove a unit; it leaves both the completed and the total counts."""
    change = removing_unit(unit_id)
    return changed(course_id, await services.ledger.decide(ChangeCourse(course_id, change)))


@router.post("/{course_id}/units/{unit_id}/modules", status_code=status.HTTP_201_CREATED)
async def add_module(
    course_id: CourseId, unit_id: UnitId, body: ModuleAddIn, services: Services
) -> CourseChanged:
    """Add a module to a unit."""
    change = adding_module(unit_id, Module(body.module_id, body.title), body.position)
    return changed(course_id, await services.ledger.decide(ChangeCourse(course_id, change)))


@router.delete("/{course_id}/units/{unit_id}/modules/{module_id}")
async def remove_module(
    course_id: CourseId, unit_id: UnitId, module_id: ModuleId, services: Services
) -> CourseChanged:
    """Remove a module from a unit."""
    change = removing_module(unit_id, module_id)
    return changed(course_id, await services.ledger.decide(ChangeCourse(course_id, change)))
